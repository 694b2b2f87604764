"""The fault timeline's bookkeeping. The cluster here is a stand-in whose restore takes a
while, as a Tomcat start does: the timeline's clock and records are under test, not a
cluster (tests/integration runs it against the real lab)."""

from __future__ import annotations

import time
from typing import Any

from harness.config.faults import parse_faults
from harness.load.faults import FaultTimeline

TARGETS = ("node1",)


class SlowRestore:
    """Delivers at once, restores in 0.3 s (a node's start)."""

    def fault_targets(self) -> list[str]:
        return list(TARGETS)

    def deliver(self, fault: Any) -> dict[str, float]:
        return {}

    def restore(self, fault: Any) -> dict[str, float]:
        time.sleep(0.3)
        return {}


def test_a_restore_that_outlasts_the_load_is_marked() -> None:
    timeline = FaultTimeline(SlowRestore(), parse_faults("sigkill:node1@0.01-0.02"))  # type: ignore[arg-type]
    timeline.start(time.time())
    time.sleep(0.03)
    timeline.tick(0.03)  # the fault and its restore fall due; the load ends right after
    (event,) = timeline.stop()
    assert event["at_s"] is not None and "fault_error" not in event
    assert event["restored_at_s"] > 0.25
    assert event["restored_after_load"] is True


def test_a_restore_inside_the_load_is_not_marked() -> None:
    timeline = FaultTimeline(SlowRestore(), parse_faults("sigkill:node1@0.01-0.02"))  # type: ignore[arg-type]
    timeline.start(time.time())
    time.sleep(0.03)
    timeline.tick(0.03)
    time.sleep(0.5)  # the load goes on past the restore
    (event,) = timeline.stop()
    assert "restored_after_load" not in event
