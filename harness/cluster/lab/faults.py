"""Faults delivered to the embedded lab: signals to its processes, web application reloads
and redeploys through the node's own JMX."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace

from harness.cluster import LANDED_AT, touch
from harness.cluster.jvm import JvmReadError
from harness.cluster.lab import webapps
from harness.cluster.lab.lab import Lab
from harness.cluster.lab.processes import LabError
from harness.config.faults import ACTIONS, NETWORK, FaultSpec

log = logging.getLogger(__name__)


def _named(lab: Lab, spec: FaultSpec) -> FaultSpec:
    """A process fault on "balancer" reaches the balancer that runs (nginx or haproxy)."""
    if spec.action in NETWORK or spec.target != "balancer":
        return spec
    return replace(spec, target=lab.balancer_process())


_SIGNALS = {"sigkill": signal.SIGKILL, "sigstop": signal.SIGSTOP}

# Faults that are an MBean operation: the node's JMX agent and this process's JMX client.
_OVER_JMX = ("context-reload", "redeploy")


def prepare(lab: Lab, specs: Sequence[FaultSpec]) -> None:
    """The JMX agent of each node whose fault is an MBean operation, started before the
    load: started at the fault, its attach and the client JVM's start (about 1 s of CPU)
    fell into the fault's own window, which the run measures."""
    for spec in specs:
        if spec.action not in _OVER_JMX:
            continue
        target = _named(lab, spec).target
        try:
            webapps.ready_for_operations(lab, target)
        except (JvmReadError, LabError, OSError) as error:
            # Not the run's end: the fault tries again at its time, and an error there is
            # a finding of the run (its fault_error).
            log.warning("%s: its JMX agent not started before the load: %s", target, error)


def inject(
    lab: Lab,
    spec: FaultSpec,
    until: threading.Event | None = None,
    deployer_checks: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Deliver the fault; returns the epoch times of its steps where it has several (a
    touch watches for the reload until it is seen, the node's deployer check and some
    slack have passed, or until is set)."""
    spec = _named(lab, spec)
    if spec.action == "context-reload":
        return webapps.reload_context(lab, spec.target)
    if spec.action == "touch":
        check_s = (deployer_checks or {}).get(spec.target)
        return webapps.touch_descriptor(lab, spec.target, touch.notice_s(check_s), until=until)
    if spec.action == "redeploy":
        if spec.restore_at_s is None:
            return webapps.redeploy(lab, spec.target)
        return webapps.undeploy(lab, spec.target)
    if spec.action in _SIGNALS:
        # The window opens when the signal took effect: a stopped node's workers may
        # still finish a reply or two after the call.
        return {LANDED_AT: lab.signal(spec.target, _SIGNALS[spec.action])}
    if spec.action == "shutdown":
        lab.shutdown(spec.target)
    elif spec.action == "restart":
        lab.restart(spec.target)
    elif spec.action == "reload":
        lab.reload(spec.target)
    elif spec.action in NETWORK:
        lab.net_fault(spec)
    return {}


def restore(lab: Lab, spec: FaultSpec) -> dict[str, float]:
    spec = _named(lab, spec)
    if ACTIONS[spec.action] == "heal":
        lab.heal(spec)
    elif ACTIONS[spec.action] == "sigcont":
        lab.signal(spec.target, signal.SIGCONT)
    elif ACTIONS[spec.action] == "deploy":
        return webapps.deploy(lab, spec.target)
    else:
        lab.start_again(spec.target)
    return {}
