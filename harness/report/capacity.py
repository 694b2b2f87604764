"""capacity.html: the sweep as one offline page, a table and throughput/latency against load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from harness.report.shell import figure_html, render_page, write_page
from harness.results.telemetry import bound_word

TEMPLATE = "capacity.html.j2"

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


@dataclass(frozen=True)
class _Step:
    css: str
    cells: list[str]
    run: str


# A paced step answered at less than this share of its rate did not keep up with it.
KEPT_UP = 0.95


def _step(step: dict[str, Any]) -> _Step:
    """Red: failures, a bound generator, or nothing answered (a step all NaN and zeros is
    no evidence); amber: a paced step that fell short of its rate; green otherwise."""
    bad = step.get("failures") or step.get("generator_bound") or not step.get("requests")
    target, rps = step.get("target_rps") or 0.0, step.get("rps")
    short = target > 0 and (rps is None or rps < KEPT_UP * target)
    cells = [
        bound_word(step.get(key)) if key == "generator_bound" else _cell(step.get(key))
        for key, _ in COLUMNS
    ]
    return _Step("bad" if bad else "warn" if short else "good", cells, str(step.get("run", "")))


def _figure(steps: list[dict[str, Any]]) -> Markup | None:
    closed = [s for s in steps if s.get("model") == "closed"]
    if not closed:
        return None
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
    return figure_html(fig, "capacity")


def _context(data: dict[str, Any]) -> dict[str, object]:
    steps: list[dict[str, Any]] = list(data.get("steps") or [])
    chart = _figure(steps)
    return {
        "plotly": chart is not None,
        "name": f"{data.get('profile')} @ {data.get('target')}",
        "labels": [label for _, label in COLUMNS],
        "steps": [_step(step) for step in steps],
        "chart": chart,
    }


def render_sweep(data: dict[str, Any]) -> str:
    return render_page(TEMPLATE, **_context(data))


def write_sweep(path: Path, data: dict[str, Any]) -> Path:
    return write_page(path, TEMPLATE, **_context(data))
