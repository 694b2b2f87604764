"""The verdict matrix: one short bench per balancer x session strategy (x scenario, when
more than one is asked for), one table.

Each cell is a full results folder under <matrix>/cells/; the matrix folder holds
verdicts.json (every cell) and matrix.html (the table, linking each cell's report).

Cells that share a session strategy run one after another on one lab (the cluster's
reusing()): the balancer is started afresh for each, a node a fault killed is started
again while the cell's results are written, and the store is emptied, so the matrix spends
its time under load rather than bringing labs up. matrix.json keeps each cell's overhead
(wall time beyond its load).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.cluster import ClusterError
from harness.load.bench import BenchPlan, run_bench
from harness.report.matrix import write_matrix
from harness.report.run import write_report
from harness.results.folders import new_run_dir
from harness.results.models import write_document
from harness.results.run_folder import iso
from harness.results.verdicts import write_verdicts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatrixResult:
    matrix_dir: Path
    cells: list[dict[str, Any]]  # as verdicts.json holds them: the caller need not read it back
    # The matrix's wall time beyond its loads, per cell: labs, results, reports, waits.
    overhead_per_cell_s: float | None = None


def run_matrix(
    template: BenchPlan,
    balancers: Sequence[str],
    strategies: Sequence[str],
    *,
    scenarios: Sequence[str] = (),
    progress: Callable[[str], None],
    reuse_labs: bool = True,
) -> MatrixResult:
    """Run every cell in turn. scenarios: the session pages to run each cell with (none:
    the template's one); reuse_labs: cells of one strategy share one lab (else each
    brings its own up and down)."""
    matrix_dir = new_run_dir("matrix", template.results_dir)
    started, matrix_began = time.time(), time.monotonic()
    cells: list[dict[str, Any]] = []
    pages = list(scenarios) or [template.scenario]
    # The table's order: balancer, then strategy, then scenario.
    position = {
        (lb, sessions, page): i
        for i, (lb, sessions, page) in enumerate(itertools.product(balancers, strategies, pages))
    }
    cluster, stop_sharing = (
        template.cluster.reusing() if reuse_labs else (template.cluster, lambda: None)
    )
    shared = replace(template, cluster=cluster)
    interrupted = False
    # Each cell's report is drawn while the next cell's lab gets ready (a killed node
    # restarting takes longer): one thread, so reports never compete with each other.
    reports = _Drawing()
    try:
        # Strategy first, so that the cells that can share a lab run one after another.
        order = list(itertools.product(strategies, balancers, pages))
        for index, (sessions, lb, scenario) in enumerate(order):
            # The last cell of its strategy: its lab is stopped after it, not mended.
            wanted_after = index + 1 < len(order) and order[index + 1][0] == sessions
            named = f" ({scenario})" if len(pages) > 1 else ""
            progress(f"cell {len(cells) + 1}/{len(position)}: {lb} + {sessions}{named}")
            cell_began = time.monotonic()
            cell, interrupted = _run_cell(
                replace(shared, scenario=scenario),
                matrix_dir,
                lb,
                sessions,
                progress=progress,
                by_scenario=len(pages) > 1,
                reports=reports,
                wanted_after=wanted_after,
            )
            cell["wall_s"] = round(time.monotonic() - cell_began, 3)
            if (
                "interrupted_at_s" not in cell
            ):  # a load cut short says nothing of the time around it
                cell["overhead_s"] = round(cell["wall_s"] - template.duration_s, 3)
            cells.append(cell)
            cells.sort(key=lambda c: position[(c["balancer"], c["sessions"], c["scenario"])])
            # Written after every cell: an interrupted matrix keeps what it measured. The
            # page is drawn on the report thread, after this cell's report, off the clock
            # of the next cell (it reads every cell's records).
            write_verdicts(matrix_dir, cells)
            reports.submit(_matrix_page, matrix_dir, [dict(c) for c in cells])
            if interrupted:
                # Ctrl-C in this cell's load (or once it had ended), its results kept: it
                # ends the matrix too, with matrix.json written for the cells that ran.
                break
    finally:
        reports.close()
        stop_sharing()
    overheads = [c["overhead_s"] for c in cells if "overhead_s" in c]
    per_cell = (
        round((time.monotonic() - matrix_began - template.duration_s * len(cells)) / len(cells), 3)
        if cells and not interrupted
        else None
    )
    write_document(
        matrix_dir / "matrix.json",
        {
            "schema": "tomcat-bench/matrix",
            "schema_version": 1,
            "started_at": iso(started),
            "ended_at": iso(time.time()),
            "profile": template.profile.name,
            "duration_s": template.duration_s,
            "users": template.users,
            "balancers": list(balancers),
            "sessions": list(strategies),
            "scenarios": pages,
            "reused_labs": reuse_labs,
            "cell_overhead_s": {
                "mean": per_cell,
                "max": max(overheads, default=None),
                "how": "mean: the matrix's wall time minus its loads' durations, per cell; "
                "max: the largest of the cells' own (a cell's wall time minus its load's, "
                "its report drawn meanwhile by the next cell)",
            },
        },
        "matrix",
    )
    if interrupted:
        raise KeyboardInterrupt
    return MatrixResult(matrix_dir, cells, per_cell)


class _Drawing:
    """The matrix's pages, drawn one at a time on a thread of their own while the next
    cell's lab gets ready; wait() holds a cell's load until they are drawn, so a page is
    never drawn on the CPU a load is measured on (a lab ready sooner than the drawing, or
    a matrix page grown with every cell)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matrix-report")
        self._pending: list[Future[None]] = []

    def submit(self, draw: Callable[..., None], *args: Any) -> None:
        self._pending.append(self._thread.submit(draw, *args))

    def wait(self) -> None:
        futures.wait(self._pending)
        self._pending.clear()

    def close(self) -> None:
        self._thread.shutdown(wait=True)


def _matrix_page(matrix_dir: Path, cells: list[dict[str, Any]]) -> None:
    try:
        write_matrix(matrix_dir, cells)
    except (OSError, ValueError) as error:
        log.warning("%s: no matrix page: %s", matrix_dir, error)


def _report(run_dir: Path) -> None:
    try:
        write_report(run_dir)
    except (OSError, ValueError) as error:
        log.warning("%s: no report: %s", run_dir, error)


def _run_cell(
    template: BenchPlan,
    matrix_dir: Path,
    lb: str,
    sessions: str,
    *,
    progress: Callable[[str], None],
    by_scenario: bool,
    reports: _Drawing,
    wanted_after: bool,
) -> tuple[dict[str, Any], bool]:
    """The cell as verdicts.json holds it, and whether Ctrl-C ended its load."""
    plan = replace(
        template,
        cluster=template.cluster.with_strategy(lb, sessions, wanted_after=wanted_after),
        results_dir=matrix_dir / "cells",
        label=f"{lb}-{sessions}"
        + (f"-{template.scenario.replace(':', '')}" if by_scenario else ""),
    )
    try:
        result = run_bench(plan, progress=progress, before_load=reports.wait)
    except (ClusterError, RuntimeError, OSError) as error:
        log.warning("cell %s + %s could not run: %s", lb, sessions, error)
        return {
            "balancer": lb,
            "sessions": sessions,
            "scenario": plan.scenario,
            "fault": "n/a",
            "verdict": f"could not run: {error}",
        }, False
    reports.submit(_report, result.run_dir)
    run = str(result.run_dir.relative_to(matrix_dir))
    cell = {**result.verdict, "scenario": plan.scenario, "run": run}
    if result.interrupted_at_s is not None:
        # Its users were judged on what ran: never read as a whole cell.
        cell["interrupted_at_s"] = result.interrupted_at_s
        cell["verdict"] = f"{cell.get('verdict', '')}; cut short at {result.interrupted_at_s:.1f} s"
    return cell, result.stop_requested
