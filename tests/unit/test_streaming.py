"""report and compare of a requests.parquet read batch by batch (results/streaming.py,
results/columnar_judgement.py): the same numbers as the whole-table path, batch sizes down to
one row, so a 100M-row run is reported and compared without holding its rows. Each test
forces the batches and forbids the whole-table reader, so a batch dropped or counted twice
fails it instead of falling back."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.load import results_timing
from harness.load.results_timing import make_run
from harness.report import compare as compare_module
from harness.report import run as run_module
from harness.report.compare import Comparison, compare_runs, load_thresholds, render_markdown
from harness.report.run import REPORT_COLUMNS, read_charts, request_charts, write_report
from harness.results.columnar_judgement import BatchJudge, judge_columns
from harness.results.requests import (
    ROW_GROUP_ROWS,
    Requests,
    from_records,
    read_requests,
    sorted_by_time,
    write_parquet,
)
from harness.results.run_folder import Record, nearest_rank, read_manifest, summarize
from harness.results.streaming import (
    CountedValues,
    NotInTimeOrder,
    SecondPercentiles,
    Streaming,
    batches,
)
from tests.unit.judging import judge_batches, random_run, random_unfinished

WHOLE = Streaming(above_rows=1 << 62)  # never in batches


def _in_batches(batch_rows: int) -> Streaming:
    return Streaming(above_rows=0, batch_rows=batch_rows)


def _no_whole_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The streamed path may not fall back to reading the table whole (as it would on a
    file out of time order, which a batch read twice looks like)."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("read whole, not in batches")

    monkeypatch.setattr(run_module, "read_requests", refuse)
    monkeypatch.setattr(compare_module, "read_requests", refuse)


def _write(path: Path, table: pa.Table, row_group_rows: int = ROW_GROUP_ROWS) -> Path:
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_rows)
    return path


def _open_model(source: Path, target: Path, *, missing: bool = False) -> Path:
    """A copy of a synthetic run as a fixed-rate run writes it: every request with an
    intended time and a corrected latency (one without, if missing)."""
    target.mkdir(parents=True)
    table = pq.read_table(source / "requests.parquet")
    latency = table.column("latency_ms").to_numpy()
    rng = np.random.default_rng(9)
    corrected = np.round(latency + rng.choice([0.0, 0.0, 3.25, 1500.0], len(latency)), 3)
    mask = np.zeros(len(latency), dtype=bool)
    mask[len(mask) // 2] = missing
    t = table.column("t_s").to_numpy()
    table = table.append_column("intended_s", pa.array(t - corrected / 1000))
    table = table.append_column("corrected_ms", pa.array(corrected, mask=mask))
    _write(target / "requests.parquet", table, row_group_rows=700)
    (target / "run.json").write_text((source / "run.json").read_text())
    return target


# --------------------------------------------------------------------------- judgement


@pytest.mark.parametrize("seed", range(200))
def test_the_judgement_in_batches_is_the_columnar_judgement(seed: int) -> None:
    records, faults = random_run(seed)
    rng = random.Random(seed)
    if seed % 3 == 1:  # ids beyond the table of small ids
        records = [r._replace(user=r.user * 10_000_019 + 5) for r in records]
    if seed % 3 == 2:  # a negative latency: the row-by-row walk of the waits
        records = [r._replace(latency_ms=-r.latency_ms) if rng.random() < 0.1 else r
                   for r in records]  # fmt: skip
    unfinished = random_unfinished(seed, records) if seed % 2 else []
    requests = from_records(records)
    whole = judge_columns(requests, faults, unfinished)
    for batch_rows in (1, 3, 1000):
        batched = judge_batches(requests, faults, batch_rows, unfinished)
        assert batched == whole
        assert batched.to_json() == whole.to_json()
        # The same users in the same order, as verdicts and the Sessions tab list them.
        for mine, theirs in zip((batched.control, *batched.windows),
                                (whole.control, *whole.windows), strict=True):  # fmt: skip
            assert list(mine.fates) == list(theirs.fates)
            assert list(mine.nodes) == list(theirs.nodes)
            assert list(mine.nodes_after) == list(theirs.nodes_after)


@pytest.mark.parametrize("fault", ["dropped", "twice"])
def test_a_batch_dropped_or_judged_twice_shows(fault: str) -> None:
    """The equality above is no accident of the data: one batch more or less differs."""
    records, faults = random_run(7)
    requests = sorted_by_time(from_records(records))
    whole = judge_columns(requests, faults)
    judge = BatchJudge(faults)
    for start in range(0, len(requests), 5):
        batch = Requests(requests.table.slice(start, 5))
        repeats = {"dropped": 0, "twice": 2}[fault] if start == 10 else 1
        for _ in range(repeats):
            judge.add(batch, start)
    assert judge.judgement() != whole


# --------------------------------------------------------------------------- reading


def test_batches_hold_every_row_once_in_order_across_row_groups(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 3000, seed=2)
    table = pq.read_table(run / "requests.parquet")
    path = _write(tmp_path / "groups.parquet", table, row_group_rows=1000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    got = list(batches(path, REPORT_COLUMNS, batch_rows=400))
    assert [b.offset for b in got] == [0, 400, 800, 1000, 1400, 1800, 2000, 2400, 2800]
    t = np.concatenate([b.requests.t_s for b in got])
    assert np.array_equal(t, table.column("t_s").to_numpy())


def test_a_file_out_of_time_order_is_refused_in_batches_and_read_whole(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2000, seed=2)
    path = run / "requests.parquet"
    table = pq.read_table(path)
    swapped = pa.concat_tables([table.slice(1000), table.slice(0, 1000)])
    _write(path, swapped)
    with pytest.raises(NotInTimeOrder):
        list(batches(path, REPORT_COLUMNS, batch_rows=500))
    # Read whole instead: what the whole-table path makes of the unsorted table.
    assert read_charts(path, _in_batches(500)) == request_charts(
        read_requests(path, REPORT_COLUMNS)
    )
    assert write_report(run, streaming=_in_batches(500)).read_text() == whole_unsorted(run)


def whole_unsorted(run: Path) -> str:
    return write_report(run, streaming=WHOLE).read_text()


def test_counted_values_rank_as_the_sorted_values() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate([
        np.round(rng.lognormal(1.5, 0.6, 4000), 3),  # microseconds, counted by key
        np.round(rng.uniform(1000.0, 30000.0, 300), 3),  # beyond the keyed range
        rng.uniform(0.0, 5.0, 200),  # finer than a microsecond
        [0.0, 0.0, -1.5, 7.0, 7.0, 1048.575, 1048.576],
    ])  # fmt: skip
    rng.shuffle(values)
    counted = CountedValues()
    for part in np.array_split(values, 9):
        counted.add(part)
    ordered = np.sort(values)
    assert len(counted) == len(values)
    assert [counted.at(i) for i in range(len(values))] == ordered.tolist()
    assert counted.max() == ordered[-1]
    for p in (0.0, 10.874906186625439, 50.0, 95.0, 99.0, 99.9, 99.99, 100.0):
        assert counted.percentile(p) == nearest_rank(ordered, p)


def test_second_percentiles_wait_for_a_second_to_end() -> None:
    seconds = np.array([0, 0, 0, 2, 2, 2, 2, 5], dtype=np.int64)
    values = np.array([3.0, 1.0, 2.0, 9.0, 7.0, 8.0, 6.0, 4.0])
    sums = SecondPercentiles((50.0, 100.0))
    for part in (slice(0, 4), slice(4, 5), slice(5, 8)):
        sums.add(seconds[part], values[part])
    assert sums.result(7) == {
        50.0: [2.0, None, 7.0, None, None, 4.0, None],
        100.0: [3.0, None, 9.0, None, None, 4.0, None],
    }


# --------------------------------------------------------------------------- report


@pytest.mark.parametrize("batch_rows", [1, 7, 1000])
def test_a_report_in_batches_is_the_whole_table_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    rows = 600 if batch_rows == 1 else 5000
    run = make_run(tmp_path / "run", rows, seed=3)
    path = run / "requests.parquet"
    whole_charts = request_charts(read_requests(path, REPORT_COLUMNS))
    whole_page = write_report(run, streaming=WHOLE).read_text()
    _no_whole_table(monkeypatch)
    assert read_charts(path, _in_batches(batch_rows)) == whole_charts
    assert write_report(run, streaming=_in_batches(batch_rows)).read_text() == whole_page


def test_a_report_across_row_groups_is_the_whole_table_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "run", 4000, seed=8)
    path = run / "requests.parquet"
    _write(path, pq.read_table(path), row_group_rows=999)
    whole_page = write_report(run, streaming=WHOLE).read_text()
    _no_whole_table(monkeypatch)
    assert write_report(run, streaming=Streaming(above_rows=0)).read_text() == whole_page


# --------------------------------------------------------------------------- compare


def _compared(base: Path, head: Path, streaming: Streaming) -> Comparison:
    return compare_runs(base, head, load_thresholds(None), streaming=streaming)


@pytest.mark.parametrize("batch_rows", [1, 13, 2000])
def test_a_compare_in_batches_is_the_whole_table_compare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    rows = 800 if batch_rows == 1 else 6000
    base = make_run(tmp_path / "base", rows, seed=1)
    head = make_run(tmp_path / "head", rows, seed=2)
    whole = _compared(base, head, WHOLE)
    _no_whole_table(monkeypatch)
    batched = _compared(base, head, _in_batches(batch_rows))
    assert batched == whole
    assert render_markdown(batched) == render_markdown(whole)


@pytest.mark.parametrize("missing", [False, True])
def test_an_open_model_compare_in_batches_is_the_whole_table_compare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: bool
) -> None:
    """The corrected latency judged in batches, and dropped as the whole table drops it
    when one request lacks it."""
    base = _open_model(make_run(tmp_path / "a", 4000, seed=1), tmp_path / "base")
    head = _open_model(make_run(tmp_path / "b", 4000, seed=2), tmp_path / "head", missing=missing)
    whole = _compared(base, head, WHOLE)
    corrected = any("corrected for coordinated omission" in note for note in whole.notes)
    assert corrected is not missing
    _no_whole_table(monkeypatch)
    assert _compared(base, head, _in_batches(250)) == whole


def test_compare_of_one_run_in_batches_and_whole_sees_no_difference(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 3000, seed=6)
    both = _compared(run, run, _in_batches(100))
    assert all(m.base == m.head for m in both.metrics)
    assert both == _compared(run, run, WHOLE)


# --------------------------------------------------------------------------- synthetic runs


def test_a_large_synthetic_run_is_made_in_chunks_with_the_summary_of_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_timing, "CHUNK_ROWS", 2500)
    run = make_run(tmp_path / "run", 10_000, seed=5)
    path = run / "requests.parquet"
    assert pq.ParquetFile(path).metadata.num_row_groups == 4  # one per chunk
    requests = read_requests(path)
    t = requests.t_s
    assert len(requests) == 10_000
    assert bool(np.all(t[1:] >= t[:-1]))
    manifest = read_manifest(run)
    expected: dict[str, Any] = summarize(requests, manifest["faults"])
    expected.pop("fault_effects")  # the one part a chunked summary leaves out
    assert manifest["summary"] == _as_json(expected)
    # Each user's counter goes on from chunk to chunk: 1, 2, 3... over its answered rows.
    user = requests.user
    counter = requests.table.column("counter").to_numpy(zero_copy_only=False)
    for one in np.unique(user)[:10].tolist():
        mine = counter[user == one]
        seen = mine[~np.isnan(mine)]
        assert np.array_equal(seen, np.flatnonzero(~np.isnan(mine)) + 1)


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(value))
    return loaded


def _fast_errors_in_second_one(tmp_path: Path) -> Path:
    """Second 0: three replies of 10 ms; second 1: two of 10 ms and four 502s of 0.5 ms."""
    rows = [Record(0.1 * i, i, f"s{i}", "node1", 1, "kept", 10.0, 200) for i in (1, 2, 3)]
    rows += [Record(1.1 + 0.1 * i, i, f"s{i}", "node1", 2, "kept", 10.0, 200) for i in (1, 2)]
    rows += [Record(1.5 + 0.1 * i, i, "", "", None, "error", 0.5, 502) for i in (1, 2, 3, 4)]
    return write_parquet(tmp_path / "requests.parquet", from_records(rows))


@pytest.mark.parametrize("batch_rows", [None, 1])
def test_errors_neither_add_throughput_nor_speed_up_a_second(
    tmp_path: Path, batch_rows: int | None
) -> None:
    """The over-time charts count answered requests only: a burst of fast errors while a
    node is down is no throughput, and no faster latency (the errors have a series of
    their own in the nodes chart)."""
    path = _fast_errors_in_second_one(tmp_path)
    if batch_rows is None:
        charts = request_charts(read_requests(path, REPORT_COLUMNS))
    else:
        charts = run_module.streamed_charts(path, batch_rows)
    assert charts.throughput == [3, 2]
    assert charts.latency[50.0] == [10.0, 10.0]
    assert charts.nodes["errors"] == [0, 4]
    read = (
        compare_module._read_table(
            read_requests(path, compare_module.COMPARE_COLUMNS), compare_module._Judged([], [])
        )
        if batch_rows is None
        else compare_module._read_batches(path, compare_module._Judged([], []), batch_rows)
    )
    assert read.throughput == (3, 2)
    assert read.p99_ms == (10.0, 10.0)
