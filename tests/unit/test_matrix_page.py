"""The matrix page: the table and one chart per cell, from recorded runs."""

import re
import shutil
from pathlib import Path

from harness.report.matrix import cells_figure, render_matrix

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"


def test_matrix_page_has_the_table_and_a_chart_per_cell(tmp_path: Path) -> None:
    cells = []
    for name, verdict in (("best-practice-a", "survives"), ("small-pool", "loses 50% of sessions")):
        shutil.copytree(FIXTURES / name, tmp_path / "cells" / name)
        cells.append(
            {"balancer": "nginx-rr", "sessions": name, "fault": "sigkill node1",
             "verdict": verdict, "run": f"cells/{name}"}
        )  # fmt: skip
    cells.append({"balancer": "l4-hash", "sessions": "redis", "verdict": "could not run: x"})
    figure = cells_figure(cells, tmp_path)
    # One row per cell that ran; a cell that could not run has a table row only.
    titles = [a.text for a in figure.layout.annotations]
    assert titles == [
        "nginx-rr + best-practice-a: survives",
        "nginx-rr + small-pool: loses 50% of sessions",
    ]
    kept = [t for t in figure.data if t.name == "kept"]
    assert len(kept) == 2
    # Shares: every second's outcomes add up to 100% of that second's requests.
    per_second: dict[float, float] = {}
    for trace in figure.data:
        if trace.xaxis in (None, "x"):
            for x, y in zip(trace.x, trace.y, strict=True):
                per_second[x] = per_second.get(x, 0.0) + y
    assert per_second and all(abs(total - 100.0) < 1e-6 for total in per_second.values())
    # Each cell's fault: a dashed line at its time, the whole height of that cell's chart.
    lines = [(s.x0, s.x1, s.xref, s.yref, s.y0, s.y1, s.line.dash) for s in figure.layout.shapes]
    assert lines == [
        (7.633, 7.633, "x", "y domain", 0, 1, "dash"),
        (7.591, 7.591, "x2", "y2 domain", 0, 1, "dash"),
    ]
    page = render_matrix(cells, "m", figure)
    assert page.count('href="cells/') == 2
    assert "could not run: x" in page
    # Offline: plotly.js inline, no script fetched from anywhere.
    assert "<script>/**\n* plotly.js" in page
    assert not re.search(r"<script[^>]+src=", page)


def test_matrix_page_without_a_finished_cell_has_no_chart() -> None:
    assert (
        cells_figure([{"balancer": "a", "sessions": "b", "verdict": "could not run"}], Path())
        is None
    )


def test_a_parallel_cell_shows_its_lost_updates_of_those_acknowledged() -> None:
    cells = [
        {"balancer": "nginx-rr", "sessions": "redis", "scenario": "parallel:4", "verdict": "v",
         "lost_updates": 66, "acknowledged_updates": 3506},
        {"balancer": "nginx-rr", "sessions": "redis", "scenario": "counter", "verdict": "w"},
    ]  # fmt: skip
    page = render_matrix(cells, "m", None)
    assert "updates lost (parallel)" in page
    assert "<td>66 of 3506</td>" in page


def test_a_cell_that_survives_with_a_fault_not_delivered_or_not_judged_is_not_green() -> None:
    cells = [
        {"balancer": "a", "sessions": "s", "verdict": "survives"},
        {"balancer": "b", "sessions": "s", "verdict": "survives; not delivered: sigkill:redis@5"},
        {"balancer": "c", "sessions": "s",
         "verdict": "survives; not judged: whether Tomcat reloads after touch:node1@8"},
    ]  # fmt: skip
    page = render_matrix(cells, "m", None)
    assert [m for m in re.findall(r'<tr class="(\w+)">', page)] == ["good", "warn", "warn"]
