"""What a run costs the lab beyond CPU: bytes on the wire between its parts, counted by
nftables, and the heap its sessions take on each node, read after a forced GC. Both are
companions of a bench's load (started with it, read when it ends); the scale study reads
them to see how each cost grows with the number of nodes."""

from __future__ import annotations

import contextlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster import jvm
from harness.cluster.endpoints import get_json
from harness.cluster.lab.jvms import lab_targets
from harness.cluster.lab.l4hash import NftError, _nft
from harness.cluster.lab.lab import Lab
from harness.cluster.lab.topology import CLUSTER_PORT, MEMCACHED_PORT

log = logging.getLogger(__name__)

# What is counted: each a TCP port on the lab's addresses, both directions.
PORTS = {"cluster": CLUSTER_PORT, "redis": 6379, "memcached": MEMCACHED_PORT}


def meter_table(net: str) -> str:
    return "tomcat_bench_meter_" + net.replace(".", "_")


def meter_rules(table: str, net: str, ports: dict[str, int]) -> str:
    """An nft script: one named counter per port, fed by packets to and from it on the
    lab's addresses. Loopback packets pass the output hook once each."""
    lines = [f"table ip {table} {{"]
    lines += [f"    counter {name} {{ }}" for name in ports]
    lines.append("    chain count {")
    lines.append("        type filter hook output priority 0; policy accept;")
    for name, port in ports.items():
        # One side only: a client's source on loopback is 127.0.0.1 unless it binds.
        lines.append(f'        ip daddr {net}.0/24 tcp dport {port} counter name "{name}"')
        lines.append(f'        ip saddr {net}.0/24 tcp sport {port} counter name "{name}"')
    lines += ["    }", "}"]
    return "\n".join(lines) + "\n"


def parse_counters(text: str) -> dict[str, int]:
    """`nft -j list counters table ...` -> bytes per counter name."""
    out: dict[str, int] = {}
    for item in json.loads(text).get("nftables", []):
        counter = item.get("counter")
        if counter:
            out[counter["name"]] = int(counter["bytes"])
    return out


@dataclass
class ByteMeter:
    """IP bytes (headers included) between the lab's parts on the counted ports, from the
    load's start to its end; the table is removed at the end whatever happened."""

    net: str
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    bytes: dict[str, int] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return meter_table(self.net)

    def before_load(self) -> None:
        self.remove()
        _nft("-f", "-", stdin=meter_rules(self.table, self.net, self.ports))

    def start(self, start_epoch: float) -> None:
        return None  # counting since before_load: the load's first connections included

    def stop(self) -> list[dict[str, Any]]:
        try:
            self.bytes = parse_counters(_nft("-j", "list", "counters", "table", "ip", self.table))
        finally:
            self.remove()
        return []

    def figures(self) -> dict[str, Any]:
        return {"bytes": dict(self.bytes)}

    def discard(self) -> None:
        self.remove()  # a Ctrl-C before the load left the table in place

    def remove(self) -> None:
        with contextlib.suppress(NftError):  # not there
            _nft("delete", "table", "ip", self.table)


def heap_used_bytes(pid: int, address: str, secrets_dir: Path) -> int:
    """The JVM's heap in use right after a full GC (jstat's used columns, in KB)."""
    jvm.gc_run(pid, address, secrets_dir)
    columns = jvm.jstat_gc(pid)
    return int(1024 * sum(columns.get(c, 0.0) for c in ("S0U", "S1U", "EU", "OU")))


@dataclass
class SessionHeap:
    """Each node's heap after a forced GC when the load starts and when it ends: the
    difference is what the run's sessions hold there (a node gone by then is left out)."""

    lab: Lab
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)

    def _read(self) -> dict[str, int]:
        """Every running node's, side by side (a round trip to the probe server each, and
        the JVM's counters file)."""
        running = set(self.lab.running())
        targets = {n: t for n, t in lab_targets(self.lab).items() if n in running}
        addresses = {node.name: node.address for node in self.lab.topology.nodes}
        secrets = self.lab.jmx_secrets_dir
        out = {}
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                name: pool.submit(heap_used_bytes, target.pid, addresses[name], secrets)
                for name, target in targets.items()
            }
            for name, future in futures.items():
                try:
                    out[name] = future.result()
                except jvm.JvmReadError as error:
                    log.warning("%s: heap not read: %s", name, error)
        return out

    def before_load(self) -> None:
        # Each node's first requests compile its JSPs and fill its caches: done before
        # the baseline, so the difference is the sessions' (one small session per node).
        for node in self.lab.topology.nodes:
            for page in ("health.jsp", "session.jsp"):
                with contextlib.suppress(OSError, ValueError):
                    get_json(f"{node.url}/{page}", timeout=10)
        self.before = self._read()

    def start(self, start_epoch: float) -> None:
        return None  # read before the load: no session existed yet

    def stop(self) -> list[dict[str, Any]]:
        self.after = self._read()
        return []

    def discard(self) -> None:
        return None  # it set nothing up

    def figures(self) -> dict[str, Any]:
        """Per node alive at both ends: heap after minus heap before."""
        heap = {n: self.after[n] - self.before[n] for n in self.after if n in self.before}
        return {"session_heap_bytes": heap}
