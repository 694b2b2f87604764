"""scale.html: the scale study as one offline page, the guide's claims first, then a chart
per cost against the number of nodes, one line per session strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from harness.report.shell import figure_html, write_page

SCALE_PAGE = "scale.html"
# (row key, chart title, axis title, scale)
CHARTS = (
    ("session_heap_per_node_bytes", "Heap per node for the sessions", "MiB per node", 2**-20),
    ("cluster_bytes_per_request", "Bytes on the cluster port per request", "bytes", 1.0),
    ("store_bytes_per_request", "Bytes to and from the store per request", "bytes", 1.0),
    ("servers_cpu_ms_per_request", "Servers' CPU per request", "ms", 1.0),
    ("rps", "Throughput at the fixed arrival rate", "requests/s", 1.0),
    ("p99_ms", "p99 latency", "ms", 1.0),
    ("kill_lost_share", "Share of sessions lost to one node kill", "%", 100.0),
)
COLUMNS = (
    ("strategy", "strategy"),
    ("nodes", "nodes"),
    ("requests", "requests"),
    ("failures", "failures"),
    ("session_heap_per_node_bytes", "session heap per node (bytes)"),
    ("cluster_bytes_per_request", "cluster bytes/request"),
    ("store_bytes_per_request", "store bytes/request"),
    ("servers_cpu_ms_per_request", "servers' CPU ms/request"),
    ("rps", "req/s"),
    ("p99_ms", "p99 ms"),
    ("kill_lost_share", "lost to the kill"),
    ("machine_limited", "limited by the machine"),
    ("verdict", "verdict"),
)


def _chart(rows: list[dict[str, Any]], key: str, title: str, axis: str, scale: float) -> Any:
    fig = go.Figure()
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        points = [(r["nodes"], r[key]) for r in rows if r["strategy"] == strategy]
        points = [(n, v * scale) for n, v in points if v is not None]
        fig.add_trace(go.Scatter(x=[n for n, _ in points], y=[v for _, v in points], name=strategy))
    fig.update_layout(
        title=title, xaxis_title="nodes", yaxis_title=axis, height=360, margin={"t": 50}
    )
    return fig


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}"
    return "" if value is None else str(value)


def write_scale_page(run_dir: Path, data: dict[str, Any]) -> Path:
    rows = data["rows"]
    charts = [
        figure_html(_chart(rows, key, title, axis, scale), key)
        for key, title, axis, scale in CHARTS
    ]
    return write_page(
        run_dir / SCALE_PAGE,
        "scale.html.j2",
        name=Path(data["run_dir"]).name,
        users=data["users"],
        session_size=data["session_size"],
        rate=data["arrival_rate"],
        duration=data["duration_s"],
        fault=data["fault"] or "no fault",
        cores=data["machine"].get("cores", "?"),
        claims=data["claims"],
        charts=charts,
        labels=[label for _, label in COLUMNS],
        rows=[[_cell(row.get(key)) for key, _ in COLUMNS] for row in rows],
    )
