"""Profiles side by side: one short bench per profile, the same load on the same lab shape,
and one page comparing throughput, latency, and each node's threads, heap and GC.

results/<time>-profiles/
  profiles.json     the runs, their profiles and the table's numbers
  profiles.html     the comparison (self-contained plotly)
  runs/<time>-<profile>/   each bench's own full results folder and report
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from harness.cluster import ClusterError
from harness.config.profile import Profile
from harness.load.bench import BenchPlan, run_bench
from harness.report.run import (
    LATENCY_PERCENTILES,
    PALETTE,
    PLOTLY_CONFIG,
    bin_by_second,
    hdr_points,
    jvm_figure,
    latency_by_second,
    load_jvm_telemetry,
    time_figure,
    write_report,
)
from harness.results import dig, iso, load_records, new_run_dir, read_manifest
from harness.results.models import write_document

log = logging.getLogger(__name__)

COMPARISON_FILE = "profiles.html"
INDEX_FILE = "profiles.json"


def run_profiles(
    template: BenchPlan, profiles: Sequence[Profile], *, progress: Callable[[str], None]
) -> Path:
    """One bench per profile (each with its own lab up and down); returns the folder."""
    out = new_run_dir("profiles", template.results_dir)
    started = time.time()
    runs: list[dict[str, Any]] = []
    for n, profile in enumerate(profiles, start=1):
        progress(f"profile {n}/{len(profiles)}: {profile.name}")
        plan = replace(template, profile=profile, results_dir=out / "runs", label=profile.name)

        def step(text: str, name: str = profile.name) -> None:
            progress(f"{name}: {text}")

        try:
            result = run_bench(plan, progress=step)
        except (ClusterError, RuntimeError, OSError) as error:
            log.warning("profile %s could not run: %s", profile.name, error)
            runs.append({"profile": profile.name, "error": str(error)})
        else:
            write_report(result.run_dir)
            runs.append({"profile": profile.name, "run": str(result.run_dir.relative_to(out))})
        # Written after every run: an interrupted comparison keeps what it measured.
        _write(out, template, runs, started)
    return out


def _write(out: Path, template: BenchPlan, runs: list[dict[str, Any]], started: float) -> None:
    index = {
        "schema": "tomcat-bench/profiles",
        "schema_version": 1,
        "started_at": iso(started),
        "ended_at": iso(time.time()),
        "balancer": template.balancer,
        "sessions": template.sessions,
        "users": template.users,
        "duration_s": template.duration_s,
        "faults": [str(f) for f in template.fault_specs()],
        "runs": runs,
    }
    write_document(out / INDEX_FILE, index, "profiles")
    write_comparison(out)


# --------------------------------------------------------------------------- the page


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
                "records": load_records(run_dir / str(dig(run, "files", "requests"))),
                "jvm": load_jvm_telemetry(run_dir / "jvm_telemetry.csv"),
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
        "throughput_is": "the generator's" if s.get("generator_bound") else "the servers'",
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


def _good_rps(s: dict[str, Any]) -> float | None:
    """Throughput of successful replies only: a node answering errors fast is not faster."""
    rps, requests, errors = s.get("rps"), s.get("requests"), s.get("errors")
    if not isinstance(rps, int | float) or not isinstance(requests, int) or not requests:
        return None
    return round(rps * (1 - (errors or 0) / requests), 2)


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


def _table(rows: list[dict[str, Any]], links: dict[str, str], errors: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in COLUMNS)
    body = []
    for row in rows:
        cells = "".join(f"<td>{html.escape(_cell(row[key]))}</td>" for key, _ in COLUMNS)
        link = html.escape(links[row["profile"]])
        bound = "bound" if row["throughput_is"] == "the generator's" else ""
        body.append(f'<tr class="{bound}">{cells}<td><a href="{link}">report</a></td></tr>')
    for entry in errors:
        body.append(
            f"<tr><td>{html.escape(entry['profile'])}</td>"
            f'<td colspan="{len(COLUMNS)}">could not run: {html.escape(entry["error"])}</td></tr>'
        )
    return (
        f"<table><thead><tr>{head}<th>run</th></tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table>"
    )


def _fig_throughput(loaded: list[dict[str, Any]]) -> Any:
    fig = time_figure(2, "Good replies and errors per second, and p95 latency, by profile", 600)
    for item, colour in zip(loaded, PALETTE * 8, strict=False):
        bins = bin_by_second(item["records"])
        x = [i + 0.5 for i in range(len(bins))]
        name = item["profile"]
        good = [sum(1 for r in b if r.outcome != "error") for b in bins]
        errors = [len(b) - g for b, g in zip(bins, good, strict=True)]
        for y, dash, label in ((good, "solid", "good"), (errors, "dot", "errors")):
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, name=f"{name} {label}", legendgroup=name, mode="lines",
                    line={"color": colour, "dash": dash},
                ),
                row=1,
                col=1,
            )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=x, y=latency_by_second(bins, 95.0), name=f"{name} p95", legendgroup=name,
                showlegend=False, mode="lines", line={"color": colour},
            ),
            row=2,
            col=1,
        )  # fmt: skip
    fig.update_yaxes(title_text="replies/s (errors dotted)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="p95 latency (ms)", type="log", row=2, col=1)
    return fig


def _fig_latency(loaded: list[dict[str, Any]]) -> Any:
    fig = go.Figure()
    for item, colour in zip(loaded, PALETTE * 8, strict=False):
        latencies = sorted(r.latency_ms for r in item["records"])
        if not latencies:
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
        template="plotly_white",
        height=460,
        xaxis={"title": {"text": "percentile (log scale of 1/(1-p))"}, "type": "log"},
        yaxis={"title": {"text": "latency (ms)"}, "type": "log"},
    )
    return fig


def _div(fig: Any, key: str) -> str:
    return cast(
        str,
        fig.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"fig-{key}", config=PLOTLY_CONFIG
        ),
    )


def render_comparison(out: Path) -> str:
    index = json.loads((out / INDEX_FILE).read_text())
    loaded = _loaded(out, index)
    rows = [row_of(item["profile"], item["run"]) for item in loaded]
    links = {item["profile"]: item["link"] for item in loaded}
    errors = [entry for entry in index["runs"] if "error" in entry]
    figures = ""
    if loaded:
        figures = "\n".join(
            [
                _div(_fig_throughput(loaded), "throughput"),
                _div(_fig_latency(loaded), "latency"),
                _div(
                    jvm_figure(
                        {item["profile"]: item["jvm"] for item in loaded},
                        title="Thread pool, heap and GC of each node, by profile",
                    ),
                    "jvm",
                ),
            ]
        )
    percentiles = "/".join(name for _, name, _ in LATENCY_PERCENTILES)
    return _PAGE.format(
        title=html.escape(out.name),
        plotly=get_plotlyjs() if loaded else "",
        setup=html.escape(
            f"{index['balancer']}, sessions {index['sessions']}, {index['users']} users, "
            f"{index['duration_s']:g} s each, faults: {', '.join(index['faults']) or 'none'}"
        ),
        percentiles=percentiles,
        table=_table(rows, links, errors),
        figures=figures,
    )


def write_comparison(out: Path) -> Path:
    path = out / COMPARISON_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_comparison(out), encoding="utf-8")
    tmp.replace(path)
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tomcat-bench profiles {title}</title>
<script>{plotly}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1300px;
       padding: 1rem 2rem; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }}
tr.bound td:nth-child(8) {{ background: #fbecc8; }}
</style></head><body>
<h1>Profiles side by side: {title}</h1>
<p>{setup}. Each row is one bench on a fresh lab with that profile; "pool read back" and
"max heap" are what the running JVMs reported, not what the profile asked for. Latency
{percentiles} and throughput count every request, failed ones too (an error answered at once
is fast); "good replies" counts the successful ones only. "Throughput is the generator's"
means Locust, not Tomcat, was the limit in that run (see telemetry's generator-bound
rule): its throughput does not rank the profile.</p>
{table}
{figures}
</body></html>
"""
