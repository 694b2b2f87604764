"""What a fault did to sessions and requests, on hand-made request records."""

from __future__ import annotations

from harness.results import Record
from harness.results.impact import describe_impact, fault_impact
from harness.results.judgement import judge


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
