"""report.html for a storebench folder: the verdicts first, then the numbers under them.

Reads only the folder's files (run.json, cells.jsonl, native.jsonl, memory.json,
restart.json, e2e.json, claims.json), so it can be rebuilt later. Self-contained:
plotly.js is inlined once. What belongs to the servers (CPU per operation, the native
tools) and what to the Python clients is shown in separate sections.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from harness.report.shell import figure_html, render_page, write_page
from harness.results import models
from harness.results.telemetry import bound_word
from harness.storebench.cells import human_size
from harness.storebench.claims import CLAIMS_FILE, OLD_CLAIMS_FILE
from harness.storebench.run import load_data

Row = dict[str, Any]
# A table as storebench.html.j2 draws it: the column names, then each row's cells.
Table = tuple[Sequence[str], list[list[str]]]
TEMPLATE = "storebench.html.j2"
COLOURS = {"redis": "#d62728", "memcached": "#1f77b4"}
PERCENTILE_DASH = {"p50_us": "solid", "p90_us": "dot", "p99_us": "dash", "p999_us": "longdash"}
VERDICT_COLOURS = {"holds": "#2ca02c", "does not hold": "#d62728"}


def _colour(store: str) -> str:
    return COLOURS.get(store.split("-", 1)[0], "#7f7f7f")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def _bars_by_cell(rows: Sequence[Row], field: str, title: str, y_title: str, log: bool) -> Any:
    """SET and GET side by side; one bar per store for each size x concurrency."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("SET", "GET"), shared_yaxes=True)
    for col, op in enumerate(("set", "get"), start=1):
        for store in sorted({r["store"] for r in rows}):
            mine = sorted(
                (
                    r
                    for r in rows
                    if r["op"] == op and r["store"] == store and r.get(field) is not None
                ),
                key=lambda r: (r["size"], r["conns"]),
            )
            fig.add_trace(
                go.Bar(
                    x=[f"{human_size(r['size'])} x{r['conns']}" for r in mine],
                    y=[r[field] for r in mine],
                    name=store,
                    marker_color=_colour(store),
                    legendgroup=store,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_layout(title=title, barmode="group", height=460)
    fig.update_yaxes(title_text=y_title, type="log" if log else "linear", row=1, col=1)
    return fig


def _latency_figure(cells: Sequence[Row]) -> Any:
    """p50/p90/p99/p99.9 against size: a row per op, a column per concurrency."""
    conns = sorted({r["conns"] for r in cells})
    fig = make_subplots(
        rows=2,
        cols=len(conns),
        shared_yaxes=True,
        subplot_titles=[f"{op.upper()} x{c}" for op in ("set", "get") for c in conns],
    )
    for r_i, op in enumerate(("set", "get"), start=1):
        for c_i, c in enumerate(conns, start=1):
            for store in ("redis", "memcached"):
                mine = sorted(
                    (
                        r
                        for r in cells
                        if r["op"] == op
                        and r["conns"] == c
                        and r["store"] == store
                        and r.get("p50_us")
                    ),
                    key=lambda r: r["size"],
                )
                for field, dash in PERCENTILE_DASH.items():
                    fig.add_trace(
                        go.Scatter(
                            x=[human_size(r["size"]) for r in mine],
                            y=[r[field] for r in mine],
                            mode="lines+markers",
                            name=f"{store} {field[:-3].replace('p999', 'p99.9')}",
                            line={"color": _colour(store), "dash": dash},
                            legendgroup=f"{store}{field}",
                            showlegend=r_i == 1 and c_i == 1,
                        ),
                        row=r_i,
                        col=c_i,
                    )
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="latency (us)", col=1)
    fig.update_layout(
        title="Latency percentiles (HDR histogram, us) by size and concurrency, Python clients",
        height=720,
    )
    return fig


def _memory_figure(memory: Sequence[Row]) -> Any:
    fig = go.Figure()
    for field, name in (
        ("server_bytes_per_session", "server's own accounting"),
        ("rss_bytes_per_session", "RSS"),
    ):
        fig.add_trace(
            go.Bar(x=[m["layout"] for m in memory], y=[m[field] for m in memory], name=name)
        )
    payload = memory[0]["payload_bytes_per_session"] if memory else None
    if payload:
        fig.add_hline(y=payload, line_dash="dash", annotation_text=f"payload {payload} B")
    fig.update_layout(
        title="Bytes per session", barmode="group", height=420, yaxis_title="bytes per session"
    )
    return fig


def _e2e_figure(e2e: Sequence[Row]) -> Any:
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("p50 (ms)", "p99 (ms)", "store CPU per request (us)")
    )
    colours = {"redis": "#d62728", "memcached-sticky": "#1f77b4", "memcached-nonsticky": "#17becf"}
    for strategy in dict.fromkeys(r["strategy"] for r in e2e):
        mine = [r for r in e2e if r["strategy"] == strategy]
        for col, field in enumerate(("p50_ms", "p99_ms", "store_cpu_us_per_request"), start=1):
            fig.add_trace(
                go.Bar(
                    x=[human_size(r["size"]) for r in mine],
                    y=[r[field] for r in mine],
                    name=strategy,
                    marker_color=colours.get(strategy),
                    legendgroup=strategy,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        title="End to end through Tomcat, by session payload size", barmode="group", height=420
    )
    return fig


_SKIPPED_FIELDS = ("tool", "op", "size", "conns", "skipped")
_NATIVE_FIELDS = (
    "tool", "store", "op", "size", "conns", "ops", "misses", "errors", "ops_per_s", "mean_us",
    "p50_us", "p99_us", "max_us", "server_cpu_us_per_op", "server_cores", "note",
)  # fmt: skip
_CELL_FIELDS = (
    "store", "op", "size", "conns", "ops", "misses", "errors", "ops_per_s", "p50_us", "p90_us",
    "p99_us", "p999_us", "server_cpu_us_per_op", "client_cpu_us_per_op",
)  # fmt: skip
_MEMORY_FIELDS = (
    "layout", "sessions", "items_stored", "payload_bytes_per_session",
    "server_bytes_per_session", "server_measure", "rss_bytes_per_session", "encoding",
)  # fmt: skip
_RESTART_FIELDS = ("case", "how", "sessions", "survived")
_E2E_FIELDS = (
    "strategy", "balancer", "size", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms",
    "store_cpu_us_per_request", "generator_bound", "run",
)  # fmt: skip


def _table(rows: Sequence[Row], fields: Sequence[str]) -> Table:
    return fields, [[_cell(r, f) for f in fields] for r in rows]


def _cell(row: Row, field: str) -> str:
    return bound_word(row.get(field)) if field == "generator_bound" else _fmt(row.get(field))


def _tables(data: dict[str, list[Row]]) -> dict[str, Table]:
    """The tables of the sections the folder has data for; a section without one is left out."""
    tables: dict[str, Table] = {}
    skipped = [r for r in data["native"] if r.get("skipped")]
    if skipped:
        tables["native-skipped"] = _table(skipped, _SKIPPED_FIELDS)
    for name, fields in (
        ("native", _NATIVE_FIELDS),
        ("cells", _CELL_FIELDS),
        ("memory", _MEMORY_FIELDS),
        ("restart", _RESTART_FIELDS),
        ("e2e", _E2E_FIELDS),
    ):
        if data[name]:
            tables[name] = _table(data[name], fields)
    return tables


def _native_figures(native: Sequence[Row]) -> dict[str, Any]:
    measured = [r for r in native if not r.get("skipped")]
    return {
        "native-cpu": _bars_by_cell(
            measured,
            "server_cpu_us_per_op",
            "Server CPU per operation, native tools",
            "CPU us / op",
            True,
        ),
        "native-tput": _bars_by_cell(
            measured, "ops_per_s", "Throughput, native tools", "operations / s", True
        ),
    }


def _client_figures(cells: Sequence[Row]) -> dict[str, Any]:
    return {
        "latency": _latency_figure(cells),
        "py-tput": _bars_by_cell(
            cells, "ops_per_s", "Throughput, Python clients", "operations / s", True
        ),
        "py-client-cpu": _bars_by_cell(
            cells,
            "client_cpu_us_per_op",
            "Client CPU per operation (this Python process)",
            "CPU us / op",
            True,
        ),
        "py-server-cpu": _bars_by_cell(
            cells,
            "server_cpu_us_per_op",
            "Server CPU per operation, Python clients",
            "CPU us / op",
            True,
        ),
    }


def _charts(data: dict[str, list[Row]]) -> dict[str, Markup]:
    figures: dict[str, Any] = {}
    if data["native"]:
        figures.update(_native_figures(data["native"]))
    if data["cells"]:
        figures.update(_client_figures(data["cells"]))
    if data["memory"]:
        figures["memory"] = _memory_figure(data["memory"])
    if data["e2e"]:
        figures["e2e"] = _e2e_figure(data["e2e"])
    return {key: figure_html(fig, key) for key, fig in figures.items()}


def _context(run: Row, verdicts: Sequence[Row], data: dict[str, list[Row]]) -> dict[str, object]:
    charts = _charts(data)
    return {
        "plotly": bool(charts),
        "run_id": run.get("run_id"),
        "started_at": run.get("started_at"),
        "versions": ", ".join(f"{k} {v}" for k, v in run.get("versions", {}).items()),
        "incomplete": None if run.get("complete") else str(run.get("incomplete")),
        "claims": [{**v, "colour": VERDICT_COLOURS.get(v["verdict"], "#ff7f0e")} for v in verdicts],
        "fairness": run.get("fairness", []),
        "charts": charts,
        "tables": _tables(data),
    }


def render(run: Row, verdicts: Sequence[Row], data: dict[str, list[Row]]) -> str:
    return render_page(TEMPLATE, **_context(run, verdicts, data))


def write_report(run_dir: Path) -> Path:
    models.read(run_dir / "run.json", "storebench")  # kind, version and shape, or one line
    run = json.loads((run_dir / "run.json").read_text())
    verdicts_path = run_dir / CLAIMS_FILE
    if not verdicts_path.exists():  # a run from before the rename
        verdicts_path = run_dir / OLD_CLAIMS_FILE
    verdicts = json.loads(verdicts_path.read_text()) if verdicts_path.exists() else []
    return write_page(
        run_dir / "report.html", TEMPLATE, **_context(run, verdicts, load_data(run_dir))
    )
