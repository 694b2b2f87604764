"""The faults of a bench on its clock: each delivered through the cluster at its time,
restored at its time, and every one accounted for in the run's fault log."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from harness.cluster import LANDED_AT, LANDED_BY, Cluster, ClusterError
from harness.cluster.jvm import JvmReadError
from harness.config.faults import ACTIONS, FaultSpec

log = logging.getLogger(__name__)


class FaultTimeline:
    """Delivers faults and restores on time, off the caller's thread (a restart waits for
    health, which must not hold up the clock), and records when each really happened."""

    def __init__(self, cluster: Cluster, specs: tuple[FaultSpec, ...]) -> None:
        known = cluster.fault_targets()
        for spec in specs:
            for part in spec.parts:
                if part not in known:
                    raise ValueError(f"fault {spec}: target {part!r}: one of {', '.join(known)}")
        self.cluster, self.start_epoch = cluster, 0.0
        self.events: list[dict[str, Any]] = []
        self._pending = sorted(
            [(s.at_s, "fault", s) for s in specs]
            + [(s.restore_at_s, "restore", s) for s in specs if s.restore_at_s is not None],
            key=lambda item: item[0],
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faults")
        self._futures: list[Future[None]] = []
        # Set when the load ends: a fault still watching for its effect stops (a touch).
        self._load_ended = threading.Event()
        self._by_spec: dict[FaultSpec, dict[str, Any]] = {}

    def start(self, start_epoch: float) -> None:
        """The load began at start_epoch: fault times count from it."""
        self.start_epoch = start_epoch

    def tick(self, elapsed_s: float) -> None:
        while self._pending and self._pending[0][0] <= elapsed_s:
            _, kind, spec = self._pending.pop(0)
            self._futures.append(self._worker.submit(self._deliver, kind, spec))

    def _now(self) -> float:
        return round(time.time() - self.start_epoch, 3)

    def _relative(self, epochs: dict[str, float]) -> dict[str, float]:
        """{"reloaded_at": epoch} -> {"reloaded_at_s": seconds since the start}."""
        return {f"{k}_s": round(v - self.start_epoch, 3) for k, v in epochs.items()}

    def _landed(self, asked_s: float, steps: dict[str, float]) -> dict[str, float]:
        """The fault's window starts when it took effect, not when it was asked for: a
        kill over SSH came 2.6 s after it was asked in CI, and its node answered till then.
        Where the host could only bracket it, it starts at the bracket's start, and
        landed_by_s is its end. Kept between the asking and now, the only times this clock
        vouches for."""
        landed_epoch, landed_by = steps.pop(LANDED_AT, None), steps.pop(LANDED_BY, None)
        if landed_epoch is None:
            return {}
        now = self._now()
        landed_s = min(max(round(landed_epoch - self.start_epoch, 3), asked_s), now)
        landed = {"asked_at_s": asked_s, "at_s": landed_s}
        if landed_by is not None:
            landed["landed_by_s"] = min(max(round(landed_by - self.start_epoch, 3), landed_s), now)
        return landed

    def _deliver(self, kind: str, spec: FaultSpec) -> None:
        try:
            if kind == "fault":
                asked_s = self._now()
                event = {"at_s": asked_s, "target": spec.target, "action": spec.action,
                         "parts": list(spec.parts), "restored_at_s": None,
                         "spec": str(spec)}  # fmt: skip
                self._by_spec[spec] = event
                self.events.append(event)
                steps = self.cluster.deliver(spec, self._load_ended)
                event.update(self._landed(asked_s, steps))
                event.update(self._relative(steps))
            else:
                steps = self.cluster.restore(spec)
                self._by_spec[spec]["restored_at_s"] = self._now()
                self._by_spec[spec].update(self._relative(steps))
                self._by_spec[spec]["restore"] = ACTIONS[spec.action]
            log.info("%s %s done at %.2f s", kind, spec, self._now())
        except (ClusterError, JvmReadError, OSError) as error:
            # A fault that cannot be delivered is a finding of the run, not a crash of it.
            log.warning("%s %s failed: %s", kind, spec, error)
            self._by_spec.setdefault(spec, {"spec": str(spec)})[f"{kind}_error"] = str(error)

    def stop(self) -> list[dict[str, Any]]:
        """Every event, and every fault whose time never came (the run ended first, as on
        Ctrl-C): listed, with why, so no reader judges it as delivered. Called when the
        load has ended: a fault or restore that only completes after that is marked, since
        no user can be judged after it (a node whose restart outlasts the run)."""
        load_ended_s = self._now()
        self._load_ended.set()
        self._worker.shutdown(wait=True)
        for event in self.events:
            if (event.get("at_s") or 0) > load_ended_s:
                event["fault_error"] = "delivered after the load had ended"
            restored = event.get("restored_at_s")
            if restored is not None and restored > load_ended_s:
                event["restored_after_load"] = True
        for at_s, kind, spec in self._pending:
            if kind == "fault":
                self.events.append(
                    {"spec": str(spec), "action": spec.action, "target": spec.target,
                     "parts": list(spec.parts), "planned_at_s": at_s, "restored_at_s": None,
                     "fault_error": "not delivered: the run ended before its time"}
                )  # fmt: skip
        self._pending = []
        return self.events
