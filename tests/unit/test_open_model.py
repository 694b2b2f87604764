"""The open model: a user's fixed schedule, and latencies corrected for coordinated omission."""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import pytest
from session_tracking import ArrivalSchedule

from harness.report.compare import Thresholds, compare_runs
from harness.results.checks import evaluate, parse_checks
from harness.results.run_folder import (
    Record,
    convert_raw_records,
    load_records,
    read_manifest,
    summarize,
    write_records,
)
from tests.unit.test_compare import A, B, edit_manifest


def test_a_fast_server_holds_nothing_back_so_corrected_equals_measured() -> None:
    schedule = ArrivalSchedule(interval_s=0.1, user_index=0, users=1, now=100.0)
    for k in range(5):
        due = 100.0 + 0.1 * k
        assert schedule.wait(now=due - 0.05) == pytest.approx(0.05)
        # Sent a little after its due time (a timer), replied 5 ms later: not held back.
        held = schedule.sent(due + 0.002, reply_s=due + 0.007)
        assert held == 0.0
        assert 5.0 + held * 1000.0 == 5.0  # the locustfile's correction


def test_a_slow_server_holds_requests_back_and_corrected_grows() -> None:
    schedule = ArrivalSchedule(interval_s=0.1, user_index=0, users=1, now=100.0)
    sent, measured, corrected = 100.0, [], []
    for _ in range(5):
        reply = sent + 0.25  # each reply takes 250 ms, the schedule wants one per 100 ms
        due = schedule.next_s
        held = schedule.sent(sent, reply_s=reply)
        measured.append(250.0)
        corrected.append(250.0 + held * 1000.0)  # as session_stability.py corrects
        assert corrected[-1] == pytest.approx(250.0 + max(0.0, sent - due) * 1000, abs=1e-3)
        sent = reply  # the user's next request leaves at once: it is already late
    assert corrected[0] == measured[0]  # the first was on time
    assert all(c >= m for c, m in zip(corrected, measured, strict=True))
    assert corrected == sorted(corrected) and corrected[-1] > corrected[1] > measured[1]


def test_users_are_spread_over_one_interval() -> None:
    starts = [
        ArrivalSchedule(interval_s=1.0, user_index=i, users=4, now=0.0).next_s for i in range(4)
    ]
    assert starts == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(ValueError, match="arrival interval 0"):
        ArrivalSchedule(interval_s=0, user_index=0, users=1)


def test_a_request_sent_early_is_never_held_back() -> None:
    """The correction only ever adds: a request sent before its due time holds nothing back."""
    schedule = ArrivalSchedule(interval_s=0.1, user_index=0, users=1, now=100.0)
    assert schedule.sent(99.997, reply_s=100.01) == 0.0


def _raw(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "raw.csv"
    header = "epoch,user,session,node,counter,outcome,latency_ms,status,intended_epoch,corrected_ms"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_open_model_records_keep_intended_time_and_corrected_latency(tmp_path: Path) -> None:
    raw = _raw(
        tmp_path,
        [
            "1000.5,1,S,node1,1,new,4.000,200,1000.496,4.000",
            "1001.5,1,S,node1,2,kept,6.000,200,1001.2,306.000",
        ],
    )
    records = convert_raw_records([raw], start_epoch=1000.0)
    assert [(r.intended_s, r.corrected_ms) for r in records] == [(0.496, 4.0), (1.2, 306.0)]
    write_records(tmp_path / "requests.csv.gz", records)
    assert load_records(tmp_path / "requests.csv.gz") == records
    summary = summarize(records, [])
    assert summary["latency_for_verdicts"] == "corrected"
    assert summary["corrected"]["p99_ms"] == 306.0
    assert summary["p99_ms"] == 6.0  # the measured stay beside them


def _paced(t: float, user: int, outcome: str, latency_ms: float) -> Record:
    error = outcome == "error"
    return Record(
        t, user, "" if error else "S", "" if error else "node1", None if error else 1,
        outcome, latency_ms, 502 if error else 200, corrected_ms=latency_ms, intended_s=t,
    )  # fmt: skip


def test_fast_errors_never_lower_the_corrected_latency_the_checks_read() -> None:
    """The corrected percentiles counted every request: 90 errors in 0.5 ms pulled a run
    answered in 900 ms down to a corrected p50 of 0.5 ms, and `p50_ms < 300` held."""
    slow = [_paced(1.0 + i * 0.5, 1, "kept" if i else "new", 900.0) for i in range(20)]
    fast_errors = [_paced(1.2 + i * 0.1, 2, "error", 0.5) for i in range(90)]
    summary = summarize(sorted(slow + fast_errors), [])
    assert summary["p50_ms"] == summary["corrected"]["p50_ms"] == 900.0
    (result,) = evaluate(parse_checks(["p50_ms < 300"]), summary)
    assert not result.held and result.value == 900.0


def test_an_open_run_of_only_errors_has_no_corrected_latency_to_pass() -> None:
    records = [_paced(1.0 + i * 0.1, 1 + i % 5, "error", 2.0) for i in range(100)]
    summary = summarize(records, [])
    assert summary["answered"] == 0
    assert summary["latency_for_verdicts"] == "corrected"
    assert all(math.isnan(v) for v in summary["corrected"].values())
    for check in ("p99_ms < 300", "max_ms != 5"):
        (result,) = evaluate(parse_checks([check]), summary)
        assert not result.held and result.value is None, check


def test_closed_model_records_have_no_schedule_and_no_extra_columns(tmp_path: Path) -> None:
    raw = _raw(tmp_path, ["1000.5,1,S,node1,1,new,4.000,200,,"])
    records = convert_raw_records([raw], start_epoch=1000.0)
    assert records == [Record(0.5, 1, "S", "node1", 1, "new", 4.0, 200)]
    write_records(tmp_path / "requests.csv.gz", records)
    with gzip.open(tmp_path / "requests.csv.gz", "rt") as stream:
        header = stream.readline().strip()
    assert header == "t_s,user,session,node,counter,outcome,latency_ms,status"
    assert "latency_for_verdicts" not in summarize(records, [])


def _as_open_model(source: Path, target: Path, held_ms: float) -> Path:
    """A fixture run as if paced: every request held back held_ms."""
    shutil.copytree(source, target)
    records = [
        r._replace(corrected_ms=r.latency_ms + held_ms, intended_s=r.t_s)
        for r in load_records(target / "requests.csv.gz")
    ]
    write_records(target / "requests.csv.gz", records)
    faults = read_manifest(target)["faults"]
    edit_manifest(target, lambda m: m.update(summary=summarize(records, faults)))
    return target


def test_compare_judges_open_model_runs_by_corrected_latency(tmp_path: Path) -> None:
    base = _as_open_model(A, tmp_path / "base", held_ms=0.0)
    head = _as_open_model(B, tmp_path / "head", held_ms=500.0)
    comparison = compare_runs(base, head, Thresholds())
    assert "latency compared as corrected for coordinated omission (open model)" in (
        comparison.notes
    )
    p50 = comparison.metric("latency p50")
    assert p50.head == read_manifest(head)["summary"]["corrected"]["p50_ms"]
    assert p50.verdict.value == "regression"


def test_compare_says_for_each_run_whose_throughput_it_is(tmp_path: Path) -> None:
    base = _as_open_model(A, tmp_path / "base", held_ms=0.0)
    head = _as_open_model(B, tmp_path / "head", held_ms=0.0)
    telemetry = {"cpu_cores_mean": {"generator": 0.42, "node1": 0.8}, "generator_bound": False}
    edit_manifest(head, lambda m: m["summary"].update(telemetry=telemetry))
    notes = compare_runs(base, head, Thresholds()).notes
    assert "base: no telemetry recorded: whose throughput it is cannot be told" in notes
    assert "head: throughput is the server's (locust used 0.42 cores, not the limit)" in notes
