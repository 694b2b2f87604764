"""A multi-host test cluster of Linux network namespaces (see netns.py and cluster.py)."""
