"""matrix.html: the verdict matrix as one offline page, a row per cell linking its report
and one small chart per cell of what its users' requests found over time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.report.run import OTHER_COLOUR, OUTCOME_COLOURS, OUTCOMES, Seconds
from harness.report.shell import figure_html, render_page, write_page
from harness.results.requests import CSV_FILE, read_requests
from harness.results.run_folder import dig, read_manifest
from harness.results.verdicts import recovery_words

MATRIX_FILE = "matrix.html"
TEMPLATE = "matrix.html.j2"
COLUMNS = (
    ("balancer", "balancer"),
    ("sessions", "sessions"),
    ("scenario", "scenario"),
    ("fault", "fault"),
    ("users", "users"),
    ("kept", "sessions kept"),
    ("data_kept", "counters continued"),
    ("lost", "sessions lost"),
    ("unanswered", "unanswered in a fault"),
    ("replayed", "saw a replay"),
    ("failed_requests", "failed requests"),
    ("lost_updates", "updates lost (parallel)"),
    ("recovery_s", "recovery (s)"),
    ("longest_wait_s", "longest wait (s)"),
    ("stable_without_fault", "stable without fault"),
    ("verdict", "verdict"),
)


def _cell_class(cell: dict[str, Any]) -> str:
    verdict = str(cell.get("verdict", ""))
    if "; not delivered: " in verdict or "; not judged: " in verdict:
        return "warn"  # the users came through, but not all the run was to show happened
    if cell.get("interrupted_at_s") is not None and verdict.startswith(("survives", "stable")):
        return "warn"  # Ctrl-C cut its load short: it showed only what ran
    if verdict.startswith(("survives", "stable")):
        return "good"
    if verdict.startswith("keeps sessions"):
        return "warn"
    return "bad"


def _outcome_shares(run_dir: Path) -> tuple[list[float], dict[str, list[float]]]:
    """Per second of the cell's run: the share of requests with each outcome, in %."""
    data = read_manifest(run_dir)
    name = str(dig(data, "files", "requests") or CSV_FILE)
    requests = read_requests(run_dir / name, ("t_s", "outcome"))
    seconds = Seconds(requests)
    n = seconds.count
    x = [i + 0.5 for i in range(n)]
    totals = np.bincount(seconds.bin, minlength=n)
    outcome = requests.outcome
    # Each request adds its second's share, in row order: bincount adds in that order, so
    # every share is the same float the per-request sum gave.
    weights = 100.0 / totals[seconds.bin]
    shares: dict[str, list[float]] = {}
    for code in np.unique(outcome.codes).tolist():
        mine = outcome.codes == code
        row = np.bincount(seconds.bin[mine], weights=weights[mine], minlength=n)
        shares[outcome.names[code]] = row.tolist()
    return x, shares


def cells_figure(cells: list[dict[str, Any]], matrix_dir: Path) -> Any:
    """One small chart per cell, stacked: what share of each second's requests kept their
    session, and what went wrong, with the fault drawn as a line."""
    ran = [c for c in cells if c.get("run")]
    if not ran:
        return None
    titles = [f"{c['balancer']} + {c['sessions']}: {c.get('verdict', '')}" for c in ran]
    fig = make_subplots(
        rows=len(ran), cols=1, subplot_titles=titles, vertical_spacing=min(0.3 / len(ran), 0.08)
    )
    shown: set[str] = set()
    # Traces and fault lines are added to the figure in one call each: plotly checks every
    # shape already there at each add_vline, which made the page quadratic in its cells
    # (2.6 s at 48, drawn after every cell of a matrix).
    traces: list[Any] = []
    rows: list[int] = []
    lines: list[dict[str, Any]] = []
    for row, cell in enumerate(ran, start=1):
        run_dir = matrix_dir / str(cell["run"])
        x, shares = _outcome_shares(run_dir)
        for outcome in (*OUTCOMES, *sorted(set(shares) - set(OUTCOMES))):
            if outcome not in shares:
                continue
            traces.append(
                go.Bar(
                    x=x,
                    y=shares[outcome],
                    name=outcome,
                    legendgroup=outcome,
                    showlegend=outcome not in shown,
                    marker_color=OUTCOME_COLOURS.get(outcome, OTHER_COLOUR),
                    width=1,
                    hovertemplate=f"{outcome} %{{y:.1f}}%<extra></extra>",
                )
            )
            rows.append(row)
            shown.add(outcome)
        faults = dig(read_manifest(run_dir), "faults")
        for fault in faults if isinstance(faults, list) else []:
            if isinstance(fault, dict) and fault.get("at_s") is not None:
                lines.append(_fault_line(fault["at_s"], row))
    if traces:
        fig.add_traces(traces, rows=rows, cols=[1] * len(rows))
    fig.update_layout(shapes=lines)
    fig.update_yaxes(title_text="% of req", range=[0, 100])
    fig.update_xaxes(title_text="seconds into the run", row=len(ran), col=1)
    height = 170 * len(ran) + 140
    fig.update_layout(
        barmode="stack",
        bargap=0,
        height=height,
        title="Each cell over time: share of requests by outcome (dashed line: the fault)",
        # Above the first cell's title, in paper units: 40 px whatever the page's height.
        legend={"orientation": "h", "y": 1 + 40 / height, "yanchor": "bottom", "x": 0},
        margin={"t": 130},
    )
    return fig


def _fault_line(at_s: float, row: int) -> dict[str, Any]:
    """A dashed line at the fault's time, the whole height of the row's chart (what
    add_vline(row=row) draws)."""
    axis = "" if row == 1 else str(row)
    return {
        "type": "line",
        "x0": at_s,
        "x1": at_s,
        "xref": f"x{axis}",
        "y0": 0,
        "y1": 1,
        "yref": f"y{axis} domain",
        "line": {"dash": "dash", "color": "black"},
    }


@dataclass(frozen=True)
class _Row:
    css: str
    values: list[str]
    run: str | None


def _row(cell: dict[str, Any]) -> _Row:
    values = []
    for key, _ in COLUMNS:
        value = recovery_words(cell) if key == "recovery_s" else cell.get(key, "")
        if key == "longest_wait_s" and isinstance(value, int | float):
            value = f"{value:.2f}"
        elif key == "lost_updates" and isinstance(value, int):
            value = f"{value} of {cell.get('acknowledged_updates')}"
        elif value is None:
            value = "-"
        if isinstance(value, bool):
            value = "yes" if value else "NO"
        values.append(str(value))
    run = cell.get("run")
    return _Row(_cell_class(cell), values, str(run) if run else None)


def _context(cells: list[dict[str, Any]], title: str, figure: Any) -> dict[str, object]:
    return {
        "plotly": figure is not None,
        "name": title,
        "labels": [label for _, label in COLUMNS],
        "cells": [_row(cell) for cell in cells],
        "chart": None if figure is None else figure_html(figure, "matrix"),
    }


def render_matrix(cells: list[dict[str, Any]], title: str, figure: Any = None) -> str:
    """The whole table as one offline page; each row links its cell's report."""
    return render_page(TEMPLATE, **_context(cells, title, figure))


def write_matrix(matrix_dir: Path, cells: list[dict[str, Any]]) -> Path:
    """matrix_dir/matrix.html for the cells run so far, named after the folder."""
    context = _context(cells, matrix_dir.name, cells_figure(cells, matrix_dir))
    return write_page(matrix_dir / MATRIX_FILE, TEMPLATE, **context)
