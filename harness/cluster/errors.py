"""The one error a cluster raises; each implementation's errors are kinds of it."""


class ClusterError(RuntimeError):
    """The cluster could not be brought up, reached or faulted; the message says which part."""
