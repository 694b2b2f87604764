"""The lab's Tomcat JVMs: where each runs (pid, loopback address, log, CATALINA_BASE) and
reading them: from each node's own readings (readings.py), with the parsers of
harness.cluster.jvm; over JMX only for an operation (lab_access)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import psutil

from harness.cluster import jvm, readings
from harness.cluster.jvm import (
    JmxAccess,
    JvmReadError,
    NodeJvm,
    NodeTarget,
    count_rejections,
    ensure_agent,
    jstat_gc,
    listening_command,
    node_jvm,
    parse_listening,
    parse_vm_flags,
    run,
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
            processes[node.name].pid, Path(processes[node.name].log), lab.run_dir / node.name
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
    """The named node's JMX agent, started on its own loopback address if need be: for an
    operation only JMX offers (a reload, a deployer check); readings come from the node."""
    pid, address, _ = _lab_node(lab, name)
    return ensure_agent(pid, address, lab.jmx_secrets_dir)


def read_lab_node(lab: Lab, name: str) -> NodeJvm:
    """Everything in effect on one lab node: its own readings (readings.py), the first for
    its VM flags and the latest for its MBeans; jstat's columns from its counters file."""
    pid, _, log_path = _lab_node(lab, name)
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        raise JvmReadError(f"{name}: pid {pid} is not running") from None
    first, latest = readings.first_and_latest(
        lab.run_dir / name, pid, started, alive=lambda: psutil.pid_exists(pid)
    )
    return node_jvm(
        name,
        pid,
        flags=parse_vm_flags(str(first["vm_flags"])),
        jstat=jstat_gc(pid),
        mbeans=latest,
        listening=parse_listening(run(listening_command()), pid),
        rejections=count_rejections(log_path),
    )


def read_lab(lab: Lab) -> list[NodeJvm]:
    """Every running node of the lab, as read from its JVM."""
    running = set(lab.running())
    return [read_lab_node(lab, n.name) for n in lab.topology.nodes if n.name in running]


def lab_in_effect(lab: Lab, profile: Profile) -> dict[str, Any]:
    """run.json's lab.in_effect: every node read (side by side) and held against profile."""
    readers = {n.name: partial(read_lab_node, lab, n.name) for n in lab.topology.nodes}
    return jvm.in_effect(readers, profile.name, profile.effective())
