"""Warm starts made once, at setup: a throwaway lab per session store is started and
stopped, so the class archive (class_archive.py) and the compiled JSPs (compiled_jsps.py)
of that store and profile are kept before the operator's first bench (the nodes' readings
listener and Redis's config listener are compiled on the way: readings.py,
redisson_config.py), and JvmProbe, the lab's JMX client for an
operation (a reload, a GC), is compiled. Without them a first lab up with Redis took
~6.6 s; with them ~3 s (numbers in docs/commands.md).

A store already warm is skipped without starting anything, so setup stays quick to run
again. The throwaway labs run in a temporary folder, on their own loopback addresses."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.cluster import jvm
from harness.cluster.lab.lab import Lab, starts_kept
from harness.cluster.lab.topology import Topology
from harness.config.profile import Profile

log = logging.getLogger(__name__)

# One per set of manager jars a lab loads (memcached-nonsticky loads sticky's jars).
STORES = ("none", "redis", "memcached-sticky")
WARM_NET = "127.0.250"


def warm_starts(
    profile: Profile,
    *,
    stores: Sequence[str] = STORES,
    net: str = WARM_NET,
    progress: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Start and stop a lab for each store not warm yet; the stores warmed."""
    jvm.compile_probe()  # kept per source text: nothing to do the second time
    warmed = []
    for store in stores:
        if starts_kept(Topology(net=net, run_dir=Path("/nonexistent")), profile, store):
            continue
        progress(f"a lab with {store}, started once and stopped")
        with tempfile.TemporaryDirectory(prefix="tomcat-bench-warm-") as folder:
            lab = Lab(Topology(net=net, run_dir=Path(folder)))
            try:
                lab.up(profile, balancer_name="nginx-rr", sessions=store)
            finally:
                lab.down()
        warmed.append(store)
    return warmed
