"""CPU and memory of one's own cluster's parts, read from each host's own /proc over SSH.

Every second, for each node, store and the balancer, one command on its host sums the
CPU ticks and resident memory of the part's processes (found by their command lines, so a
restarted node is found again). The rows have the local sampler's form (t_s, part, cores,
rss bytes), so the summary, telemetry.csv and the report treat them alike.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.cluster.remote.hosts import Host, HostError
from harness.config.inventory import Inventory, InventoryBalancer, InventoryNode, Part

log = logging.getLogger(__name__)

SAMPLE_S = 1.0
Row = tuple[float, str, float, int]

# Sums utime + stime (ticks) and RSS (pages) of the processes whose command line matches
# $1; prints "ticks pages ticks_per_second page_size". Fields counted after the ")" that
# ends the process name: utime and stime are the 12th and 13th, rss the 22nd.
_SCRIPT = (
    't=0; r=0; for p in $(pgrep -f -- "$1"); do '
    'set -- "$1" $(cut -d")" -f2 /proc/$p/stat 2>/dev/null) || continue; '
    "[ $# -ge 23 ] || continue; t=$((t + ${13} + ${14})); r=$((r + ${23})); done; "
    "echo $t $r $(getconf CLK_TCK) $(getconf PAGESIZE)"
)


@dataclass(frozen=True)
class Usage:
    cpu_s: float
    rss_bytes: int


def usage(host: Host, pattern: str) -> Usage | None:
    """CPU seconds so far and memory now of the processes matching pattern (None: none)."""
    done = host.run(["sh", "-c", _SCRIPT, "usage", pattern])
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 4 or not all(f.isdigit() for f in fields):
        return None
    ticks, pages, per_second, page_size = (int(f) for f in fields)
    if pages == 0:
        return None
    return Usage(ticks / per_second, pages * page_size)


def pattern(part: Part, inventory: Inventory) -> str:
    """A pgrep -f pattern for the part's processes that never matches the shell running
    pgrep with it (its first character is a bracket expression or an anchor)."""
    if isinstance(part, InventoryNode):
        return "[-]Dcatalina\\.base=" + re.escape(str(part.base)) + "( |$)"
    if isinstance(part, InventoryBalancer):
        return {"nginx": "^nginx: ", "haproxy": "^[^ ]*haproxy "}.get(part.kind, "^keepalived")
    kind = next(s.kind for s in inventory.stores if s.name == part.name)
    return "^[^ ]*redis-server " if kind == "redis" else "^[^ ]*memcached "


class RemoteSampler:
    """The companion: samples every part while the load runs."""

    def __init__(self, inventory: Inventory, host: Callable[[Part], Host]) -> None:
        self.inventory, self._host = inventory, host
        self.rows: list[Row] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: dict[str, tuple[float, float]] = {}  # part -> (cpu_s, monotonic)

    def _parts(self) -> list[Part]:
        return [*self.inventory.balancers, *self.inventory.nodes, *self.inventory.stores]

    def start(self, start_epoch: float) -> None:
        """Samples from now until stop(); each start begins new rows (a capacity step)."""
        self.rows, self._previous, self._stop = [], {}, threading.Event()

        def sample() -> None:
            # At a fixed rate, not a second after each reading ended: a reading over SSH
            # takes a good part of a second itself.
            due = time.monotonic()
            while True:
                due += SAMPLE_S
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                self._tick(round(time.time() - start_epoch, 3))
                due = max(due, time.monotonic() - SAMPLE_S)  # behind: skip, do not bunch

        self._thread = threading.Thread(target=sample, name="remote-telemetry", daemon=True)
        self._thread.start()

    def _read(self, part: Part) -> tuple[Usage | None, float]:
        """The part's usage (None: no process, or no answer) and when it was read."""
        try:
            seen = usage(self._host(part), pattern(part, self.inventory))
        except HostError as error:
            log.debug("%s: no reading: %s", part.name, error)
            seen = None
        return seen, time.monotonic()

    def _tick(self, t_s: float) -> None:
        # Every part at once, each on its own connection: one after another, a second's
        # readings took about 0.4 s per part over SSH.
        parts = self._parts()
        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="usage") as pool:
            readings = list(pool.map(self._read, parts))
        for part, (seen, now) in zip(parts, readings, strict=True):
            name = part.name
            if seen is None:
                self._previous.pop(name, None)  # gone (a fault): its absence is the signal
                continue
            before = self._previous.get(name)
            self._previous[name] = (seen.cpu_s, now)
            if before is None or seen.cpu_s < before[0]:
                continue  # the first reading, or a new process (restarted): a baseline
            cores = (seen.cpu_s - before[0]) / max(now - before[1], 1e-3)
            self.rows.append((t_s, name, round(cores, 3), seen.rss_bytes))

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return []
