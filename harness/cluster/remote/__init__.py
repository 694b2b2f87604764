"""A cluster of one's own hosts, from an inventory, reached over SSH: the second
implementation of the cluster seam (the embedded lab is the first)."""
