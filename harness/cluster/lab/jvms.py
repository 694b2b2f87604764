"""The lab's Tomcat JVMs: where each runs (pid, loopback address, log) and reading them
with the commands and parsers of harness.cluster.jvm."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from harness.cluster import jvm
from harness.cluster.jvm import (
    JmxAccess,
    JvmReadError,
    NodeJvm,
    NodeTarget,
    ensure_agent,
    read_node,
)
from harness.cluster.lab.lab import Lab
from harness.config.profile import Profile


def lab_targets(lab: Lab) -> dict[str, NodeTarget]:
    """The lab's Tomcat nodes as recorded now (a restarted node has a new pid)."""
    if lab.state is None:
        return {}
    processes = dict(lab.state.processes)  # a fault may replace a record meanwhile
    return {
        node.name: NodeTarget(
            processes[node.name].pid, node.address, Path(processes[node.name].log), node.http
        )
        for node in lab.topology.nodes
        if node.name in processes
    }


def _lab_node(lab: Lab, name: str) -> tuple[int, str, Path]:
    """The node's pid, loopback address and log, as the lab recorded them."""
    if lab.state is None or name not in lab.state.processes:
        raise JvmReadError(f"no lab node named {name!r}")
    nodes = {n.name: n for n in lab.topology.nodes}
    if name not in nodes:
        raise JvmReadError(f"{name!r} is not a Tomcat node of this lab")
    record = lab.state.processes[name]
    return record.pid, nodes[name].address, Path(record.log)


def lab_access(lab: Lab, name: str) -> JmxAccess:
    """The named node's JMX agent, started on its own loopback address if need be."""
    pid, address, _ = _lab_node(lab, name)
    return ensure_agent(pid, address, lab.jmx_secrets_dir)


def read_lab_node(lab: Lab, name: str) -> NodeJvm:
    pid, address, log_path = _lab_node(lab, name)
    return read_node(name, pid, address, lab.jmx_secrets_dir, log_path)


def read_lab(lab: Lab) -> list[NodeJvm]:
    """Every running node of the lab, as read from its JVM."""
    running = set(lab.running())
    return [read_lab_node(lab, n.name) for n in lab.topology.nodes if n.name in running]


class EarlyReads:
    """Each node read as soon as it answers, while the rest of the lab comes up.

    Why: a node that is up idles while the other starts and while the balancer starts,
    and its first reading (its JMX agent started by attach: 0.3-0.4 s of CPU) fits there
    instead of after lab up. Pass read to Lab.up(on_node_up=...); readers() then hands
    in_effect each node's reading (a node not read early is read then)."""

    def __init__(self, lab: Lab) -> None:
        self._lab = lab
        self._pool = ThreadPoolExecutor(
            max_workers=max(lab.topology.node_count, 1), thread_name_prefix="early-read"
        )
        self._reads: dict[str, Future[NodeJvm]] = {}
        # The JMX reader's JVM starts beside the nodes, not at the first node's reading
        # (compiled first, if this machine never did: off the thread that starts the lab).
        self._pool.submit(lambda: jvm.probe_server().start())

    def read(self, name: str) -> None:
        self._reads[name] = self._pool.submit(read_lab_node, self._lab, name)

    def readers(self) -> dict[str, Callable[[], NodeJvm]]:
        return {
            n.name: self._reads[n.name].result
            if n.name in self._reads
            else partial(read_lab_node, self._lab, n.name)
            for n in self._lab.topology.nodes
        }

    def close(self) -> None:
        """Readings not yet begun are dropped (a lab that failed to come up)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def lab_in_effect(lab: Lab, profile: Profile) -> dict[str, Any]:
    """run.json's lab.in_effect: every node read (side by side) and held against profile."""
    readers = {n.name: partial(read_lab_node, lab, n.name) for n in lab.topology.nodes}
    return jvm.in_effect(readers, profile.name, profile.effective())
