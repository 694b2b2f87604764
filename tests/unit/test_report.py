"""Tests for harness.report.run: built from synthetic results folders, no servers."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.report.run import bin_by_second, write_report
from harness.results.run_folder import Record, load_records, percentile

HEADER = ["t_s", "user", "session", "node", "counter", "outcome", "latency_ms", "status"]
FAULT_AT_S = 10.0
RUN_S = 20.0
USERS = 20
# Tags whose start and end must pair up in the page; void tags (meta) are left out.
PAIRED_TAGS = {"html", "head", "body", "header", "main", "section", "table", "tr", "th", "td",
               "h1", "h2", "p", "div", "script", "style", "title", "caption"}  # fmt: skip


class PageParser(HTMLParser):
    """Collects what the assertions need: tag balance, script sources and inline script sizes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open_tags: list[str] = []
        self.unbalanced: list[str] = []
        self.script_srcs: list[str] = []
        self.inline_script_sizes: list[int] = []
        self.td_text: list[str] = []
        self._in_script = False
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in PAIRED_TAGS:
            self.open_tags.append(tag)
        if tag == "script":
            self._in_script = True
            self.inline_script_sizes.append(0)
            self.script_srcs.extend(v or "" for k, v in attrs if k == "src")
        self._in_td = tag == "td"

    def handle_endtag(self, tag: str) -> None:
        if tag not in PAIRED_TAGS:
            return
        if not self.open_tags or self.open_tags.pop() != tag:
            self.unbalanced.append(tag)
        if tag == "script":
            self._in_script = False
        if tag == "td":
            self._in_td = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script_sizes[-1] += len(data)
        if self._in_td:
            self.td_text.append(data)


def parse_page(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert parser.unbalanced == []
    assert parser.open_tags == []
    return parser


def synthetic_rows(seed: int = 7) -> list[list[str]]:
    """20 users for 20 s on two nodes; node1 is killed at 10 s, its users see errors for 0.5 s
    and then continue on node2 with their sessions intact (a shared session store)."""
    rng = random.Random(seed)
    rows: list[tuple[float, list[str]]] = []
    for user in range(USERS):
        node = "node1" if user % 2 == 0 else "node2"
        session = f"S{user:04d}ABCDEF"
        counter = 0
        t = rng.uniform(0.0, 0.1)
        while t < RUN_S:
            latency = rng.uniform(1.0, 6.0)
            if node == "node1" and FAULT_AT_S <= t < FAULT_AT_S + 0.5:
                rows.append((t, [f"{t:.6f}", str(user), "", "", "", "error", "0.150", "502"]))
            else:
                if node == "node1" and t >= FAULT_AT_S + 0.5:
                    node = "node2"
                counter += 1
                outcome = "new" if counter == 1 else "kept"
                row = [
                    f"{t:.6f}",
                    str(user),
                    session,
                    node,
                    str(counter),
                    outcome,
                    f"{latency:.3f}",
                ]
                rows.append((t, [*row, "200"]))
            t += 0.1
    # One balancer retry that ran a request twice, right after the kill.
    rows.append((10.7, ["10.700000", "0", "S0000ABCDEF", "node2", "999", "replayed", "3.5", "200"]))
    rows.sort(key=lambda item: item[0])
    return [row for _, row in rows]


def write_gz_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as stream:
        stream.write(text.getvalue())


def run_json(requests: int, failures: int, **overrides: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "schema": "tomcat-bench/run",
        "schema_version": 1,
        "run_id": "20261123T203000Z-best-practice",
        "started_at": "2026-11-23T20:30:00+00:00",
        "ended_at": "2026-11-23T20:30:20+00:00",
        "duration_s": 20.1,
        "profile": {"name": "best-practice"},
        "lab": {
            "balancer": "nginx round robin",
            "session_store": "redis",
            "nodes": [
                {"name": "node1", "address": "127.0.1.1:8080"},
                {"name": "node2", "address": "127.0.1.2:8080"},
            ],
        },
        "load": {"users": USERS, "spawn_rate": 20, "duration_s": 20},
        "versions": {"tomcat": "Apache Tomcat/9.0.117", "java": "17.0.15", "nginx": "1.22.1"},
        "faults": [
            {"at_s": FAULT_AT_S, "target": "node1", "action": "sigkill", "restored_at_s": None}
        ],
        "summary": {
            "requests": requests,
            "failures": failures,
            "rps": round(requests / RUN_S, 1),
            "p50_ms": 3.5,
            "p95_ms": 5.75,
            "p99_ms": 5.95,
            "users": USERS,
            "sessions_kept": USERS,
            "sessions_lost": 0,
            "data_lost": 0,
            "replayed": 1,
            "across_fault": {"users": USERS, "sessions_survived": 20, "counters_continued": 19},
        },
        "files": {"requests": "requests.csv.gz"},
    }
    run.update(overrides)
    return run


def make_run_dir(tmp_path: Path, rows: list[list[str]], **overrides: Any) -> Path:
    failures = sum(1 for row in rows if row[5] == "error")
    (tmp_path / "run.json").write_text(json.dumps(run_json(len(rows), failures, **overrides)))
    write_gz_csv(tmp_path / "requests.csv.gz", rows)
    return tmp_path


def record(t_s: float, latency_ms: float = 1.0) -> Record:
    return Record(t_s, 1, "S", "node1", 1, "kept", latency_ms, 200)


# --------------------------------------------------------------------------- full page


def test_report_is_a_self_contained_page_with_all_figures(tmp_path: Path) -> None:
    rows = synthetic_rows()
    assert 3000 < len(rows) < 5000
    out = write_report(make_run_dir(tmp_path, rows))

    assert out == tmp_path / "report.html"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    parsed = parse_page(page)

    # plotly.js is inlined exactly once and nothing is fetched from the network.
    assert parsed.script_srcs == []
    assert sum(1 for size in parsed.inline_script_sizes if size > 1_000_000) == 1
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1
    assert not re.search(r"<script[^>]+src=", page)

    for title in (
        "Throughput and latency over time",
        "Requests per node over time",
        "Session continuity over time",
        "Latency distribution (percentile spectrum)",
    ):
        assert title in page
    assert page.count('class="plotly-graph-div"') == 4
    assert "sigkill node1" in page

    cells = parsed.td_text
    assert f"{len(rows):,}" in cells
    failures = sum(1 for row in rows if row[5] == "error")
    assert f"{failures} ({100 * failures / len(rows):.2f}%)" in cells
    assert failures > 0
    assert "redis" in cells
    assert "nginx round robin" in cells
    # A run written before the per-user judgement shows its own counts, and says so.
    assert (
        "20 kept, 0 lost, 0 lost data, 1 replayed (written before the per-user judgement)" in cells
    )
    assert "Apache Tomcat/9.0.117" in cells


def test_fault_with_restore_time_gets_a_shaded_band(tmp_path: Path) -> None:
    rows = synthetic_rows()
    restored = [{"at_s": 10.0, "target": "node1", "action": "sigstop", "restored_at_s": 14.0}]
    page = write_report(make_run_dir(tmp_path, rows, faults=restored)).read_text()
    # One band per subplot: throughput has 2 rows, nodes 1, continuity 2.
    assert page.count('"type":"rect"') == 5
    assert "sigstop node1" in page
    assert "restored at 14 s" in page

    unrestored = write_report(make_run_dir(tmp_path, rows)).read_text()
    assert '"type":"rect"' not in unrestored


def test_values_from_files_are_escaped(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    run_dir = make_run_dir(tmp_path, synthetic_rows(), run_id=hostile)
    page = write_report(run_dir).read_text()
    assert hostile not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("content", ["header only", "zero bytes"])
def test_empty_requests_file_still_yields_a_page(tmp_path: Path, content: str) -> None:
    (tmp_path / "run.json").write_text(json.dumps(run_json(0, 0, faults=[])))
    if content == "header only":
        write_gz_csv(tmp_path / "requests.csv.gz", [])
    else:
        with gzip.open(tmp_path / "requests.csv.gz", "wb"):
            pass

    page = write_report(tmp_path).read_text()

    assert page.startswith("<!DOCTYPE html>")
    parsed = parse_page(page)
    assert "No requests were recorded (requests.csv.gz is empty)." in page
    assert parsed.inline_script_sizes == []  # no figures, so no reason to ship plotly.js
    assert "20261123T203000Z-best-practice" in page


def test_missing_requests_file_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(run_json(0, 0)))
    page = write_report(tmp_path).read_text()
    parse_page(page)
    assert "requests.csv.gz was not found" in page


# --------------------------------------------------------------------------- helpers


def test_percentile_is_nearest_rank() -> None:
    values = [35.0, 20.0, 15.0, 50.0, 40.0]  # unsorted on purpose
    assert percentile(values, 0) == 15.0
    assert percentile(values, 5) == 15.0
    assert percentile(values, 30) == 20.0
    assert percentile(values, 40) == 20.0
    assert percentile(values, 50) == 35.0
    assert percentile(values, 100) == 50.0
    # Floats would make 99.9% of 1000 values rank 1000 (99.9 / 100 * 1000 > 999).
    thousand = [float(v) for v in range(1, 1001)]
    assert percentile(thousand, 99.9) == 999.0
    assert percentile(thousand, 99) == 990.0
    assert percentile(thousand, 99.95) == 1000.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_bin_by_second_counts_per_bin() -> None:
    times = [0.0, 0.5, 0.999999, 1.0, 2.5, 2.9, 2.000001, 5.0, 1.5]
    bins = bin_by_second(record(t) for t in times)
    assert [len(b) for b in bins] == [3, 2, 3, 0, 0, 1]
    assert sorted(r.t_s for r in bins[1]) == [1.0, 1.5]
    assert bin_by_second([]) == []


def test_load_records_parses_types_and_empty_fields(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv.gz"
    write_gz_csv(
        path,
        [
            ["0.123456", "3", "ABC", "node2", "7", "kept", "2.345", "200"],
            ["0.500000", "4", "", "", "", "error", "0.101", "0"],
        ],
    )
    assert load_records(path) == [
        Record(0.123456, 3, "ABC", "node2", 7, "kept", 2.345, 200),
        Record(0.5, 4, "", "", None, "error", 0.101, 0),
    ]


def test_load_records_rejects_a_wrong_header_and_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    write_gz_csv(path, [], header=["t_s", "user"])
    with pytest.raises(ValueError, match="lacks columns"):
        load_records(path)
    write_gz_csv(path, [["0.1", "1", "S", "node1", "1", "kept", "1.0", "200"], ["x"] * 8])
    with pytest.raises(ValueError, match=r"bad\.csv\.gz:3:"):
        load_records(path)


def test_telemetry_and_verdict_are_shown_when_recorded(tmp_path: Path) -> None:
    verdict = {"balancer": "nginx-rr", "sessions": "redis", "fault": "sigkill node1"}
    run_dir = make_run_dir(
        tmp_path,
        synthetic_rows(),
        verdicts=[{**verdict, "verdict": "survives"}],
    )
    data = json.loads((run_dir / "run.json").read_text())
    data["summary"]["generator_bound"] = True
    (run_dir / "run.json").write_text(json.dumps(data))
    (run_dir / "telemetry.csv").write_text(
        "t_s,part,cpu_cores,rss_bytes\n1.0,generator,0.95,1000\n1.0,node1,0.4,4000\n"
        "2.0,generator,0.97,1000\n2.0,node1,0.5,4000\n2.0,machine,1.6,0\n"
    )
    page = write_report(run_dir).read_text()
    assert "CPU and memory of the load generator and each server" in page
    assert "nginx-rr + redis, sigkill node1: survives" in page
    assert "generator-bound, it does not measure the server" in page
    assert "the server&#x27;s (the generator was not the limit)" not in page


def test_the_store_and_balancer_settings_and_lost_updates_are_shown(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path, synthetic_rows())
    data = json.loads((run_dir / "run.json").read_text())
    data["lab"] = {
        "balancer": "nginx-rr",
        "session_store": "memcached-nonsticky",
        "session_manager": {
            "manager": "de.javakaffee.web.msm.MemcachedBackupSessionManager",
            "locking_mode": "all",
            "session_backup_async": False,
        },
    }
    data["profile"] = {
        "name": "p",
        "requested": {"sessions": {"msm": {"lockingMode": "all"}}, "balancer": {}},
    }
    data["load"] = {"scenario": "parallel:4"}
    data["summary"] |= {"lost_updates": 7, "acknowledged_updates": 90}
    (run_dir / "run.json").write_text(json.dumps(data))
    page = write_report(run_dir).read_text()
    assert "MemcachedBackupSessionManager, lockingMode all, sessionBackupAsync False" in page
    assert "[sessions.msm] lockingMode = all" in page
    assert "parallel:4" in page
    assert "7 of 90 acknowledged" in page


def _figures_on(page: str) -> list[tuple[Any, dict[str, Any]]]:
    """Each figure's data and layout, as the page hands them to Plotly.newPlot."""
    decoder, figures, at = json.JSONDecoder(), [], 0
    while (at := page.find("Plotly.newPlot(", at)) >= 0:
        at += len("Plotly.newPlot(")
        parts: list[Any] = []
        while len(parts) < 3:
            while page[at] in " \n\t,":
                at += 1
            value, at = decoder.raw_decode(page, at)
            parts.append(value)
        figures.append((parts[1], parts[2]))
    return figures


def test_every_figure_is_one_plotly_accepts(tmp_path: Path) -> None:
    """The time figures are built as plotly.js's dicts (report/time_figure.py), which
    plotly checks at no point of a report: here each figure of a page, and the telemetry
    and JVM figures, are handed to plotly's own Figure, which refuses a property it does
    not know (a misspelt axis setting would otherwise be dropped by the browser)."""
    import plotly.graph_objects as go  # noqa: PLC0415

    from harness.report import run as report  # noqa: PLC0415

    faults = [report.Fault(2.0, "node1", "sigstop", 3.0), report.Fault(4.0, "node2", "kill", None)]
    run_dir = make_run_dir(tmp_path, synthetic_rows())
    (run_dir / "telemetry.csv").write_text(
        "t_s,part,cpu_cores,rss_bytes\n1.0,node1,0.4,4000\n2.0,node1,0.5,4000\n2.0,machine,1.6,0\n"
    )
    page = write_report(run_dir).read_text(encoding="utf-8")
    figures = [go.Figure(data=data, layout=layout) for data, layout in _figures_on(page)]
    assert len(figures) == 5  # throughput, nodes, continuity, latency and telemetry
    columns = {column: 1.0 for panel in report.JVM_PANELS for column in panel[0]}
    jvm_rows = [{"node": "node1", "t_s": float(t), **columns} for t in range(5)]
    for built in (
        report.jvm_figure({"": jvm_rows}, faults),
        report._fig_telemetry([(1.0, "node1", 0.4, 4000)], faults, 10.0),
    ):
        go.Figure(built.to_dict())
    assert go.Figure(report.jvm_figure({"": jvm_rows}, faults).to_dict()).layout.yaxis5.title.text


def test_every_figure_carries_the_pages_template_whole(tmp_path: Path) -> None:
    """The figures are built without plotly's template copies (bare_figure): the page's
    template is written into each one's JSON, as whole as plotly's own (a guard of that
    refactor, which left the same JSON)."""
    import plotly.io as pio  # noqa: PLC0415

    page = write_report(make_run_dir(tmp_path, synthetic_rows())).read_text(encoding="utf-8")
    layouts = [layout for _, layout in _figures_on(page)]
    assert len(layouts) == 4
    whole = json.loads(json.dumps(pio.templates["plotly_white"].to_plotly_json()))
    assert all(layout["template"] == whole for layout in layouts)
