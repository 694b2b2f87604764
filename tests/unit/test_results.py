import json
from pathlib import Path

import pytest

from harness.results.folders import new_run_dir
from harness.results.run_folder import (
    Record,
    load_records,
    manifest,
    percentile,
    read_manifest,
    summarize,
    write_manifest,
    write_records,
)


def _rec(t: float, user: int, session: str, counter: int | None, outcome: str) -> Record:
    node = "" if outcome == "error" else f"node{1 + user % 2}"
    return Record(
        t, user, session, node, counter, outcome, 1.0 + t, 0 if outcome == "error" else 200
    )


def _scenario() -> list[Record]:
    """Three users; the fault at t=10: user 1 keeps everything, user 2 loses its
    session, user 3 keeps its session but loses one update."""
    records = []
    for user, session in ((1, "A"), (2, "B"), (3, "C")):
        for i in range(5):
            records.append(
                _rec(float(i * 2 + user / 10), user, session, i + 1, "new" if i == 0 else "kept")
            )
    records += [
        _rec(11.1, 1, "A", None, "error"),
        _rec(12.1, 1, "A", 6, "kept"),
        _rec(11.2, 2, "Z", 1, "session_lost"),
        _rec(11.3, 3, "C", 5, "data_lost"),
        _rec(12.3, 3, "C", 6, "kept"),
    ]
    return sorted(records, key=lambda r: r.t_s)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 50) == 3.0


def test_summary_counts_users_by_what_happened_to_them() -> None:
    faults = [{"at_s": 10.0, "target": "node1", "action": "sigkill", "restored_at_s": None}]
    summary = summarize(_scenario(), faults)
    assert summary["requests"] == 20
    assert summary["failures"] == 3
    assert summary["errors"] == 1
    assert summary["users"] == 3
    assert summary["sessions_kept"] == 2
    assert summary["sessions_lost"] == 1
    assert summary["data_lost"] == 1
    assert summary["replayed"] == 0
    assert summary["faults"] == [{"at_s": 10.0, "target": "node1", "action": "sigkill"}]
    assert summary["judgement"]["fates"] == {
        "session_lost": 1, "data_lost": 1, "unanswered": 0, "replayed": 0, "kept": 1
    }  # fmt: skip
    for key in ("rps", "p50_ms", "p95_ms", "p99_ms"):
        assert summary[key] > 0


def test_a_user_with_only_errors_after_the_fault_is_unanswered_not_kept() -> None:
    records = [_rec(1.0, 1, "A", 1, "new"), _rec(11.0, 1, "A", None, "error")]
    summary = summarize(records, [{"at_s": 10.0, "target": "node1", "action": "sigkill"}])
    assert (summary["users"], summary["sessions_kept"], summary["unanswered"]) == (1, 0, 1)


def test_records_round_trip_at_microsecond_resolution(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv.gz"
    records = [
        Record(0.000001, 1, "A", "node1", 1, "new", 0.123, 200),
        _rec(2.5, 2, "", None, "error"),
    ]
    write_records(path, records)
    assert load_records(path) == records


def test_new_run_dir_never_reuses_a_folder(tmp_path: Path) -> None:
    first = new_run_dir("p", tmp_path)
    (first / "keep.txt").write_text("user data")
    second = new_run_dir("p", tmp_path)
    assert first != second
    assert (first / "keep.txt").read_text() == "user data"


def test_manifest_round_trips_and_checks_its_schema(tmp_path: Path) -> None:
    data = manifest(run_id="r", start_epoch=1.0, end_epoch=2.5, summary={"requests": 1})
    write_manifest(tmp_path, data)
    loaded = read_manifest(tmp_path)
    assert loaded["schema_version"] == 4
    assert loaded["duration_s"] == 1.5
    assert loaded["machine"]["cores"] >= 1
    (tmp_path / "run.json").write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version: this harness reads 1, 2, 3, 4, got 99"):
        read_manifest(tmp_path)
