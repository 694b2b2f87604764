"""requests.parquet and the columnar readers: the same records, judgement, summary, report
and comparison as the CSV and the row-by-row code they replace."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import main as cli_main
from harness.load.results_timing import make_run
from harness.report.compare import compare_runs, load_thresholds, render_markdown
from harness.report.run import write_report
from harness.results.columnar_judgement import judge_columns
from harness.results.impact import fault_impact, impact_columns
from harness.results.judgement import judge
from harness.results.requests import ExportError, export_csv, from_records, read_requests
from harness.results.run_folder import Record, load_records, read_manifest, summarize, write_records
from tests.unit.judging import random_run, random_unfinished


@pytest.mark.parametrize("seed", range(300))
def test_columnar_judgement_is_the_row_judgement(seed: int) -> None:
    records, faults = random_run(seed)
    unfinished = random_unfinished(seed, records) if seed % 2 else []
    rows = judge(records, faults, unfinished)
    columns = judge_columns(from_records(records), faults, unfinished)
    assert columns == rows
    assert columns.to_json() == rows.to_json()
    for window in rows.faults:
        event = next((f for f in faults if f.get("spec") == window.spec), {})
        assert impact_columns(from_records(records), window, event, unfinished) == fault_impact(
            records, window, event, unfinished
        )


def _mixed_records() -> list[Record]:
    return [
        Record(0.000001, 1, "A", "node1", 1, "new", 0.123, 200, 0.2, 0.0, None),
        Record(0.5, 2, "", "", None, "error", 30000.0, 0, None, None, None),
        Record(1.25, 1, "A,b", "node2", 2, "kept", 2.5, 200, 2.75, 1.0, None),
        Record(2.0, 3, "C", "node1", 7, "data_lost", 1.0, 200, 1.5, 1.9, None),
    ]


def test_parquet_and_csv_hold_the_same_records(tmp_path: Path) -> None:
    records = _mixed_records()
    write_records(tmp_path / "requests.parquet", records)
    write_records(tmp_path / "requests.csv.gz", records)
    assert load_records(tmp_path / "requests.parquet") == records
    assert load_records(tmp_path / "requests.csv.gz") == records
    faults = [{"action": "sigkill", "target": "node1", "at_s": 1.0}]
    from_parquet = summarize(read_requests(tmp_path / "requests.parquet"), faults)
    assert from_parquet == summarize(read_requests(tmp_path / "requests.csv.gz"), faults)
    assert from_parquet == summarize(records, faults)


def test_a_closed_model_parquet_file_has_no_open_model_columns(tmp_path: Path) -> None:
    records = [r._replace(corrected_ms=None, intended_s=None) for r in _mixed_records()]
    write_records(tmp_path / "requests.parquet", records)
    requests = read_requests(tmp_path / "requests.parquet")
    assert requests.table.column_names == [
        "t_s", "user", "session", "node", "counter", "outcome", "latency_ms", "status"
    ]  # fmt: skip
    assert requests.table.schema.field("node").type.value_type == "string"
    assert requests.table.column("counter").null_count == 1


def _run_pair(tmp_path: Path, rows: int = 3000) -> tuple[Path, Path]:
    # One folder name, so the pages differ only where they name the requests file.
    parquet = make_run(tmp_path / "parquet" / "run", rows, seed=3)
    csv = make_run(tmp_path / "csv" / "run", rows, seed=3, fmt="csv")
    return parquet, csv


def test_an_old_csv_run_reports_and_compares_as_its_parquet_twin(tmp_path: Path) -> None:
    parquet, csv = _run_pair(tmp_path)
    assert read_manifest(csv)["schema_version"] == 3
    assert read_manifest(parquet)["files"]["requests"] == "requests.parquet"
    page_p = write_report(parquet).read_text()
    page_c = write_report(csv).read_text()
    assert page_p.replace("requests.parquet", "F") == page_c.replace("requests.csv.gz", "F")
    limits = load_thresholds(None)
    both = compare_runs(parquet, csv, limits)
    assert not both.regressions
    assert all(m.base == m.head for m in both.metrics)
    assert render_markdown(compare_runs(csv, csv, limits)) == render_markdown(
        compare_runs(parquet, parquet, limits)
    )


def test_export_writes_the_csv_older_runs_have_and_never_overwrites(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2000, seed=4)
    written = export_csv(run)
    assert written == run / "requests.csv.gz"
    assert load_records(written) == load_records(run / "requests.parquet")
    with gzip.open(written, "rt") as stream:
        assert stream.readline() == "t_s,user,session,node,counter,outcome,latency_ms,status\n"
    before = written.read_bytes()
    with pytest.raises(ExportError, match=r"requests\.csv\.gz: exists already"):
        export_csv(run)
    assert written.read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == [
        "requests.csv.gz",
        "requests.parquet",
        "run.json",
    ]


def test_export_command_refuses_in_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "run", 500, seed=5)
    assert cli_main(["export", str(run), "--csv"]) == 0
    capsys.readouterr()
    assert cli_main(["export", str(run), "--csv"]) == 2
    out = capsys.readouterr().out.strip()
    assert (
        out
        == f"error: export: {run / 'requests.csv.gz'}: exists already; export never overwrites it"
    )


def test_an_exported_run_reads_as_the_parquet_one(tmp_path: Path) -> None:
    """The export is a complete old-style folder: pointed at it, compare sees the same run."""
    run = make_run(tmp_path / "run", 2000, seed=6)
    export_csv(run)
    old_style = tmp_path / "old"
    old_style.mkdir()
    shutil.copy(run / "requests.csv.gz", old_style)
    data = read_manifest(run)
    data["files"]["requests"] = "requests.csv.gz"
    (old_style / "run.json").write_text(__import__("json").dumps(data))
    comparison = compare_runs(run, old_style, load_thresholds(None))
    assert all(m.base == m.head for m in comparison.metrics)
    assert Console  # the CLI's console is what compare prints through
