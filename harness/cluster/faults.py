"""Faults a bench declares: what happens to which part of the lab, when, and its restore.

Written ACTION:TARGET@T or ACTION:TARGET@T-T2 (seconds from the start of the load):

  sigkill:node1@30        the JVM dies at once (a crashed host)
  sigkill:node1@30-45     ... and is started again at 45 s
  shutdown:node2@20-40    graceful stop (SIGTERM: shutdown hooks run), started again at 40 s
  sigstop:node1@20-25     a hang: SIGSTOP, then SIGCONT at 25 s
  restart:node1@20        graceful stop and start at once
  sigkill:redis@30        a store dies (also memA, memB)
  reload:nginx@30         the balancer re-reads its config (haproxy: a restart)
  context-reload:node1@20 the node reloads its web application (what reloadable="true"
                          does when a class changes), under load
  touch:node1@20          the application's WEB-INF/web.xml is touched, as an edit would;
                          Tomcat reloads the context if the profile's deploy settings
                          say so (autoDeploy), within its 10 s check; the run says whether
  redeploy:node1@20       the application's directory is removed and added again, so the
                          Host undeploys and deploys it (what autoDeploy does)
  redeploy:node1@20-25    ... removed at 20 s, added again at 25 s
"""

from __future__ import annotations

import logging
import re
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.cluster import jvm
from harness.cluster.lab import Lab, LabError, webapps

log = logging.getLogger(__name__)

# action -> what restores it (None: nothing to restore)
ACTIONS: dict[str, str | None] = {
    "sigkill": "start",
    "shutdown": "start",
    "sigstop": "sigcont",
    "restart": None,
    "reload": None,
    "context-reload": None,
    "touch": None,
    "redeploy": "deploy",  # optional: without a restore time it deploys again at once
}
_SPEC = re.compile(
    r"^(?P<action>[a-z][a-z-]*):(?P<target>[\w-]+)@(?P<at>\d+(\.\d+)?)(-(?P<until>\d+(\.\d+)?))?$"
)


@dataclass(frozen=True)
class FaultSpec:
    action: str
    target: str
    at_s: float
    restore_at_s: float | None = None

    def __str__(self) -> str:
        until = f"-{self.restore_at_s:g}" if self.restore_at_s is not None else ""
        return f"{self.action}:{self.target}@{self.at_s:g}{until}"


def parse_fault(text: str) -> FaultSpec:
    """One fault from its text form; ValueError names what is wrong."""
    found = _SPEC.match(text.strip())
    if not found:
        raise ValueError(
            f"fault {text!r}: write ACTION:TARGET@SECONDS[-SECONDS], e.g. sigkill:node1@30"
        )
    action, target = found["action"], found["target"]
    if action not in ACTIONS:
        raise ValueError(f"fault {text!r}: action {action!r}: one of {', '.join(ACTIONS)}")
    at = float(found["at"])
    until = float(found["until"]) if found["until"] else None
    if until is not None and ACTIONS[action] is None:
        raise ValueError(f"fault {text!r}: {action} has nothing to restore; drop -{until:g}")
    if until is not None and until <= at:
        raise ValueError(f"fault {text!r}: the restore ({until:g} s) must come after {at:g} s")
    return FaultSpec(action, target, at, until)


def parse_faults(text: str) -> tuple[FaultSpec, ...]:
    return tuple(parse_fault(part) for part in text.split(",") if part.strip())


def inject(lab: Lab, spec: FaultSpec) -> dict[str, float]:
    """Deliver the fault; returns the epoch times of its steps where it has several."""
    if spec.action == "context-reload":
        return webapps.reload_context(lab, spec.target)
    if spec.action == "touch":
        return webapps.touch_descriptor(lab, spec.target)
    if spec.action == "redeploy":
        if spec.restore_at_s is None:
            return webapps.redeploy(lab, spec.target)
        return webapps.undeploy(lab, spec.target)
    if spec.action == "sigkill":
        lab.signal(spec.target, signal.SIGKILL)
    elif spec.action == "sigstop":
        lab.signal(spec.target, signal.SIGSTOP)
    elif spec.action == "shutdown":
        lab.shutdown(spec.target)
    elif spec.action == "restart":
        lab.restart(spec.target)
    elif spec.action == "reload":
        lab.reload(spec.target)
    return {}


def restore(lab: Lab, spec: FaultSpec) -> dict[str, float]:
    if ACTIONS[spec.action] == "sigcont":
        lab.signal(spec.target, signal.SIGCONT)
    elif ACTIONS[spec.action] == "deploy":
        return webapps.deploy(lab, spec.target)
    else:
        lab.start_again(spec.target)
    return {}


class Schedule:
    """Delivers faults and restores on time, off the caller's thread (a restart waits for
    health, which must not hold up the clock), and records when each really happened."""

    def __init__(self, lab: Lab, specs: tuple[FaultSpec, ...], start_epoch: float) -> None:
        assert lab.state is not None
        for spec in specs:
            if spec.target not in lab.state.processes:
                known = ", ".join(lab.state.processes)
                raise ValueError(f"fault {spec}: target {spec.target!r}: one of {known}")
        self.lab, self.start_epoch = lab, start_epoch
        self.events: list[dict[str, Any]] = []
        self._pending = sorted(
            [(s.at_s, "fault", s) for s in specs]
            + [(s.restore_at_s, "restore", s) for s in specs if s.restore_at_s is not None],
            key=lambda item: item[0],
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faults")
        self._futures: list[Future[None]] = []
        self._by_spec: dict[FaultSpec, dict[str, Any]] = {}

    def tick(self, elapsed_s: float) -> None:
        while self._pending and self._pending[0][0] <= elapsed_s:
            _, kind, spec = self._pending.pop(0)
            self._futures.append(self._worker.submit(self._deliver, kind, spec))

    def _now(self) -> float:
        return round(time.time() - self.start_epoch, 3)

    def _relative(self, epochs: dict[str, float]) -> dict[str, float]:
        """{"reloaded_at": epoch} -> {"reloaded_at_s": seconds since the start}."""
        return {f"{k}_s": round(v - self.start_epoch, 3) for k, v in epochs.items()}

    def _deliver(self, kind: str, spec: FaultSpec) -> None:
        try:
            if kind == "fault":
                event = {"at_s": self._now(), "target": spec.target, "action": spec.action,
                         "restored_at_s": None, "spec": str(spec)}  # fmt: skip
                self._by_spec[spec] = event
                self.events.append(event)
                event.update(self._relative(inject(self.lab, spec)))
            else:
                steps = restore(self.lab, spec)
                self._by_spec[spec]["restored_at_s"] = self._now()
                self._by_spec[spec].update(self._relative(steps))
                self._by_spec[spec]["restore"] = ACTIONS[spec.action]
            log.info("%s %s done at %.2f s", kind, spec, self._now())
        except (LabError, jvm.JvmReadError, OSError) as error:
            # A fault that cannot be delivered is a finding of the run, not a crash of it.
            log.warning("%s %s failed: %s", kind, spec, error)
            self._by_spec.setdefault(spec, {"spec": str(spec)})[f"{kind}_error"] = str(error)

    def close(self) -> list[dict[str, Any]]:
        """Every event, and every fault whose time never came (the run ended first, as on
        Ctrl-C): listed, with why, so no reader judges it as delivered."""
        self._worker.shutdown(wait=True)
        for at_s, kind, spec in self._pending:
            if kind == "fault":
                self.events.append(
                    {"spec": str(spec), "action": spec.action, "target": spec.target,
                     "planned_at_s": at_s, "restored_at_s": None,
                     "fault_error": "not delivered: the run ended before its time"}
                )  # fmt: skip
        self._pending = []
        return self.events
