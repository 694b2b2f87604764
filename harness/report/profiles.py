"""profiles.html: profiles side by side, from a profiles folder's index and each run's own
results folder: one table of their numbers, and throughput, latency and the JVMs overlaid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from markupsafe import Markup

from harness.report.run import (
    LATENCY_PERCENTILES,
    PALETTE,
    REPORT_COLUMNS,
    Seconds,
    hdr_points,
    jvm_figure,
)
from harness.report.shell import bare_figure, figure_html, render_page, write_page
from harness.report.time_figure import TimeFigure
from harness.results import outcomes as o
from harness.results.models import read as read_document
from harness.results.requests import read_requests
from harness.results.run_folder import dig, read_manifest
from harness.results.telemetry import JVM_TELEMETRY_FILE, load_jvm_telemetry

COMPARISON_FILE = "profiles.html"
INDEX_FILE = "profiles.json"
TEMPLATE = "profiles.html.j2"


def _loaded(out: Path, index: dict[str, Any]) -> list[dict[str, Any]]:
    """Each run that produced results: its manifest, records and JVM telemetry."""
    loaded = []
    for entry in index["runs"]:
        if "run" not in entry:
            continue
        run_dir = out / entry["run"]
        run = read_manifest(run_dir)
        loaded.append(
            {
                "profile": entry["profile"],
                "link": f"{entry['run']}/report.html",
                "run": run,
                "records": read_requests(
                    run_dir / str(dig(run, "files", "requests")), REPORT_COLUMNS
                ),
                "jvm": load_jvm_telemetry(run_dir / JVM_TELEMETRY_FILE),
            }
        )
    return loaded


def row_of(profile: str, run: dict[str, Any]) -> dict[str, Any]:
    """The comparison table's numbers for one run."""
    s = run.get("summary", {})
    nodes = s.get("jvm") or {}
    in_effect = dig(run, "lab", "in_effect") or {}
    assert isinstance(in_effect, dict)
    first: dict[str, Any] = next(iter(in_effect.values()), {}) if in_effect else {}
    pool = first.get("pool") or {}
    return {
        "profile": profile,
        "requests": s.get("requests"),
        "rps": s.get("rps"),
        "good_rps": _good_rps(s),
        "p50_ms": s.get("p50_ms"),
        "p95_ms": s.get("p95_ms"),
        "p99_ms": s.get("p99_ms"),
        "failures": _share(s.get("failures"), s.get("requests")),
        "throughput_is": whose(s.get("generator_bound"), "the generator's"),
        "pool": f"{pool.get('kind', '?')} maxThreads {pool.get('max_threads', '?')}",
        "max_heap_mib": (first.get("max_heap_bytes") or 0) // 2**20 or None,
        "gc": first.get("gc"),
        "busy_peak": _per_node(nodes, "busy_threads_peak"),
        "queue_peak": _per_node(nodes, "queue_peak"),
        "rejections": _per_node(nodes, "rejections"),
        "heap_peak_mib": _per_node(nodes, "heap_used_peak_bytes", 2**20),
        "young_gcs": _per_node(nodes, "young_gc_count"),
        "gc_time_ms": {
            n: (j.get("young_gc_time_ms") or 0) + (j.get("old_gc_time_ms") or 0)
            for n, j in nodes.items()
        },
    }


def whose(bound: object, generator: str) -> str:
    """Whose throughput a run measured; unknown when its generator could not be judged."""
    if bound is None:
        return "unknown (generator not judged)"
    return generator if bound else "the servers'"


def _good_rps(s: dict[str, Any]) -> float | None:
    """Replies that continued their session as they should (new or kept), per second:
    rps already leaves errors out; a lost session, lost data or a replay is no good reply
    either. None for a summary without its outcome counts."""
    rps, answered, by_outcome = s.get("rps"), s.get("answered"), s.get("outcomes")
    if not isinstance(rps, int | float) or not isinstance(by_outcome, dict):
        return None
    if not isinstance(answered, int) or not answered:
        return None
    good = sum(int(by_outcome.get(outcome) or 0) for outcome in o.GOOD)
    return round(rps * good / answered, 2)


def _share(part: object, whole: object) -> str | None:
    if not isinstance(part, int) or not isinstance(whole, int) or not whole:
        return None
    return f"{part} ({100 * part / whole:.1f}%)"


def _per_node(nodes: dict[str, Any], key: str, scale: int = 1) -> dict[str, Any]:
    return {n: None if j.get(key) is None else round(j[key] / scale) for n, j in nodes.items()}


COLUMNS = (
    ("profile", "profile"),
    ("pool", "pool read back"),
    ("max_heap_mib", "max heap (MiB, read back)"),
    ("gc", "GC"),
    ("requests", "requests"),
    ("rps", "throughput (req/s)"),
    ("good_rps", "good replies (/s)"),
    ("throughput_is", "throughput is"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"),
    ("failures", "failures"),
    ("busy_peak", "busy threads peak"),
    ("queue_peak", "queue peak"),
    ("rejections", "rejected"),
    ("heap_peak_mib", "heap used peak (MiB)"),
    ("young_gcs", "young GCs"),
    ("gc_time_ms", "GC time (ms)"),
)


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {'-' if v is None else v}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)


def _fig_throughput(loaded: list[dict[str, Any]]) -> TimeFigure:
    fig = TimeFigure(
        2, "Answered requests and errors per second, and p95 of answered, by profile", 600
    )
    for item, colour in zip(loaded, PALETTE * 8, strict=False):
        seconds = Seconds(item["records"])
        x = [i + 0.5 for i in range(seconds.count)]
        name = item["profile"]
        good = seconds.throughput(~item["records"].is_error())
        errors = seconds.throughput(item["records"].is_error())
        for y, dash, label in ((good, "solid", "answered"), (errors, "dot", "errors")):
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, name=f"{name} {label}", legendgroup=name, mode="lines",
                    line={"color": colour, "dash": dash},
                ),
                row=1,
            )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=x, y=seconds.latency(~item["records"].is_error()).percentile(95.0),
                name=f"{name} p95", legendgroup=name,
                showlegend=False, mode="lines", line={"color": colour},
            ),
            row=2,
        )  # fmt: skip
    fig.y_axis(1, "replies/s (errors dotted)", rangemode="tozero")
    fig.y_axis(2, "p95 latency (ms)", type="log")
    return fig


def _fig_latency(loaded: list[dict[str, Any]]) -> Any:
    fig = bare_figure()
    for item, colour in zip(loaded, PALETTE * 8, strict=False):
        records = item["records"]
        # Answered requests only, as every latency the harness reports: a fast error is
        # no reply.
        latencies = np.sort(records.latency_ms[~records.is_error()])
        if not len(latencies):
            continue
        xs, ys, labels = hdr_points(latencies)
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, customdata=labels, name=item["profile"], mode="lines",
                line={"color": colour}, hovertemplate="%{customdata}: %{y:.3f} ms",
            )
        )  # fmt: skip
    fig.update_layout(
        title={"text": "Latency percentile spectrum, by profile", "x": 0.01},
        height=460,
        xaxis={"title": {"text": "percentile (log scale of 1/(1-p))"}, "type": "log"},
        yaxis={"title": {"text": "latency (ms)"}, "type": "log"},
    )
    return fig


@dataclass(frozen=True)
class _Row:
    cells: list[tuple[str, str]]
    link: str
    bound: bool


def _row(row: dict[str, Any], link: str) -> _Row:
    cells = [(key, _cell(row[key])) for key, _ in COLUMNS]
    return _Row(cells, link, row["throughput_is"] == "the generator's")


def _charts(loaded: list[dict[str, Any]]) -> list[Markup]:
    if not loaded:
        return []
    jvm = jvm_figure(
        {item["profile"]: item["jvm"] for item in loaded},
        title="Thread pool, heap and GC of each node, by profile",
    )
    return [
        figure_html(_fig_throughput(loaded), "throughput"),
        figure_html(_fig_latency(loaded), "latency"),
        figure_html(jvm, "jvm"),
    ]


def _context(out: Path) -> dict[str, object]:
    index = read_document(out / INDEX_FILE, "profiles").model_dump(mode="json", by_alias=True)
    loaded = _loaded(out, index)
    charts = _charts(loaded)
    return {
        "plotly": bool(charts),
        "name": out.name,
        "balancer": index["balancer"],
        "sessions": index["sessions"],
        "users": index["users"],
        "duration": f"{index['duration_s']:g}",
        "faults": ", ".join(index["faults"]) or "none",
        "percentiles": "/".join(name for _, name, _ in LATENCY_PERCENTILES),
        "labels": [label for _, label in COLUMNS],
        "rows": [_row(row_of(item["profile"], item["run"]), item["link"]) for item in loaded],
        "failures": [entry for entry in index["runs"] if "error" in entry],
        "charts": charts,
    }


def render_comparison(out: Path) -> str:
    return render_page(TEMPLATE, **_context(out))


def write_comparison(out: Path) -> Path:
    """out/profiles.html from out/profiles.json and the runs it lists."""
    return write_page(out / COMPARISON_FILE, TEMPLATE, **_context(out))
