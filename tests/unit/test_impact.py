"""What a fault did to sessions and requests, on hand-made request records."""

from __future__ import annotations

from harness.results.impact import describe_impact, fault_impact
from harness.results.run_folder import Record
from tests.unit.judging import judge


def _user(user: int, node: str, outcomes: list[tuple[float, str, str, int]]) -> list[Record]:
    return [
        Record(t, user, session, "" if outcome == "error" else node,
               None if outcome == "error" else 1, outcome, 5.0, 404 if outcome == "error" else 200)
        for t, outcome, session, _ in outcomes
    ]  # fmt: skip


def test_users_on_the_target_and_elsewhere() -> None:
    records = [
        # on node1 (the target): loses its session after the fault
        *_user(1, "node1", [(1, "new", "a", 0), (2, "kept", "a", 0), (6, "error", "", 0),
                            (8, "session_lost", "b", 0), (9, "kept", "b", 0)]),
        # on node1: kept its session across the fault
        *_user(2, "node1", [(1, "new", "c", 0), (4, "kept", "c", 0), (9, "kept", "c", 0)]),
        # on node1: never answered again
        *_user(3, "node1", [(1, "new", "d", 0), (6, "error", "", 0)]),
        # on node2: the control
        *_user(4, "node2", [(1, "new", "e", 0), (6, "kept", "e", 0), (9, "kept", "e", 0)]),
    ]  # fmt: skip
    event = {"at_s": 5.0, "target": "node1", "action": "redeploy", "spec": "redeploy:node1@5",
             "undeployed_at_s": 6.0, "deployed_at_s": 7.0, "restored_at_s": None}  # fmt: skip
    (window,) = judge(sorted(records), [event]).windows
    effects = fault_impact(sorted(records), window, event)
    assert effects["window_s"] == [5.0, None]
    assert (effects["users_on_target"], effects["kept_on_target"]) == (3, 1)
    assert (effects["lost_on_target"], effects["unanswered_on_target"]) == (1, 1)
    assert (effects["users_elsewhere"], effects["kept_elsewhere"]) == (1, 1)
    assert effects["lost_elsewhere"] == effects["unanswered_elsewhere"] == 0
    # Requests from 5 s to the end: two errors (users 1 and 3), five replies.
    assert effects["requests_in_window"] == 7
    assert effects["errors_in_window"] == 2
    assert effects["error_statuses"] == {"404": 2}
    # User 3 never got a reply again: from 1 s to the last request of the run (9 s); user 2
    # went from 4 s to 9 s, user 1 from 2 s to 8 s.
    assert effects["longest_wait_on_target_s"] == 8.0
    text = describe_impact(effects)
    assert "1/3 kept their session, 1 lost it, 1 got no good reply" in text
    assert "2 errors (2x 404)" in text


def _stalled_partition() -> tuple[list[Record], dict[str, object]]:
    """Users 1 and 2 on node1, user 3 on node2; node1 cut from the store from 5 s to 12 s:
    user 1's request started at 5.2 s and hung until 14.6 s (it completed after the heal)."""
    records = [
        Record(1.0, 1, "a", "node1", 1, "new", 5.0, 200),
        Record(5.1, 1, "a", "node1", 2, "kept", 5.0, 200),
        Record(14.6, 1, "a", "node1", 3, "kept", 9400.0, 200),
        Record(1.0, 2, "b", "node1", 1, "new", 5.0, 200),
        Record(14.5, 2, "b", "node1", 2, "kept", 9000.0, 200),
        Record(1.0, 3, "c", "node2", 1, "new", 5.0, 200),
        Record(6.0, 3, "c", "node2", 2, "kept", 5.0, 200),
        Record(13.0, 3, "c", "node2", 3, "kept", 5.0, 200),
    ]
    event = {"at_s": 5.0, "target": "node1-redis", "action": "partition",
             "spec": "partition:node1-redis@5-12", "restored_at_s": 12.0}  # fmt: skip
    return sorted(records), event


def test_a_partition_groups_the_users_of_the_node_it_cuts_off() -> None:
    records, event = _stalled_partition()
    window = judge(records, [event]).windows[0]
    effects = fault_impact(records, window, event)
    assert (effects["users_on_target"], effects["users_elsewhere"]) == (2, 1)


def test_a_request_stalled_across_the_window_is_its_slowest() -> None:
    # It completed after the window, but users waited on it during it: a stall must never
    # read as a fast window.
    records, event = _stalled_partition()
    window = judge(records, [event]).windows[0]
    effects = fault_impact(records, window, event)
    assert effects["max_latency_ms_in_window"] == 9400.0


def test_the_target_is_the_parts_the_run_recorded_or_its_spec_names() -> None:
    """An inventory's nodes tomcat_1, tomcat_2: the users of tomcat_1 are on the target of
    sigkill:tomcat_1 (its parts as the run recorded them) and of drop:tomcat_1:5% (a run
    from before parts were recorded: read from its spec)."""
    records = [
        *_user(1, "tomcat_1", [(1, "new", "a", 0), (2, "kept", "a", 0), (6, "error", "", 0)]),
        *_user(2, "tomcat_2", [(1, "new", "b", 0), (2, "kept", "b", 0), (6, "kept", "b", 0)]),
    ]
    for spec, action, target, recorded in (
        ("sigkill:tomcat_1@5", "sigkill", "tomcat_1", {"parts": ["tomcat_1"]}),
        ("drop:tomcat_1:5%@5", "drop", "tomcat_1:5%", {}),
    ):
        event = {"at_s": 5.0, "target": target, "action": action, "spec": spec,
                 "restored_at_s": None, **recorded}  # fmt: skip
        (window,) = judge(sorted(records), [event]).windows
        effects = fault_impact(sorted(records), window, event)
        assert (effects["users_on_target"], effects["unanswered_on_target"]) == (1, 1), spec
        assert (effects["users_elsewhere"], effects["kept_elsewhere"]) == (1, 1), spec
