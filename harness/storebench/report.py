"""report.html for a storebench folder: the verdicts first, then the numbers under them.

Reads only the folder's files (run.json, cells.jsonl, native.jsonl, memory.json,
restart.json, e2e.json, claims.json), so it can be rebuilt later. Self-contained:
plotly.js is inlined once. What belongs to the servers (CPU per operation, the native
tools) and what to the Python clients is shown in separate sections.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from harness.report.run import _CSS, PLOTLY_CONFIG
from harness.results import models
from harness.storebench.cells import human_size
from harness.storebench.claims import CLAIMS_FILE, OLD_CLAIMS_FILE
from harness.storebench.run import load_data

Row = dict[str, Any]
COLOURS = {"redis": "#d62728", "memcached": "#1f77b4"}
PERCENTILE_DASH = {"p50_us": "solid", "p90_us": "dot", "p99_us": "dash", "p999_us": "longdash"}
VERDICT_COLOURS = {"holds": "#2ca02c", "does not hold": "#d62728"}
_EXTRA_CSS = """
.incomplete { padding: 1rem; background: #fdecea; border-left: 4px solid #d62728; }
.verdict { font-weight: 600; }
td ul { margin: 0; padding-left: 1.1rem; }
"""


def _colour(store: str) -> str:
    return COLOURS.get(store.split("-", 1)[0], "#7f7f7f")


def _figure(fig: Any, key: str, caption: str) -> str:
    div = cast(
        str,
        fig.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"fig-{key}", config=PLOTLY_CONFIG
        ),
    )
    return f'<section class="figure">{div}<p class="caption">{html.escape(caption)}</p></section>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def _verdict_table(verdicts: Sequence[Row]) -> str:
    rows = []
    for v in verdicts:
        colour = VERDICT_COLOURS.get(v["verdict"], "#ff7f0e")
        numbers = "".join(f"<li>{html.escape(n)}</li>" for n in v["numbers"])
        rows.append(
            f"<tr><td>{html.escape(v['claim'])}{' (finding)' if v['kind'] == 'finding' else ''}"
            f'</td><td class="verdict" style="color:{colour}">{html.escape(v["verdict"])}</td>'
            f"<td><ul>{numbers}</ul></td></tr>"
        )
    return (
        "<table><tr><th>the guide's claim</th><th>verdict</th><th>numbers</th></tr>"
        + "".join(rows)
        + "</table>"
    )


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


def _raw_table(rows: Sequence[Row], fields: Sequence[str]) -> str:
    return _table(fields, [[r.get(f) for f in fields] for r in rows])


def _sections(data: dict[str, list[Row]]) -> list[str]:
    cells, native = data["cells"], data["native"]
    out = []
    if native:
        measured = [r for r in native if not r.get("skipped")]
        out.append(
            "<h2>What belongs to the servers</h2><p>Server CPU per operation (user + "
            "system of the server process, read by psutil around each cell) does not "
            "depend on how fast the client is. Native tools: redis-benchmark and "
            "memaslap, one thread each.</p>"
        )
        out.append(
            _figure(
                _bars_by_cell(
                    measured,
                    "server_cpu_us_per_op",
                    "Server CPU per operation, native tools",
                    "CPU us / op",
                    True,
                ),
                "native-cpu",
                "Lower is cheaper per core.",
            )
        )
        out.append(
            _figure(
                _bars_by_cell(
                    measured, "ops_per_s", "Throughput, native tools", "operations / s", True
                ),
                "native-tput",
                "memaslap GET throughput is taken from its GET phase only.",
            )
        )
        skipped = [r for r in native if r.get("skipped")]
        if skipped:
            out.append(
                "<h3>Native cells skipped</h3>"
                + _raw_table(skipped, ("tool", "op", "size", "conns", "skipped"))
            )
        out.append(
            "<h3>Native cells</h3>"
            + _raw_table(
                native,
                (
                    "tool",
                    "store",
                    "op",
                    "size",
                    "conns",
                    "ops",
                    "misses",
                    "errors",
                    "ops_per_s",
                    "mean_us",
                    "p50_us",
                    "p99_us",
                    "max_us",
                    "server_cpu_us_per_op",
                    "server_cores",
                    "note",
                ),
            )
        )
    if cells:
        out.append(
            "<h2>What belongs to the Python clients</h2><p>redis-py with hiredis and "
            "pymemcache (no_delay, replies awaited), one thread and one connection per "
            "concurrent client. Python's GIL caps the client at one core: throughput and "
            "latency here include the client library; the server CPU per op is still "
            "the server's.</p>"
        )
        out.append(
            _figure(
                _latency_figure(cells),
                "latency",
                "Misses are counted and never timed; the table lists them.",
            )
        )
        out.append(
            _figure(
                _bars_by_cell(
                    cells, "ops_per_s", "Throughput, Python clients", "operations / s", True
                ),
                "py-tput",
                "",
            )
        )
        out.append(
            _figure(
                _bars_by_cell(
                    cells,
                    "client_cpu_us_per_op",
                    "Client CPU per operation (this Python process)",
                    "CPU us / op",
                    True,
                ),
                "py-client-cpu",
                "",
            )
        )
        out.append(
            _figure(
                _bars_by_cell(
                    cells,
                    "server_cpu_us_per_op",
                    "Server CPU per operation, Python clients",
                    "CPU us / op",
                    True,
                ),
                "py-server-cpu",
                "",
            )
        )
        out.append(
            "<h3>Python-client cells</h3>"
            + _raw_table(
                cells,
                (
                    "store",
                    "op",
                    "size",
                    "conns",
                    "ops",
                    "misses",
                    "errors",
                    "ops_per_s",
                    "p50_us",
                    "p90_us",
                    "p99_us",
                    "p999_us",
                    "server_cpu_us_per_op",
                    "client_cpu_us_per_op",
                ),
            )
        )
    if data["memory"]:
        out.append("<h2>Memory per session</h2>")
        out.append(
            _figure(
                _memory_figure(data["memory"]),
                "memory",
                "Differences before and after writing the sessions, divided by their "
                "number; each layout in a fresh server.",
            )
        )
        out.append(
            _raw_table(
                data["memory"],
                (
                    "layout",
                    "sessions",
                    "items_stored",
                    "payload_bytes_per_session",
                    "server_bytes_per_session",
                    "server_measure",
                    "rss_bytes_per_session",
                    "encoding",
                ),
            )
        )
    if data["restart"]:
        out.append(
            "<h2>Restart and loss</h2>"
            + _raw_table(data["restart"], ("case", "how", "sessions", "survived"))
        )
    if data["e2e"]:
        out.append("<h2>End to end through Tomcat</h2>")
        out.append(
            _figure(
                _e2e_figure(data["e2e"]),
                "e2e",
                "Each bar is one short bench (no fault) with its own results folder.",
            )
        )
        out.append(
            _raw_table(
                data["e2e"],
                (
                    "strategy",
                    "balancer",
                    "size",
                    "requests",
                    "failures",
                    "rps",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "store_cpu_us_per_request",
                    "generator_bound",
                    "run",
                ),
            )
        )
    return out


def render(run: Row, verdicts: Sequence[Row], data: dict[str, list[Row]]) -> str:
    banner = ""
    if not run.get("complete"):
        banner = (
            f'<p class="incomplete">Incomplete run: {html.escape(str(run.get("incomplete")))}'
            ". The numbers below are what was measured before it stopped.</p>"
        )
    fairness = "".join(f"<li>{html.escape(f)}</li>" for f in run.get("fairness", []))
    versions = ", ".join(f"{k} {v}" for k, v in run.get("versions", {}).items())
    body = "\n".join(_sections(data))
    title = html.escape(f"tomcat-bench storebench: {run.get('run_id')}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_CSS}{_EXTRA_CSS}</style><script>{get_plotlyjs()}</script></head>
<body><header><h1>{title}</h1>
<p class="sub">{html.escape(str(run.get("started_at")))} | {html.escape(versions)}</p></header>
<main>{banner}
<h2>Verdicts</h2>{_verdict_table(verdicts)}
<h3>How it was kept fair</h3><ul>{fairness}</ul>
{body}</main></body></html>
"""


def write_report(run_dir: Path) -> Path:
    models.read(run_dir / "run.json", "storebench")  # kind, version and shape, or one line
    run = json.loads((run_dir / "run.json").read_text())
    verdicts_path = run_dir / CLAIMS_FILE
    if not verdicts_path.exists():  # a run from before the rename
        verdicts_path = run_dir / OLD_CLAIMS_FILE
    verdicts = json.loads(verdicts_path.read_text()) if verdicts_path.exists() else []
    page = render(run, verdicts, load_data(run_dir))
    out = run_dir / "report.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
