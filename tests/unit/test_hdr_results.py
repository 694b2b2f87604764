"""Schema 2's HDR histograms in report and compare, next to schema 1 folders."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram
from session_board import Latencies

from harness.report.compare import Verdict, compare_runs, load_thresholds
from harness.report.run import _histogram_points, write_report
from harness.results.run_folder import (
    HDR_FILE,
    _histogram,
    hdr_summary,
    load_records,
    lowest_equivalent,
    write_hdr,
    write_records,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"


def _as_schema_2(src: str, dest: Path) -> Path:
    """A fixture (schema 1) upgraded as a bench now writes it: HDR file, summary, version."""
    shutil.copytree(FIXTURES / src, dest)
    latencies = Latencies()
    for record in load_records(dest / "requests.csv.gz"):
        latencies.record(record.node, record.latency_ms)
    latencies.write(dest / HDR_FILE, processes=1)
    manifest = json.loads((dest / "run.json").read_text())
    manifest["schema_version"] = 2
    manifest["summary"]["latency_hdr"] = hdr_summary(dest / HDR_FILE)
    manifest.setdefault("files", {})["latency_hdr"] = HDR_FILE
    (dest / "run.json").write_text(json.dumps(manifest))
    return dest


def test_compare_reads_records_not_hdr_and_corrected_latency_in_the_open_model(
    tmp_path: Path,
) -> None:
    """Issue 13, case 1: compare preferred summary.latency_hdr, built from the measured
    latency, even in the open model, so a head whose corrected p50 was 513 ms against 15 ms
    passed as "1.15x faster". It now reads the records: exact, and corrected when paced."""
    thresholds = load_thresholds(None)
    a2 = _as_schema_2("best-practice-a", tmp_path / "a2")
    b2 = _as_schema_2("best-practice-b", tmp_path / "b2")
    exact_a = json.loads((a2 / "run.json").read_text())["summary"]["p99_ms"]
    assert compare_runs(a2, b2, thresholds).metric("latency p99").base == exact_a
    for run, held_ms in ((a2, 0.0), (b2, 500.0)):
        records = [
            r._replace(corrected_ms=r.latency_ms + held_ms, intended_s=r.t_s)
            for r in load_records(run / "requests.csv.gz")
        ]
        write_records(run / "requests.csv.gz", records)
    p50 = compare_runs(a2, b2, thresholds).metric("latency p50")
    assert p50.head is not None and p50.head > 500
    assert p50.verdict is Verdict.REGRESSION


def test_report_draws_the_hdr_curve_and_lists_its_percentiles(tmp_path: Path) -> None:
    run = _as_schema_2("best-practice-a", tmp_path / "a2")
    page = write_report(run).read_text()
    assert "HDR histogram (merged across Locust processes)" in page
    assert "Latency p50 / p95 / p99 / p99.9 (HDR, 1 process(es))" in page
    old = shutil.copytree(FIXTURES / "best-practice-a", tmp_path / "a1")
    assert "HDR histogram" not in write_report(old).read_text()


def test_the_harness_and_the_locustfile_write_one_hdr_format(tmp_path: Path) -> None:
    # Two writers of latency_hdr.json (the bench from its records, the locustfile's board
    # live): the harness cannot import the locustfile, so this keeps them one format.
    records = load_records(FIXTURES / "best-practice-a" / "requests.csv.gz")
    latencies = Latencies()
    for record in records:
        latencies.record(record.node, record.latency_ms)
    latencies.write(tmp_path / "board.json", processes=1)
    write_hdr(tmp_path / "harness.json", records, processes=1)
    board = json.loads((tmp_path / "board.json").read_text())
    harness = json.loads((tmp_path / "harness.json").read_text())
    assert board.keys() == harness.keys()
    assert {k: v for k, v in board.items() if k != "histograms"} == {
        k: v for k, v in harness.items() if k != "histograms"
    }
    assert board["histograms"].keys() == harness["histograms"].keys()
    assert hdr_summary(tmp_path / "board.json") == hdr_summary(tmp_path / "harness.json")


def test_the_reports_hdr_curve_reads_each_point_as_the_histogram_does() -> None:
    """The report reads its 77-odd points in one pass over the counts (one walk each took
    0.13 s of a 0.22 s report): each point is what get_value_at_percentile says."""
    histogram = HdrHistogram(1, 60_000_000, 3)
    rng = random.Random(7)
    for _ in range(50_000):
        histogram.record_value(int(rng.lognormvariate(8, 1.5)) + 1)
    xs, ys, labels = _histogram_points(histogram)
    percentiles = [100.0 * (1.0 - 1.0 / x) for x in xs[:-1]]
    assert ys[:-1] == [histogram.get_value_at_percentile(p) / 1000 for p in percentiles]
    assert (xs[-1], ys[-1], labels[-1]) == (50_000, histogram.get_max_value() / 1000, "max (HDR)")
    assert labels[0] == "0% (HDR)"


def test_a_histogram_recorded_by_sub_bucket_equals_one_recorded_value_by_value() -> None:
    """The histogram of a run is recorded once per sub-bucket, not per distinct value; it
    must encode the same bytes as hdrh recording every value, over the whole range and at
    each bucket's edges."""
    rng = np.random.default_rng(7)
    edges = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 4097, 65_535, 65_536, 3_600_000_000]
    values = np.concatenate(
        [np.rint(rng.lognormal(8, 3, 50_000)).clip(1, 3_600_000_000), np.array(edges)]
    ).astype(np.int64)
    by_value = HdrHistogram(1, 3_600_000_000, 3)
    for value in values.tolist():
        by_value.record_value(value)
    assert _histogram(values).encode() == by_value.encode()
    lowest = lowest_equivalent(by_value, values)
    assert lowest.tolist() == [by_value.get_lowest_equivalent_value(v) for v in values.tolist()]
