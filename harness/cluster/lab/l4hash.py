"""L4 source hash (the LVS `-s sh` case) with nftables, and the harness as its health checker.

This kernel has no IPVS, so the director is an nftables `jhash ip saddr` DNAT rule
on loopback with a named map of backends. Like `ipvsadm -s sh` without keepalived,
it checks nothing itself: `Director` polls the nodes and swaps a dead node's map
element for a live one in one atomic nft transaction, recording when it did.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import commands
from harness.cluster.endpoints import Endpoint, is_listening
from harness.cluster.lab import ipvs
from harness.cluster.lab.render import render_to
from harness.cluster.lab.topology import NodeSpec
from harness.periodic import Periodic

log = logging.getLogger(__name__)

NFT = commands.path_of("nft") or "/usr/sbin/nft"
SEED = "0x5eed"


class NftError(RuntimeError):
    pass


def table_name(net: str) -> str:
    return "tomcat_bench_" + net.replace(".", "_")


def _nft(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run([NFT, *args], input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NftError(f"nft {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def install(directory: Path, table: str, listen: Endpoint, nodes: list[NodeSpec]) -> Path:
    """Render and load the table; a table of the same name left behind is replaced."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "l4hash.nft"
    render_to(
        config, "l4hash.nft.j2", table=table, address=listen.address, port=listen.port,
        nodes=nodes, seed=SEED,
    )  # fmt: skip
    remove(table)
    _nft("-f", str(config))
    return config


def version() -> str:
    try:
        return _nft("--version").split()[1].lstrip("v")
    except (NftError, IndexError):
        return "unknown"


def exists(table: str) -> bool:
    try:
        _nft("list", "table", "ip", table)
    except NftError:
        return False
    return True


def remove(table: str) -> bool:
    if not exists(table):
        return False
    _nft("delete", "table", "ip", table)
    return True


def route(table: str, index: int, address: str) -> None:
    """Point hash bucket `index` at `address`, atomically (delete and add in one transaction)."""
    _nft(
        "-f",
        "-",
        stdin=(
            f"delete element ip {table} backends {{ {index} }}\n"
            f"add element ip {table} backends {{ {index} : {address} }}\n"
        ),
    )


@dataclass
class Director(Periodic):
    """Health checks for the hash's buckets: TCP connect every interval, fall/rise like haproxy."""

    table: str
    nodes: list[NodeSpec]
    start_epoch: float
    interval_s: float = 0.5
    fall: int = 2
    rise: int = 2
    events: list[dict[str, Any]] = field(default_factory=list)
    ipvs_service: Endpoint | None = None  # set when LVS itself directs: weights, not a map
    thread_name = "l4-director"

    def begin(self) -> None:
        self._up = [True] * len(self.nodes)
        self._streak = [0] * len(self.nodes)

    def tick(self) -> None:
        for i, node in enumerate(self.nodes):
            healthy = is_listening(node.http)
            self._streak[i] = 0 if healthy == self._up[i] else self._streak[i] + 1
            if self._streak[i] >= (self.rise if healthy else self.fall):
                self._up[i], self._streak[i] = healthy, 0
                self._reroute(self._up, i, healthy)

    def _reroute(self, up: list[bool], changed: int, healthy: bool) -> None:
        if self.ipvs_service is not None:
            ipvs.set_weights(self.ipvs_service, self.nodes, up)
        else:
            live = [n for n, ok in zip(self.nodes, up, strict=True) if ok]
            for i, node in enumerate(self.nodes):
                target = node if up[i] else (live[i % len(live)] if live else node)
                route(self.table, i, target.address)
        what = "restored" if healthy else "failed over"
        self.events.append(
            {
                "at_s": round(time.time() - self.start_epoch, 3),
                "target": self.nodes[changed].name,
                "action": f"director {what}",
                "checks": (
                    f"tcp connect every {self.interval_s:g} s, fall {self.fall}, rise {self.rise}"
                ),
            }
        )
        log.info("l4 director: %s %s", what, self.nodes[changed].name)
