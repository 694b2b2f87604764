"""capacity.html: the sweep as one offline page, a table and throughput/latency against load."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

COLUMNS = (
    ("step", "step"),
    ("connections", "connections"),
    ("target_rps", "target req/s"),
    ("rps", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("p99_corrected_ms", "p99 corrected ms"),
    ("sessions", "sessions"),
    ("failures", "failures"),
    ("data_lost", "sessions with lost data"),
    ("replayed", "sessions with a replay"),
    ("generator_cpu_ms_per_1000", "generator CPU ms / 1000 req"),
    ("generator_bound", "generator-bound"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "YES" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _figure(steps: list[dict[str, Any]]) -> str:
    closed = [s for s in steps if s.get("model") == "closed"]
    if not closed:
        return ""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [s["connections"] for s in closed]
    fig.add_trace(go.Scatter(x=x, y=[s["rps"] for s in closed], name="req/s", mode="lines+markers"))
    for key, name in (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")):
        fig.add_trace(
            go.Scatter(x=x, y=[s[key] for s in closed], name=name, mode="lines+markers"),
            secondary_y=True,
        )
    fig.update_xaxes(type="log", title_text="connections (closed loop)")
    fig.update_yaxes(title_text="requests/s", secondary_y=False)
    fig.update_yaxes(title_text="latency (ms)", secondary_y=True)
    fig.update_layout(title="Throughput and latency against concurrency", height=420)
    out: str = fig.to_html(full_html=False, include_plotlyjs=False)
    return out


def render_sweep(data: dict[str, Any]) -> str:
    steps: list[dict[str, Any]] = list(data.get("steps") or [])
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in COLUMNS)
    rows = []
    for step in steps:
        cells = "".join(f"<td>{html.escape(_cell(step.get(k)))}</td>" for k, _ in COLUMNS)
        bad = step.get("failures") or step.get("generator_bound")
        link = html.escape(str(step.get("run", "")))
        rows.append(
            f'<tr class="{"bad" if bad else "good"}">{cells}'
            f'<td><a href="{link}/report.html">report</a></td></tr>'
        )
    return _PAGE.format(
        title=html.escape(f"{data.get('profile')} @ {data.get('target')}"),
        plotly=get_plotlyjs(),
        head=head,
        rows="\n".join(rows),
        figure=_figure(steps),
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tomcat-bench capacity {title}</title>
<script>{plotly}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
tr.bad td {{ background: #f7d4d4; }}
</style></head><body>
<h1>Capacity {title}</h1>
<p>wrk drives session.jsp; each session has at most one request in flight and its counter
is checked on every reply (a lost update or a replay is a failure). Closed-loop steps send
as fast as replies come; paced steps send at a fixed rate, and their corrected latency
counts from the intended send time (coordinated omission). A generator-bound step measured
wrk, not the server.</p>
<table><thead><tr>{head}<th>charts</th></tr></thead><tbody>
{rows}
</tbody></table>
{figure}
</body></html>
"""
