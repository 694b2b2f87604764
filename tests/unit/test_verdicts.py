"""One judgement of every user, read alike by the summary, the verdict cell and the
fault effects (issue 13's cases 2-7, on hand-made records: each failed on the code before
the judgement, where three places counted kept and lost three ways)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.results.checks import metric_values
from harness.results.impact import not_judged
from harness.results.judgement import Unfinished
from harness.results.run_folder import Record, summarize
from harness.results.verdicts import fates_line, recovery_words, verdict_of, window_line
from tests.unit.judging import judge

KILL = {"at_s": 10.0, "target": "node1", "action": "sigkill", "spec": "sigkill:node1@10",
        "restored_at_s": None}  # fmt: skip


def _r(t: float, user: int, outcome: str, node: str = "node1", latency: float = 1.0) -> Record:
    error = outcome == "error"
    return Record(t, user, "S", "" if error else node, None if error else 1, outcome, latency,
                  502 if error else 200)  # fmt: skip


def _run(after: dict[int, list[str]], users: int = 4) -> list[Record]:
    """Every user: new at 1 s, kept at 5 s on node1 (odd) / node2 (even); then `after`,
    one request a second from 11 s on (default: one kept)."""
    records = []
    for u in range(1, users + 1):
        node = "node1" if u % 2 else "node2"
        records += [_r(1.0 + u / 100, u, "new", node), _r(5.0 + u / 100, u, "kept", node)]
        for i, outcome in enumerate(after.get(u, ["kept"])):
            records.append(_r(11.0 + i + u / 100, u, outcome, "node2"))
    return sorted(records, key=lambda r: r.t_s)


def _all(
    records: list[Record], faults: list[dict[str, Any]], unfinished: list[Unfinished] | None = None
) -> tuple[dict[str, Any], ...]:
    judgement = judge(records, faults, unfinished or [])
    summary = summarize(records, faults, judgement, unfinished or [])
    verdict = verdict_of(judgement, balancer="nginx-rr", sessions="redis")
    return summary, verdict, summary["fault_effects"]


def test_a_strategy_that_keeps_everything_survives() -> None:
    summary, c, _ = _all(_run({}), [KILL])
    assert c["users"] == c["kept"] == c["data_kept"] == 4
    assert (c["lost"], c["unanswered"], c["failed_requests"]) == (0, 0, 0)
    assert c["recovery_s"] == 0.001  # one request's latency: nobody waited longer
    assert c["stable_without_fault"] is True
    assert c["verdict"] == "survives"
    assert c["fault"] == "sigkill node1"
    assert c["nodes_before"] == {"node1": 2, "node2": 2}
    assert c["nodes_after"] == {"node2": 4}
    assert summary["sessions_kept"] == 4


def test_case_2_summary_verdict_and_effects_count_the_same_users() -> None:
    """User 1 gets only errors after the kill, user 3 a replayed request: before, the
    summary said '4 kept, 0 lost', verdicts.json 'loses 25%', the effects '0 lost'."""
    summary, c, effects = _all(_run({1: ["error", "error"], 3: ["replayed", "kept"]}), [KILL])
    fates = summary["judgement"]["fates"]
    assert fates == {"session_lost": 0, "data_lost": 0, "unanswered": 1, "replayed": 1,
                     "kept": 2}  # fmt: skip
    assert (summary["sessions_kept"], summary["unanswered"], summary["replayed"]) == (3, 1, 1)
    assert (c["kept"], c["unanswered"], c["replayed"], c["lost"]) == (3, 1, 1, 0)
    (e,) = effects
    assert (e["users_on_target"], e["kept_on_target"], e["unanswered_on_target"]) == (2, 1, 1)
    assert c["verdict"] == (
        "25% of users never answered again, 1 saw a replayed request, never recovered, "
        "3 failed requests (50% of requests)"
    )
    assert fates_line(fates, 4) == (
        "4 users: 2 kept session and data, 1 saw a replayed request, 1 got no good reply "
        "after it, 0 lost data, 0 lost their session"
    )


def test_case_2_a_replay_is_not_a_loss() -> None:
    """sigstop:node1@10-25 through nginx: the resumed node ran requests nginx had retried."""
    records = _run({u: ["replayed", "kept"] for u in range(1, 5)})
    _, c, _ = _all(records, [KILL])
    assert (
        c["verdict"]
        == "keeps sessions, 4 saw a replayed request, 4 failed requests (50% of requests)"
    )
    assert c["data_lost"] == 0


def test_case_3_a_user_whose_request_hung_stays_judged() -> None:
    """User 2's request hangs on the stopped node and is cut off at stop: no record after
    the fault. It is unanswered, never dropped from the users judged."""
    records = [r for r in _run({}) if not (r.user == 2 and r.t_s > 10)]
    summary, c, _ = _all(records, [KILL])
    assert c["users"] == 4
    assert c["unanswered"] == 1
    assert c["verdict"].startswith("25% of users never answered again")
    assert summary["recovered"] is False


def test_case_4_errors_count_in_a_run_without_a_fault_and_spoil_survives() -> None:
    records = _run({1: ["kept", "error", "kept"]})
    _, c, _ = _all(records, [])
    assert c["fault"] == "none"
    assert c["failed_requests"] == 1
    assert c["verdict"] == "keeps sessions, 1 failed request (7% of requests)"
    _, c, _ = _all(_run({}), [])
    assert c["verdict"] == "stable"
    _, c, _ = _all(_run({2: ["error", "kept"]}), [KILL])
    assert c["verdict"] == "keeps sessions, 1 failed request (20% of requests)"


def test_case_5_a_fault_not_delivered_is_never_survived() -> None:
    failed = {**KILL, "fault_error": "node1 is not running"}
    summary, c, effects = _all(_run({}), [failed])
    assert c["fault_delivered"] is False
    assert c["verdict"] == "fault not delivered (sigkill:node1@10): not judged"
    assert c["users"] == 4  # the control judged them, nothing else
    assert effects[0]["delivered"] is False
    (window,) = summary["judgement"]["windows"]
    assert window_line(window) == "not delivered (node1 is not running): nobody judged"
    never = {"spec": "sigkill:node1@30", "action": "sigkill", "target": "node1",
             "planned_at_s": 30.0, "fault_error": "not delivered: the run ended first"}  # fmt: skip
    _, c, _ = _all(_run({}), [KILL, never])
    assert c["verdict"] == "survives; not delivered: sigkill:node1@30"


def test_case_6_errors_never_improve_latency_or_throughput() -> None:
    slow = [_r(1 + i * 0.5, 1, "kept" if i else "new", latency=100.0) for i in range(20)]
    fast_errors = [_r(1.2 + i * 0.1, 2, "error", latency=0.5) for i in range(90)]
    summary = summarize(sorted(slow + fast_errors), [])
    assert summary["p50_ms"] == 100.0
    assert summary["answered"] == 20
    assert summary["rps"] == round(20 / (slow[-1].t_s - 1.0), 2)
    assert summary["requests_rps"] > summary["rps"]


def test_case_7_recovery_never_and_windows_end_at_the_next_fault() -> None:
    # Failures to the end: never recovered, not "the run's end".
    _, c, _ = _all(_run({1: ["kept", "error", "error"]}), [KILL])
    assert c["recovered"] is False and c["recovery_s"] is None
    # A second fault at 12 s: its failures are its own, not the first's.
    second = {"at_s": 12.0, "target": "node2", "action": "sigkill", "spec": "sigkill:node2@12",
              "restored_at_s": None}  # fmt: skip
    records = _run({u: ["kept", "error", "kept"] for u in range(1, 5)})
    judgement = judge(records, [KILL, second])
    first, then = judgement.windows
    assert (first.until_s, first.failed, first.recovery_s) == (12.0, 0, 0.001)
    assert then.failed == 4 and then.recovery_s is not None and math.isfinite(then.recovery_s)
    # A restore is a window of its own: failures after it are not the kill's.
    restored = {**KILL, "spec": "sigkill:node1@10-12", "restored_at_s": 12.0, "restore": "start"}
    judgement = judge(records, [restored])
    kill, start = judgement.windows
    assert (kill.kind, start.kind, start.label) == ("fault", "restore", "start node1")
    assert (kill.failed, start.failed) == (0, 4)


def test_instability_before_the_fault_decides_the_verdict() -> None:
    records = sorted([*_run({}), _r(7.0, 1, "session_lost")], key=lambda r: r.t_s)
    _, c, _ = _all(records, [KILL])
    assert c["stable_without_fault"] is False
    assert c["verdict"].startswith("unstable without any fault (25% of users")


def test_users_pinned_to_the_dead_node_lose_their_sessions() -> None:
    _, c, _ = _all(_run({1: ["session_lost", "kept"], 3: ["session_lost"]}), [KILL])
    assert (c["users"], c["kept"], c["lost"], c["data_kept"]) == (4, 2, 2, 2)
    assert c["verdict"] == "loses 50% of sessions, 2 failed requests (40% of requests)"


def test_lost_data_with_kept_sessions_is_named() -> None:
    _, c, _ = _all(_run({2: ["data_lost", "kept"]}), [KILL])
    assert c["verdict"] == "keeps sessions, loses data of 25%, 1 failed request (20% of requests)"


def test_a_user_never_answered_at_all_is_judged_not_left_out() -> None:
    """A user whose every request failed had no session to lose: it was still never
    answered, and a run without a fault must not read "stable" over it."""
    records = sorted([*_run({}), _r(2.0, 9, "error"), _r(6.0, 9, "error")], key=lambda r: r.t_s)
    summary, c, _ = _all(records, [])
    assert (summary["users"], summary["unanswered"], summary["sessions_kept"]) == (5, 1, 4)
    assert c["verdict"] == "20% of users never answered again, 2 failed requests (14% of requests)"
    summary, c, _ = _all(records, [KILL])
    assert c["unanswered"] == 1 and not c["verdict"].startswith("survives")


def test_a_restore_that_completed_after_the_load_judges_nobody() -> None:
    """A node killed at 10 s whose start took until after the load had ended: every user
    kept its session through the kill, and nobody could ask anything after the restore.
    Judging them "unanswered" after it would read worse than what they saw; the restore's
    window says it judged nobody, and the kill's runs to the end."""
    late = {**KILL, "spec": "sigkill:node1@10-14", "restored_at_s": 15.2, "restore": "start",
            "restored_after_load": True}  # fmt: skip
    summary, c, _ = _all(_run({}), [late])
    assert c["verdict"] == "survives"
    assert (c["kept"], c["unanswered"]) == (4, 0)
    kill, start = summary["judgement"]["windows"]
    assert kill["until_s"] is None and kill["users"] == 4
    assert (start["delivered"], start["users"]) == (False, 0)
    assert window_line(start) == "not judged (completed after the load had ended): nobody judged"


def test_a_stall_without_errors_is_not_survived() -> None:
    """A node cut off from its store holds user 1's request for nine seconds, then answers
    it in its session: nothing failed and nothing was lost, but the user saw a frozen page.
    Before, the verdict read "survives"; it says how long the users waited."""
    records = _run({1: []})
    records.append(_r(19.5, 1, "kept", latency=9000.0))  # sent at 10.5 s, answered at 19.5 s
    summary, c, _ = _all(sorted(records, key=lambda r: r.t_s), [KILL])
    assert (c["kept"], c["failed_requests"]) == (4, 0)
    assert c["longest_wait_s"] == summary["longest_wait_s"] == 9.0
    assert c["verdict"] == "keeps sessions, users waited up to 9.0 s"


def test_a_user_whose_request_never_came_back_waited_to_the_end() -> None:
    """User 1's request hung on the killed node from 10 s to the run's end (no record: it
    never completed), user 3's got errors from 11 s on. Both unanswered, but the longest
    wait read 0.001 s and 'longest_wait_s < 1' held; the fault's effects said 14 s."""
    records = [r for r in _run({1: [], 3: ["error"] * 5}) if r.user != 1 or r.t_s < 10]
    records.append(_r(20.0, 2, "kept", "node2"))  # the run's last reply
    summary, c, (effects,) = _all(sorted(records, key=lambda r: r.t_s), [KILL])
    assert c["unanswered"] == 2
    # From the fault to the run's last record; user 3 from its last error (15.03 s) on.
    assert c["longest_wait_s"] == summary["longest_wait_s"] == 10.0
    assert effects["longest_wait_on_target_s"] == pytest.approx(14.99)
    assert metric_values(summary)["longest_wait_s"] == 10.0


STOPPED = {**KILL, "action": "sigstop", "spec": "sigstop:node1@10"}


def test_an_answered_user_whose_next_request_hung_until_the_stop_was_never_answered_again() -> None:
    """A node stopped at 10 s: every user is answered on node2 at 11 s, then user 1's next
    request (sent at 11.5 s) goes to the stopped node and hangs until Locust stops at
    20 s. Locust writes no record of it: the run read "survives", nobody having waited.
    The locustfile now writes what was in flight at the stop: that user waited, and was
    never answered again, as if its request had timed out into an error."""
    records = _run({})
    hung = Unfinished(user=1, sent_s=11.5, stopped_s=20.0)
    summary, c, (effects,) = _all(records, [STOPPED], [hung])
    assert (c["kept"], c["unanswered"]) == (3, 1)
    # Without a reply from its last one (11.01 s) to the stop: the verdict and the fault's
    # effects say so.
    assert c["longest_wait_s"] == summary["longest_wait_s"] == 8.99
    assert effects["longest_wait_on_target_s"] == pytest.approx(8.99)
    assert effects["unanswered_on_target"] == 1
    assert c["verdict"] == (
        "25% of users never answered again, never recovered, users waited up to 9.0 s"
    )
    assert metric_values(summary)["longest_wait_s"] == 8.99
    # The same user with a timeout's error at 19.9 s instead reads the same.
    timed_out = sorted([*records, _r(19.9, 1, "error", latency=8400.0)], key=lambda r: r.t_s)
    _, c, _ = _all(timed_out, [STOPPED])
    assert (c["kept"], c["unanswered"], c["recovered"]) == (3, 1, False)
    # Each user's last request of a healthy run is in flight at the stop, too: a few ms.
    last = [Unfinished(user=u, sent_s=11.05 + u / 100, stopped_s=11.2) for u in range(1, 5)]
    _, c, _ = _all(records, [STOPPED], last)
    assert c["verdict"] == "survives"
    # A hang across the fault counts from the fault.
    summary, _, _ = _all(records, [STOPPED], [Unfinished(1, 9.0, 16.0)])
    assert summary["longest_wait_s"] == 6.0
    # A user whose last replies were errors is unanswered: it waited from its last record
    # (12.01 s) to the run's end, which is now the stop, not the last record (12.04 s).
    records = _run({1: ["error", "error"]})
    summary, _, _ = _all(records, [STOPPED], [Unfinished(1, 12.5, 16.0)])
    assert summary["longest_wait_s"] == pytest.approx(0.002 + 16.0 - 12.01)


def test_a_user_whose_only_request_never_came_back_is_judged() -> None:
    """User 9 sent its first request at 0.5 s and had no reply when the load stopped: it
    asked and was never answered, like a user whose every reply was an error."""
    summary, c, _ = _all(_run({}), [], [Unfinished(user=9, sent_s=0.5, stopped_s=16.0)])
    assert (summary["users"], summary["users_seen"], summary["unanswered"]) == (5, 5, 1)
    assert c["verdict"].startswith("20% of users never answered again")
    # A web UI's Ctrl-C cut a new user's first request short after 0.2 s: the stop, not the
    # cluster, may have kept its reply away: seen, not judged.
    summary, c, _ = _all(_run({}), [], [Unfinished(user=9, sent_s=15.8, stopped_s=16.0)])
    assert (summary["users"], summary["users_seen"], summary["unanswered"]) == (4, 5, 0)
    assert c["verdict"] == "stable"


def test_waits_add_up_over_errors_until_a_reply_and_a_short_one_survives() -> None:
    """User 1 waits 0.6 s for an error and 0.6 s more for its answer: 1.2 s without a
    reply. Each request alone is under a second; together the user noticed."""
    after = {1: ["error", "kept"]}
    records = [
        r._replace(latency_ms=600.0) if r.user == 1 and r.t_s > 10 else r for r in _run(after)
    ]
    _, c, _ = _all(records, [KILL])
    assert c["longest_wait_s"] == 1.2
    assert c["verdict"].startswith("keeps sessions, users waited up to 1.2 s")
    # The same run with 0.4 s replies: nobody waited a second.
    quick = [r._replace(latency_ms=400.0) if r.user == 1 and r.t_s > 10 else r for r in records]
    _, c, _ = _all(quick, [KILL])
    assert c["longest_wait_s"] == 0.8
    assert "waited" not in c["verdict"]


REDEPLOY = {"at_s": 10.0, "target": "node1", "action": "redeploy", "spec": "redeploy:node1@10-14",
            "restored_at_s": 14.0, "restore": "deploy"}  # fmt: skip


def test_a_user_answered_only_before_the_fault_reached_it_is_not_kept() -> None:
    """A redeploy answers in the old context until the undeploy is done: user 1 is
    answered in its session at 10.5 s, then gets only errors until the application is
    back, and after that a new session. Before, the redeploy's window judged it "kept"
    (it had been answered in its session inside the window); its users saw the page go."""
    steady = ["kept"] * 4  # 11, 12, 13 and 14 s
    records = _run({1: ["error", "error", "error", "session_lost"], 2: steady, 3: steady,
                    4: steady})  # fmt: skip
    records.append(_r(10.5, 1, "kept"))
    summary, c, effects = _all(sorted(records, key=lambda r: r.t_s), [REDEPLOY])
    redeploy, deploy = summary["judgement"]["windows"]
    assert redeploy["fates"]["unanswered"] == 1 and redeploy["fates"]["kept"] == 3
    assert deploy["fates"]["session_lost"] == 1
    assert redeploy["recovery_s"] is None  # never recovered inside its window
    assert (c["lost"], c["kept"]) == (1, 3)
    (effect,) = effects  # the redeploy's own effects: user 1 was on its node
    assert (effect["kept_on_target"], effect["unanswered_on_target"]) == (1, 1)


def test_a_user_whose_replies_end_in_errors_for_good_is_not_kept() -> None:
    """Answered in its session at 10.2 s, just before the kill reached its node, then only
    errors to the end of the run: that user was never answered again, with a fault and
    without one (the control window runs to the end). Before, both read "kept"."""
    records = sorted([*_run({1: ["error", "error"]}), _r(10.2, 1, "kept")], key=lambda r: r.t_s)
    summary, c, _ = _all(records, [KILL])
    assert (c["kept"], c["unanswered"]) == (3, 1)
    assert not c["verdict"].startswith("survives")
    summary, c, _ = _all(records, [])
    assert (summary["sessions_kept"], summary["unanswered"]) == (3, 1)
    assert c["verdict"].startswith("25% of users never answered again")


def test_errors_at_a_windows_end_answered_in_session_after_it_keep_the_user() -> None:
    """A node restarting answers user 1 with an error just before its restore; its next
    reply, in the restore's window, is its own session's. It got good replies after the
    kill and after the restore: kept in both windows, as it saw."""
    start = {**KILL, "spec": "sigkill:node1@10-13", "restored_at_s": 13.5, "restore": "start"}
    steady = ["kept"] * 4  # 11, 12, 13 and 14 s
    records = _run({1: ["kept", "kept", "error", "kept"], 2: steady, 3: steady, 4: steady})
    summary, c, _ = _all(records, [start])
    kill, restore = summary["judgement"]["windows"]
    assert kill["fates"]["kept"] == restore["fates"]["kept"] == 4
    assert c["kept"] == 4


def test_a_touch_whose_reload_the_run_ended_before_says_it_was_not_judged() -> None:
    """The users kept their sessions, but the reload the touch was to cause was neither
    seen nor waited for: the verdict says so rather than read as a reload survived."""
    touch = {"at_s": 8.0, "touched_at_s": 8.0, "watched_until_s": 13.0, "target": "node1",
             "action": "touch", "parts": ["node1"], "restored_at_s": None,
             "spec": "touch:node1@8"}  # fmt: skip
    records = _run({})
    judgement = judge(records, [touch])
    c = verdict_of(judgement, balancer="nginx-rr", sessions="redis", not_judged=not_judged([touch]))
    assert c["verdict"] == (
        "survives; not judged: whether Tomcat reloads after touch:node1@8 "
        "(the load ended 5 s after it)"
    )
    (effects,) = summarize(records, [touch], judgement)["fault_effects"]
    assert effects["reloaded"] is None and effects["reload_watched_s"] == 5.0
    # Watched its whole notice with no reload: Tomcat did not reload, and that is judged.
    seen = {k: v for k, v in touch.items() if k != "watched_until_s"}
    assert not_judged([seen]) == []
    assert (
        summarize(records, [seen], judge(records, [seen]))["fault_effects"][0]["reloaded"] is False
    )


def test_users_first_answered_after_the_fault_are_named_as_not_judged() -> None:
    """Users whose first reply came after the kill (the load flowed late, or they arrived
    later) are judged by no window: the verdict speaks for the four it judged and says
    that two of the six it saw are outside it, rather than read as if it judged them all."""
    late = [_r(11.5, 5, "new", "node2"), _r(12.5, 5, "kept", "node2"),
            _r(11.6, 6, "error"), _r(12.6, 6, "new", "node2")]  # fmt: skip
    records = sorted(_run({}) + late, key=lambda r: r.t_s)
    judgement = judge(records, [KILL])
    assert (judgement.users, judgement.users_seen) == (4, 6)
    c = verdict_of(judgement, balancer="nginx-rr", sessions="redis")
    assert c["users"] == 4
    assert c["not_judged"] == ["2 of 6 users, with no reply before sigkill node1 at 10.0 s"]
    assert c["verdict"] == (  # user 6's error after the kill still counts as failed
        "keeps sessions; not judged: 2 of 6 users, with no reply before sigkill node1 at "
        "10.0 s, 1 failed request (12% of requests)"
    )
    # Without a fault every user with a reply is judged by the control: nothing to say.
    assert "not_judged" not in verdict_of(judge(records, []), balancer="b", sessions="s")


HEALED = {"at_s": 10.0, "target": "node1-redis", "action": "partition", "restore": "heal",
          "spec": "partition:node1-redis@10-14", "restored_at_s": 14.0}  # fmt: skip


def test_users_answered_again_after_the_heal_read_unanswered_until_it() -> None:
    """A partition healed at 14 s: user 1 got only errors while it lasted and its own
    session right after the heal, user 3 errors to the end. Before, both read "never
    answered again", though the heal's window kept user 1. The counts stay the worst fate."""
    summary, c, _ = _all(
        _run({1: ["error"] * 4 + ["kept"], 2: ["kept"] * 5, 3: ["error"] * 5, 4: ["kept"] * 5}),
        [HEALED],
    )
    assert (c["unanswered"], c["answered_again"], c["kept"]) == (2, 1, 2)
    assert c["answered_again_after"] == ["heal node1-redis"]
    assert summary["unanswered"] == 2 and summary["answered_again"] == 1
    assert summary["judgement"]["answered_again"] == 1
    assert fates_line(summary["judgement"]["fates"], 4, 1) == (
        "4 users: 2 kept session and data, 0 saw a replayed request, 2 got no good reply "
        "after it (1 of them answered in their session after a heal or restart), 0 lost "
        "data, 0 lost their session"
    )
    assert c["verdict"].startswith(
        "25% of users never answered again, 25% of users unanswered until heal node1-redis, "
        "never recovered"
    )
    assert (c["recovered"], c["recovered_after"]) == (False, None)


def test_a_fault_recovered_only_after_its_heal_says_so() -> None:
    """Every user unanswered while the partition lasted came back in its session after
    the heal: not "never recovered", not "never answered again"; not "survives" either,
    and the fault's own recovery stays never."""
    records = _run({u: ["error"] * 4 + ["kept"] if u % 2 else ["kept"] * 5 for u in range(1, 5)})
    _, c, _ = _all(records, [HEALED])
    assert (c["unanswered"], c["answered_again"], c["recovered"]) == (2, 2, False)
    assert c["recovery_s"] is None
    assert c["recovered_after"] == "heal node1-redis"
    assert c["recovery_after_s"] == pytest.approx(0.04)
    assert c["verdict"] == (
        "50% of users unanswered until heal node1-redis, recovered only 0.04 s after heal "
        "node1-redis, 8 failed requests (40% of requests)"
    )
    assert recovery_words(c) == "0.04 s after heal node1-redis"
    # Without its heal the same users are never answered again.
    records = _run({u: ["error"] * 5 if u % 2 else ["kept"] * 5 for u in range(1, 5)})
    _, c, _ = _all(records, [HEALED])
    assert (c["answered_again"], c["recovered_after"]) == (0, None)
    assert "50% of users never answered again, never recovered" in c["verdict"]


def test_never_answered_again_is_a_check_and_old_runs_are_not_judged_by_it() -> None:
    summary, _, _ = _all(
        _run({1: ["error"] * 4 + ["kept"], 2: ["kept"] * 5, 3: ["error"] * 5, 4: ["kept"] * 5}),
        [HEALED],
    )
    values = metric_values(summary)
    assert (values["unanswered"], values["never_answered_again"]) == (2, 1)
    del summary["answered_again"]  # a run written before the count
    assert metric_values(summary)["never_answered_again"] is None
