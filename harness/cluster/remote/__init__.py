"""A cluster of one's own hosts, from an inventory, reached over SSH: the second
implementation of the cluster seam (the embedded lab is the first)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from harness.cluster.remote.cluster import InventorySpec


def is_inventory(spec: object) -> TypeGuard[InventorySpec]:
    """Whether spec is one's own cluster, from an inventory. Its class's module is loaded
    whenever one exists, so a lab's commands need not import the SSH side (asyncssh and
    cryptography: 0.2 s of every lab bench's start) to tell."""
    remote = sys.modules.get("harness.cluster.remote.cluster")
    return remote is not None and isinstance(spec, remote.InventorySpec)
