"""The lab's Tomcat JVMs: where each runs (pid, loopback address, log) and reading them
with the commands and parsers of harness.cluster.jvm."""

from __future__ import annotations

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


def lab_secrets_dir(lab: Lab) -> Path:
    return lab.jmx_secrets_dir


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
    return ensure_agent(pid, address, lab_secrets_dir(lab))


def read_lab_node(lab: Lab, name: str) -> NodeJvm:
    pid, address, log_path = _lab_node(lab, name)
    return read_node(name, pid, address, lab_secrets_dir(lab), log_path)


def read_lab(lab: Lab) -> list[NodeJvm]:
    """Every running node of the lab, as read from its JVM."""
    running = set(lab.running())
    return [read_lab_node(lab, n.name) for n in lab.topology.nodes if n.name in running]


def lab_in_effect(lab: Lab, profile: Profile) -> dict[str, Any]:
    """run.json's lab.in_effect: every node read (side by side) and held against profile."""
    readers = {n.name: partial(read_lab_node, lab, n.name) for n in lab.topology.nodes}
    return jvm.in_effect(readers, profile.name, profile.effective())
