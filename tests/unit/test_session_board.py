"""The Sessions tab's counts and HDR histograms: per process, and merged as on a master."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from session_board import ALL, Latencies, SessionBoard, new_histogram

from harness.results.run_folder import HDR_FILE, hdr_summary, load_histograms

# (user, outcome, node, latency_ms): user 1 keeps everything, user 2 loses its session,
# user 1001 (a second worker's numbering) loses data, then is answered only by errors.
EVENTS = [
    (1, "new", "node1", 5.0),
    (2, "new", "node2", 7.5),
    (1001, "new", "node1", 3.25),
    (1, "kept", "node2", 4.0),
    (2, "session_lost", "node1", 120.0),
    (1001, "data_lost", "node2", 9.0),
    (1, "replayed", "node1", 6.0),
    (1001, "error", "", 30000.0),
]


def _observe(board: SessionBoard, events: list[tuple[int, str, str, float]]) -> None:
    for event in events:
        board.observe(*event)


def test_counts_follow_each_users_worst_outcome() -> None:
    board = SessionBoard()
    _observe(board, EVENTS)
    c = board.counts()
    assert c["users"] == 3
    assert c["sessions_kept"] == 2  # users 1 and 1001
    assert c["sessions_lost"] == 1
    # The results' fates, each user once: 1 saw a replay, 2 lost it, 1001 lost data.
    assert c["fates"] == {"session_lost": 1, "data_lost": 1, "unanswered": 0, "replayed": 1,
                          "kept": 0}  # fmt: skip
    assert c["data_lost"] == 1
    assert c["replayed"] == 1
    assert c["requests"] == 8
    assert c["node_requests"] == {"node1": 4, "node2": 3}
    # The last answered reply of each user: 1 -> node1, 2 -> node1, 1001 -> node2.
    assert c["users_on_node"] == {"node1": 2, "node2": 1}
    assert c["outcomes"]["error"] == 1


def test_worker_deltas_merged_on_a_master_equal_one_board_of_everything() -> None:
    whole, master = SessionBoard(), SessionBoard()
    _observe(whole, EVENTS)
    workers = [SessionBoard(), SessionBoard()]
    for i, event in enumerate(EVENTS):
        workers[event[0] // 1000].observe(*event)
        if i % 3 == 2:  # reports at arbitrary points, as every 3 s
            for worker in workers:
                master.merge(json.loads(json.dumps(worker.delta())))
    for worker in workers:
        master.merge(json.loads(json.dumps(worker.delta())))
    assert master.counts() == whole.counts()
    # A delta forgets what it sent: a second one right after is empty.
    empty = {"users": {}, "nodes": {}, "outcomes": {}, "hdr": {}, "first_epoch": None}
    assert workers[0].delta() == empty


def test_merged_hdr_percentiles_equal_one_histogram_of_all_values() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(2.5, 1.0) for _ in range(5000)]
    single, merged = Latencies(), Latencies()
    parts = [Latencies() for _ in range(3)]
    for i, v in enumerate(values):
        single.record("node1", v)
        parts[i % 3].record("node1", v)
    for part in parts:
        merged.add_encoded(part.encode())
    assert merged.percentiles_ms() == single.percentiles_ms()
    p99 = merged.percentiles_ms()
    assert p99 is not None
    exact = sorted(values)[int(0.99 * len(values)) - 1]
    # HDR with 3 significant digits: within 0.1% (plus the 1 us rounding of each value).
    assert p99["p99_ms"] == pytest.approx(exact, rel=2e-3, abs=0.002)
    assert p99["count"] == 5000


def test_rows_show_nodes_latency_and_faults() -> None:
    board = SessionBoard()
    _observe(board, EVENTS)
    board.observe(1, "kept", "node1", 1.0, epoch=100.0)
    board.faults = [
        {"action": "sigkill", "target": "node1", "epoch": 110.5, "at_utc": "T1", "source": "web UI"}
    ]
    rows = {r["what"]: r for r in board.rows()}
    assert rows["scenario"]["value"] == "counter"
    assert rows["lost their session"]["value"] == "1"
    assert rows["node node1"]["value"] == "5"
    assert rows["latency (HDR)"]["value"].startswith("p50 ")
    assert rows["fault"]["value"] == "sigkill node1"
    assert rows["fault"]["detail"] == "at T1 (t+10.5 s) from web UI"


def test_hdr_file_round_trips_into_the_results_summary(tmp_path: Path) -> None:
    latencies = Latencies()
    for v in (1.0, 2.0, 3.0, 400.0):
        latencies.record("node2", v)
    latencies.write(tmp_path / HDR_FILE, processes=2)
    histograms = load_histograms(tmp_path / HDR_FILE)
    assert histograms[ALL].get_total_count() == 4
    summary = hdr_summary(tmp_path / HDR_FILE)
    assert summary is not None
    assert summary["processes"] == 2
    assert summary["count"] == 4
    assert summary["p50_ms"] == pytest.approx(2.0, rel=1e-3)
    assert summary["max_ms"] == pytest.approx(400.0, rel=1e-3)
    assert set(summary["per_node"]) == {"node2"}
    assert hdr_summary(tmp_path / "absent.json") is None


def test_a_broken_hdr_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / HDR_FILE
    path.write_text(json.dumps({"format": "tomcat-bench/latency-hdr", "unit": "us",
                                "histograms": {"all": "not base64 of anything"}}))  # fmt: skip
    with pytest.raises(ValueError, match=f"{HDR_FILE}: histograms: not HdrHistogram's encoding"):
        load_histograms(path)
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="format: expected"):
        load_histograms(path)


def test_latencies_beyond_the_range_are_clamped_not_lost() -> None:
    latencies = Latencies()
    latencies.record("node1", 0.0)
    latencies.record("node1", 10**9)
    assert latencies.histograms[ALL].get_total_count() == 2
    assert new_histogram().get_total_count() == 0


def test_the_runs_clock_starts_at_the_first_request_of_any_worker() -> None:
    master, early, late = SessionBoard(), SessionBoard(), SessionBoard()
    late.observe(1001, "new", "node1", 2.0, epoch=50.0)
    early.observe(1, "new", "node2", 2.0, epoch=40.0)
    early.observe(1, "kept", "node2", 2.0, epoch=45.0)
    master.merge(late.delta())
    assert master.first_epoch == 50.0
    master.merge(early.delta())
    assert master.first_epoch == 40.0


def test_a_user_not_answered_since_the_latest_fault_is_unanswered_as_in_the_results() -> None:
    """Issue 13: the tab reads the judgement's words and rules (live: since the latest
    delivered fault), not counts of its own."""
    board = SessionBoard()
    board.observe(1, "new", "node1", 1.0, epoch=100.0)
    board.observe(2, "new", "node2", 1.0, epoch=100.1)
    board.faults = [{"epoch": 101.0, "action": "sigkill", "target": "node1"}]
    board.observe(1, "error", "", 50.0, epoch=102.0)
    board.observe(2, "kept", "node2", 1.0, epoch=102.0)
    board.observe(3, "error", "", 9.0, epoch=100.2)  # never answered at all
    c = board.counts()
    assert c["fates"]["unanswered"] == 2 and c["fates"]["kept"] == 1
    assert c["sessions_kept"] == 1
    rows = {r["what"]: r["value"] for r in board.rows()}
    assert rows["got no good reply after it"] == "2"
    assert rows["kept session and data"] == "1"
    # A fault that was not delivered judges nobody: user 4, answered only before it, is
    # kept. Users 3 (never answered) and 1 (its latest reply an error) are unanswered.
    board.observe(4, "new", "node2", 1.0, epoch=100.3)
    board.faults = [{"epoch": 101.0, "fault_error": "node1 is not running"}]
    assert board.counts()["fates"]["unanswered"] == 2
    assert board.counts()["fates"]["kept"] == 2


def test_a_user_whose_latest_reply_is_an_error_is_unanswered_as_in_the_results() -> None:
    """User 1 is answered just after the kill (its node had not died yet), then only gets
    errors: the results judge it unanswered, so must the tab, until its session answers
    again. The state crosses from a worker to the master whole."""
    board, master = SessionBoard(), SessionBoard()
    board.observe(1, "new", "node1", 1.0, epoch=100.0)
    board.faults = master.faults = [{"epoch": 101.0, "action": "sigkill", "target": "node1"}]
    board.observe(1, "kept", "node1", 1.0, epoch=101.1)
    board.observe(1, "error", "", 5.0, epoch=102.0)
    master.merge(board.delta())
    for b in (board, master):
        assert b.counts()["fates"]["unanswered"] == 1
    board.observe(1, "kept", "node2", 1.0, epoch=103.0)
    assert board.counts()["fates"]["kept"] == 1


def test_the_scenario_row_says_what_each_scenario_checks() -> None:
    board = SessionBoard()
    board.scenario = "parallel:4"
    rows = {r["what"]: r for r in board.rows()}
    assert rows["scenario"]["value"] == "parallel:4"
    assert rows["scenario"]["detail"].startswith("4 requests of a session at once")
    board.scenario = "readonly"
    assert {r["what"]: r for r in board.rows()}["scenario"]["detail"].endswith("stay put")
