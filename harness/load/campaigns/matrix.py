"""The verdict matrix: one short bench per balancer x session strategy, one table.

Each cell is a full results folder under <matrix>/cells/; the matrix folder holds
verdicts.json (every cell) and matrix.html (the table, linking each cell's report).
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from harness.cluster import ClusterError
from harness.load.bench import BenchPlan, run_bench
from harness.report.run import (
    OTHER_COLOUR,
    OUTCOME_COLOURS,
    OUTCOMES,
    PLOTLY_CONFIG,
    bin_by_second,
    write_report,
)
from harness.results import dig, iso, load_records, new_run_dir, read_manifest
from harness.results.models import write_document
from harness.results.verdicts import recovery_words, write_verdicts

log = logging.getLogger(__name__)

COLUMNS = (
    ("balancer", "balancer"),
    ("sessions", "sessions"),
    ("fault", "fault"),
    ("users", "users"),
    ("kept", "sessions kept"),
    ("data_kept", "counters continued"),
    ("lost", "sessions lost"),
    ("unanswered", "never answered again"),
    ("replayed", "saw a replay"),
    ("failed_requests", "failed requests"),
    ("recovery_s", "recovery (s)"),
    ("stable_without_fault", "stable without fault"),
    ("verdict", "verdict"),
)


def run_matrix(
    template: BenchPlan,
    balancers: Sequence[str],
    strategies: Sequence[str],
    *,
    progress: Callable[[str], None],
) -> Path:
    """Run every cell in turn (each with its own lab up and down); return the matrix folder."""
    matrix_dir = new_run_dir("matrix", template.results_dir)
    started = time.time()
    cells: list[dict[str, Any]] = []
    total = len(balancers) * len(strategies)
    for lb in balancers:
        for sessions in strategies:
            progress(f"cell {len(cells) + 1}/{total}: {lb} + {sessions}")
            cells.append(_run_cell(template, matrix_dir, lb, sessions, progress))
            # Written after every cell: an interrupted matrix keeps what it measured.
            write_verdicts(matrix_dir, cells)
            page = render_matrix(cells, matrix_dir.name, cells_figure(cells, matrix_dir))
            (matrix_dir / "matrix.html").write_text(page)
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
        },
        "matrix",
    )
    return matrix_dir


def _run_cell(
    template: BenchPlan, matrix_dir: Path, lb: str, sessions: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    plan = replace(
        template,
        cluster=template.cluster.with_strategy(lb, sessions),
        results_dir=matrix_dir / "cells",
        label=f"{lb}-{sessions}",
    )
    try:
        result = run_bench(plan, progress=progress)
    except (ClusterError, RuntimeError, OSError) as error:
        log.warning("cell %s + %s could not run: %s", lb, sessions, error)
        return {
            "balancer": lb,
            "sessions": sessions,
            "fault": "n/a",
            "verdict": f"could not run: {error}",
        }
    write_report(result.run_dir)
    return {**result.verdict, "run": str(result.run_dir.relative_to(matrix_dir))}


def _cell_class(cell: dict[str, Any]) -> str:
    verdict = str(cell.get("verdict", ""))
    if verdict.startswith(("survives", "stable")):
        return "good"
    if verdict.startswith("keeps sessions"):
        return "warn"
    return "bad"


def _outcome_shares(run_dir: Path) -> tuple[list[float], dict[str, list[float]]]:
    """Per second of the cell's run: the share of requests with each outcome, in %."""
    data = read_manifest(run_dir)
    records = load_records(run_dir / str(dig(data, "files", "requests") or "requests.csv.gz"))
    bins = bin_by_second(records)
    x = [i + 0.5 for i in range(len(bins))]
    shares: dict[str, list[float]] = {}
    for i, records_in_second in enumerate(bins):
        for record in records_in_second:
            row = shares.setdefault(record.outcome, [0.0] * len(bins))
            row[i] += 100.0 / len(records_in_second)
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
    for row, cell in enumerate(ran, start=1):
        run_dir = matrix_dir / str(cell["run"])
        x, shares = _outcome_shares(run_dir)
        for outcome in (*OUTCOMES, *sorted(set(shares) - set(OUTCOMES))):
            if outcome not in shares:
                continue
            fig.add_trace(
                go.Bar(
                    x=x,
                    y=shares[outcome],
                    name=outcome,
                    legendgroup=outcome,
                    showlegend=outcome not in shown,
                    marker_color=OUTCOME_COLOURS.get(outcome, OTHER_COLOUR),
                    width=1,
                    hovertemplate=f"{outcome} %{{y:.1f}}%<extra></extra>",
                ),
                row=row,
                col=1,
            )
            shown.add(outcome)
        faults = dig(read_manifest(run_dir), "faults")
        for fault in faults if isinstance(faults, list) else []:
            if isinstance(fault, dict) and fault.get("at_s") is not None:
                fig.add_vline(x=fault["at_s"], line_dash="dash", line_color="black", row=row, col=1)
        fig.update_yaxes(title_text="% of req", range=[0, 100], row=row, col=1)
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


def render_matrix(cells: list[dict[str, Any]], title: str, figure: Any = None) -> str:
    """The whole table as one offline page; each row links its cell's report."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in COLUMNS)
    rows = []
    for cell in cells:
        values = []
        for key, _ in COLUMNS:
            value = recovery_words(cell) if key == "recovery_s" else cell.get(key, "")
            if isinstance(value, bool):
                value = "yes" if value else "NO"
            values.append(f"<td>{html.escape(str(value))}</td>")
        link = cell.get("run")
        report = (
            f'<td><a href="{html.escape(link)}/report.html">report</a></td>'
            if link
            else "<td></td>"
        )
        rows.append(f'<tr class="{_cell_class(cell)}">{"".join(values)}{report}</tr>')
    charts, scripts = "", ""
    if figure is not None:
        scripts = f"<script>{get_plotlyjs()}</script>"
        charts = str(figure.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG))
    return _PAGE.format(
        title=html.escape(title),
        head=head,
        rows="\n".join(rows),
        charts=charts,
        scripts=scripts,
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tomcat-bench matrix {title}</title>
{scripts}
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
tr.good td:nth-last-child(2) {{ background: #d8f0d8; }}
tr.warn td:nth-last-child(2) {{ background: #fbecc8; }}
tr.bad td:nth-last-child(2) {{ background: #f7d4d4; }}
</style></head><body>
<h1>Verdict matrix {title}</h1>
<p>Each row is one bench: users hit session.jsp through the balancer while a node is
killed mid-run. "Sessions kept" and "counters continued" count users who had a session
before the fault; the part of the run before the fault is the no-fault control.</p>
<table><thead><tr>{head}<th>charts</th></tr></thead><tbody>
{rows}
</tbody></table>
{charts}
</body></html>
"""
