"""The fault timeline's bookkeeping. The cluster here is a stand-in whose restore takes a
while, as a Tomcat start does: the timeline's clock and records are under test, not a
cluster (tests/integration runs it against the real lab)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from harness.cluster import LANDED_AT, LANDED_BY
from harness.cluster.touch import deployer_checks, notice_s, watch_for_reload
from harness.config.faults import parse_faults
from harness.load.faults import FaultTimeline
from harness.results.impact import describe_impact, fault_impact
from harness.results.judgement import Window, judge

TARGETS = ("node1",)


class SlowRestore:
    """Delivers at once, restores in 0.3 s (a node's start)."""

    def fault_targets(self) -> list[str]:
        return list(TARGETS)

    def deliver(self, fault: Any, until: threading.Event | None = None) -> dict[str, float]:
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


class NeverReloads(SlowRestore):
    """A touch whose Tomcat never reloads (its log never says so), watched as the lab does."""

    def deliver(self, fault: Any, until: threading.Event | None = None) -> dict[str, float]:
        return watch_for_reload(time.time(), lambda: False, 15.0, until, poll_s=0.01)


def test_a_touch_is_watched_no_longer_than_the_load_and_then_not_judged() -> None:
    """A touch 15 s before the end held the bench up to 15 s past its load, and a reload
    after the load would have read as one the users went through."""
    timeline = FaultTimeline(NeverReloads(), parse_faults("touch:node1@0.01"))  # type: ignore[arg-type]
    timeline.start(time.time())
    time.sleep(0.03)
    timeline.tick(0.03)
    time.sleep(0.2)  # the load ends
    began = time.monotonic()
    (event,) = timeline.stop()
    assert time.monotonic() - began < 5  # not the 15 s of notice
    assert "reloaded_at_s" not in event
    assert 0.1 < event["watched_until_s"] - event["touched_at_s"] < 5
    window = Window("fault", "touch node1", event["at_s"], math.inf, spec=event["spec"])
    effects = fault_impact([], window, event)
    assert effects["reloaded"] is None
    assert "not judged" in describe_impact(effects)


def test_a_touch_is_watched_as_long_as_the_nodes_own_deployer_check() -> None:
    """A node that checks every 30 s was said "not reloaded" after a fixed 15 s."""
    read = {
        "node1": {"deployer_check_s": 30},
        "node2": {"deployer_check_s": 2},
        "node3": {"error": "could not read the JVM"},
        "node4": {"deployer_check_s": None},  # no background thread: nothing checks
    }
    checks = deployer_checks(read)
    assert checks == {"node1": 30, "node2": 2}
    assert notice_s(checks.get("node1")) == 35
    assert notice_s(checks.get("node2")) == 7
    # Unread: Tomcat's default check, as before.
    assert notice_s(checks.get("node3")) == notice_s(checks.get("node4")) == 15


class LandsLate(SlowRestore):
    """A kill over SSH: the pid found and the signal sent take round trips (0.2 s here),
    and the host says when the signal landed (here, by its clock, `skew` s off ours)."""

    def __init__(self, skew: float = 0.0) -> None:
        self.skew = skew

    def deliver(self, fault: Any, until: threading.Event | None = None) -> dict[str, float]:
        time.sleep(0.2)
        landed = time.time() + self.skew
        time.sleep(0.1)  # the reply's way back
        return {LANDED_AT: landed}


def _killed_through(cluster: SlowRestore) -> dict[str, Any]:
    """A kill of node1 delivered by cluster 0.01 s into a load: its event."""
    timeline = FaultTimeline(cluster, parse_faults("sigkill:node1@0.01"))  # type: ignore[arg-type]
    timeline.start(time.time())
    time.sleep(0.02)
    timeline.tick(0.02)
    time.sleep(0.5)
    (event,) = timeline.stop()
    return event


def test_a_faults_window_starts_when_it_landed_not_when_it_was_asked() -> None:
    event = _killed_through(LandsLate())
    assert 0.15 < event["at_s"] - event["asked_at_s"] < 0.3, event
    assert LANDED_AT not in event and "landed_at_s" not in event
    (window,) = [w for w in judge([], [event]).windows if w.kind == "fault"]
    assert window.at_s == event["at_s"]


def test_a_landing_time_off_this_clock_is_kept_inside_what_this_clock_saw() -> None:
    """A host whose clock is off cannot move the fault before it was asked for, nor after
    its delivery returned."""
    for skew, bound in ((-60.0, "asked_at_s"), (60.0, None)):
        event = _killed_through(LandsLate(skew))
        if bound is not None:
            assert event["at_s"] == event[bound]
        else:
            assert event["asked_at_s"] + 0.25 < event["at_s"] < event["asked_at_s"] + 0.5


class Bracketed(SlowRestore):
    """A kill over SSH bracketed by the host's clock: read, signal sent, read again."""

    def deliver(self, fault: Any, until: threading.Event | None = None) -> dict[str, float]:
        time.sleep(0.2)
        before = time.time()
        time.sleep(0.05)  # the date process, on a loaded host
        return {LANDED_AT: before, LANDED_BY: time.time()}


def test_a_bracketed_landing_opens_the_window_at_its_start_and_keeps_its_end() -> None:
    event = _killed_through(Bracketed())
    assert event["asked_at_s"] < event["at_s"] < event["landed_by_s"], event
    assert 0.04 < event["landed_by_s"] - event["at_s"] < 0.2, event
    assert "landed_by" not in event
