"""The matrix's order of work: each cell's report and the matrix page are drawn on a thread
while the next cell's lab gets ready, and never while a cell's load runs.

The benches are stand-ins here (no lab starts): what is under test is only when the
matrix lets a load begin, which the real matrix test (tests/integration/test_cli.py)
cannot observe. The reports are stand-ins that take longer than the next lab's start.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan, BenchResult
from harness.load.campaigns import matrix
from harness.report.matrix import render_matrix
from harness.results.folders import new_run_dir

DRAW_S = 0.3


def test_no_page_is_drawn_while_a_cells_load_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, float]] = []
    lock = threading.Lock()

    def note(what: str) -> None:
        with lock:
            events.append((what, time.monotonic()))

    def bench(plan: BenchPlan, *, progress: Any, **hooks: Any) -> BenchResult:
        before_load = hooks.get("before_load")
        if before_load is not None:
            before_load()
        note("load begins")
        time.sleep(0.05)
        note("load ends")
        run_dir = new_run_dir(plan.label or "cell", plan.results_dir)
        cell = plan.cluster
        assert isinstance(cell, LabSpec)
        verdict = {
            "balancer": cell.balancer,
            "sessions": cell.sessions,
            "fault": "none",
            "verdict": "survives",
        }
        return BenchResult(run_dir, {}, 0.0, verdict)

    def draw(what: str) -> Any:
        def drawing(*_: Any) -> None:
            note(f"{what} begins")
            time.sleep(DRAW_S)
            note(f"{what} ends")

        return drawing

    monkeypatch.setattr(matrix, "run_bench", bench)
    monkeypatch.setattr(matrix, "write_report", draw("report"))
    monkeypatch.setattr(matrix, "write_matrix", draw("matrix page"))
    template = BenchPlan(
        profile=load_profile("best-practice"),
        cluster=LabSpec(topology=Topology(net="127.0.240", run_dir=tmp_path / "lab")),
        duration_s=5,
        results_dir=tmp_path / "results",
    )
    matrix.run_matrix(
        template, ["nginx-rr", "haproxy-rr"], ["none", "redis"], progress=lambda _: None,
        reuse_labs=False,
    )  # fmt: skip
    loads = [t for what, t in events if what == "load begins"]
    assert len(loads) == 4
    # Every drawing begun before a load began had ended by then.
    for began in loads:
        drawing = [t for what, t in events if what.endswith(" begins") and what != "load begins"]
        ended = [t for what, t in events if what.endswith(" ends") and what != "load ends"]
        started_before = [t for t in drawing if t < began]
        finished_before = [t for t in ended if t <= began]
        assert len(started_before) == len(finished_before), events
    # And the pages were drawn: a report per cell and the page after each.
    assert sum(what == "report ends" for what, _ in events) == 4
    assert sum(what == "matrix page ends" for what, _ in events) == 4


def _stopped_in_the_second_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **stop: Any
) -> tuple[Path, list[dict[str, Any]]]:
    """A 2x2 matrix of stand-in cells whose second one returns **stop (how the Ctrl-C
    came); it must end the matrix there. Its folder and the cells it lists."""
    ran: list[str] = []

    def bench(plan: BenchPlan, *, progress: Any, **hooks: Any) -> BenchResult:
        cell = plan.cluster
        assert isinstance(cell, LabSpec)
        ran.append(f"{cell.balancer} + {cell.sessions}")
        verdict = {"balancer": cell.balancer, "sessions": cell.sessions, "fault": "none"}
        verdict["verdict"] = "survives"
        run_dir = new_run_dir(plan.label or "cell", plan.results_dir)
        return BenchResult(run_dir, {}, 0.0, verdict, **(stop if len(ran) == 2 else {}))

    monkeypatch.setattr(matrix, "run_bench", bench)
    monkeypatch.setattr(matrix, "write_report", lambda *_: None)
    monkeypatch.setattr(matrix, "write_matrix", lambda *_: None)
    template = BenchPlan(
        profile=load_profile("best-practice"),
        cluster=LabSpec(topology=Topology(net="127.0.240", run_dir=tmp_path / "lab")),
        duration_s=5,
        results_dir=tmp_path / "results",
    )
    with pytest.raises(KeyboardInterrupt):
        matrix.run_matrix(
            template, ["nginx-rr", "haproxy-rr"], ["none", "redis"], progress=lambda _: None,
            reuse_labs=False,
        )  # fmt: skip
    assert ran == ["nginx-rr + none", "haproxy-rr + none"]
    (matrix_dir,) = (tmp_path / "results").iterdir()
    listed = json.loads((matrix_dir / "verdicts.json").read_text())
    assert [c["balancer"] for c in listed] == ["nginx-rr", "haproxy-rr"]
    return matrix_dir, listed


def test_ctrl_c_in_a_cell_ends_the_matrix_with_what_ran_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run_bench turns Ctrl-C under load into a result with the run so far; the matrix went
    # on to the next cell, so stopping a 48-cell matrix took a Ctrl-C per cell.
    matrix_dir, listed = _stopped_in_the_second_cell(tmp_path, monkeypatch, interrupted_at_s=2.5)
    assert "overhead_s" in listed[0] and "overhead_s" not in listed[1]
    summary = json.loads((matrix_dir / "matrix.json").read_text())
    assert summary["cell_overhead_s"]["mean"] is None
    # The cell cut short says so, and is never a green "survives" (it was, in full).
    assert [c.get("interrupted_at_s") for c in listed] == [None, 2.5]
    assert listed[1]["verdict"] == "survives; cut short at 2.5 s"
    page = render_matrix(listed, "m", None)
    assert re.findall(r'<tr class="(\w+)">', page) == ["good", "warn"]


def test_ctrl_c_once_a_cells_load_has_ended_ends_the_matrix_with_that_cell_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_bench holds a Ctrl-C that comes once the load has ended until the run is
    written, and says so (stopped_after_load): the matrix ends after that cell, which is
    complete and reads as such."""
    matrix_dir, listed = _stopped_in_the_second_cell(tmp_path, monkeypatch, stopped_after_load=True)
    assert [c["verdict"] for c in listed] == ["survives", "survives"]
    assert all("interrupted_at_s" not in c and "overhead_s" in c for c in listed)
    assert (matrix_dir / "matrix.json").is_file()
