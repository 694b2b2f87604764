"""Render one results folder (run.json + its requests file) as a self-contained HTML page.

The report reads nothing but the files in the folder, so it can be regenerated for old runs
and for runs copied from another machine. The page inlines plotly.js once and opens offline.
What the charts draw of the requests (RequestCharts) is summed batch by batch from a
requests.parquet (results/streaming.py), so a run of 100M requests is reported in the
memory of one batch; from the whole table for an older CSV, with the same numbers.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import plotly.graph_objects as go
from hdrh.histogram import HdrHistogram
from markupsafe import Markup

from harness.report import shell
from harness.report.shell import bare_figure, figure_html
from harness.report.time_figure import TimeFigure
from harness.results import outcomes as o
from harness.results.impact import describe_impact
from harness.results.requests import (
    CSV_FILE,
    Bins,
    Requests,
    as_requests,
    count_series,
    read_requests,
    second_of,
)
from harness.results.run_folder import (
    HDR_FILE,
    Record,
    dig,
    load_histograms,
    load_records,
    nearest_rank,
    number,
    percentile,
    read_manifest,
)
from harness.results.streaming import (
    DEFAULT_STREAMING,
    BinCounts,
    CountedValues,
    NotInTimeOrder,
    SecondPercentiles,
    SeriesCounts,
    Streaming,
    batches,
    micro_keys,
)
from harness.results.telemetry import TelemetryRow, load_jvm_telemetry, load_telemetry
from harness.results.verdicts import fates_line, window_line

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "Record",
    "Seconds",
    "bin_by_second",
    "jvm_figure",
    "load_records",
    "percentile",
    "render_page",
    "write_report",
]

# The order the report stacks them in: healthy first, then worse and worse.
OUTCOMES = (o.KEPT, o.NEW, o.DATA_LOST, o.REPLAYED, o.SESSION_LOST, o.ERROR)
HEALTHY_OUTCOMES = tuple(o.GOOD)
# Green means "working as intended"; warm colours grade how bad an anomaly is for a user.
OUTCOME_COLOURS = {
    o.KEPT: "#2ca02c",
    o.NEW: "#1f77b4",
    o.REPLAYED: "#9467bd",
    o.DATA_LOST: "#ff7f0e",
    o.SESSION_LOST: "#8b0000",
    o.ERROR: "#d62728",
}
OTHER_COLOUR = "#7f7f7f"
ERROR_SERIES = "errors"
LATENCY_PERCENTILES = ((50.0, "p50", "#1f77b4"), (95.0, "p95", "#ff7f0e"), (99.0, "p99", "#d62728"))
# Twenty points per decade of 1/(1-p) draws a smooth HDR curve without one point per sample.
HDR_POINTS_PER_DECADE = 20
MISSING = "n/a"
TITLES = {
    "throughput": "Throughput and latency over time",
    "nodes": "Requests per node over time",
    "continuity": "Session continuity over time",
    "latency": "Latency distribution (percentile spectrum)",
    "telemetry": "CPU and memory of the load generator and each server",
    "jvm": "Thread pool, heap and GC of each Tomcat node",
}
TEMPLATE = "run.html.j2"
# (column of jvm_telemetry.csv, y-axis title, scale); row order of the JVM figure.
JVM_PANELS = (
    (("pool_busy", "pool_current"), "threads: busy (current --)", 1.0),
    (("queue_size", "rejections"), "queued (rejected --)", 1.0),
    (("heap_used_bytes",), "heap used (MiB)", 1 / 2**20),
    (("young_gc_count", "old_gc_count"), "GCs: young (old --)", 1.0),
    (("young_gc_time_ms", "old_gc_time_ms"), "GC ms: young (old --)", 1.0),
)
_GC_COLUMNS = frozenset({"young_gc_count", "old_gc_count", "young_gc_time_ms", "old_gc_time_ms"})


@dataclass(frozen=True)
class Fault:
    at_s: float
    target: str
    action: str
    restored_at_s: float | None

    @property
    def label(self) -> str:
        return f"{self.action} {self.target}"


# --------------------------------------------------------------------------- loading


def _faults(run: dict[str, Any]) -> list[Fault]:
    raw = run.get("faults")
    faults: list[Fault] = []
    for item in raw if isinstance(raw, list) else []:
        at_s = number(dig(item, "at_s"))
        if at_s is None or dig(item, "fault_error"):
            continue  # not delivered: nothing happened to draw
        faults.append(
            Fault(
                at_s=at_s,
                target=str(dig(item, "target") or "?"),
                action=str(dig(item, "action") or "fault"),
                restored_at_s=number(dig(item, "restored_at_s")),
            )
        )
    return sorted(faults, key=lambda f: f.at_s)


# --------------------------------------------------------------------------- statistics


def bin_by_second(records: Iterable[Record]) -> list[list[Record]]:
    """Group records into 1-second bins by t_s: bin i holds [i, i+1); empty seconds stay empty."""
    bins: list[list[Record]] = []
    for record in records:
        # int() truncates toward zero, which is floor for the non-negative times we get;
        # clamping keeps a clock-skewed negative time in the first bin instead of wrapping.
        i = max(int(record.t_s), 0)
        if i >= len(bins):
            bins.extend([] for _ in range(i + 1 - len(bins)))
        bins[i].append(record)
    return bins


# What a report reads of each request: nothing else is loaded.
REPORT_COLUMNS = ("t_s", "node", "outcome", "latency_ms")


class Seconds:
    """A run's requests in 1-second bins (bin i holds [i, i+1)): what every chart over
    time draws, computed on columns."""

    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.bin = second_of(requests.t_s)
        self.count = int(self.bin.max()) + 1 if len(self.bin) else 0

    def throughput(self, rows: NDArray[np.bool_] | None = None) -> list[int]:
        chosen = self.bin if rows is None else self.bin[rows]
        return cast(list[int], np.bincount(chosen, minlength=self.count).tolist())

    def latency(self, rows: NDArray[np.bool_] | None = None) -> Bins:
        latency = self.requests.latency_ms
        if rows is None:
            return Bins.of(self.bin, latency, self.count)
        return Bins.of(self.bin[rows], latency[rows], self.count)

    def series(self, codes: NDArray[np.int32], names: Sequence[str]) -> dict[str, list[int]]:
        return count_series(self.bin, codes, names, self.count)


def _node_series(seconds: Seconds) -> dict[str, list[int]]:
    """Requests per second by the node that answered; errors as one series of their own."""
    requests = seconds.requests
    node = requests.node
    names = [name or "(no node)" for name in node.names] + [ERROR_SERIES]
    codes = node.codes.copy()
    codes[requests.is_error()] = len(names) - 1
    return seconds.series(codes, names)


# A spectrum's points: x = 1/(1-p), the latency there, and the label of each.
Points = tuple[list[float], list[float], list[str]]
# The latency lines of the throughput chart, and the max behind them.
BIN_PERCENTILES = (*(p for p, _, _ in LATENCY_PERCENTILES), 100.0)


@dataclass(frozen=True)
class RequestCharts:
    """What the charts draw of a run's requests, however they were read (the whole table,
    or batch by batch: the tests hold the two equal): per 1-second bin the throughput, the
    latency percentiles, the requests per node and per outcome; and each latency
    spectrum's points."""

    rows: int
    bins: int
    throughput: list[int]
    latency: dict[float, list[float | None]]  # by BIN_PERCENTILES
    nodes: dict[str, list[int]]  # errors as ERROR_SERIES
    outcomes: dict[str, list[int]]
    spectra: dict[str, Points]


def request_charts(requests: Requests, *, release: bool = False) -> RequestCharts:
    """The charts' data from the whole table. With release (requests read for this page
    alone), their times are dropped once binned."""
    seconds = Seconds(requests)
    if release:
        requests.release("t_s")
    # Answered requests only: a fast error is neither throughput nor a faster second.
    answered = ~requests.is_error()
    latency = seconds.latency(answered)
    per_bin = {p: latency.percentile(p) for p in BIN_PERCENTILES}
    del latency  # a sorted copy of every latency
    outcome = requests.outcome
    bins, throughput = seconds.count, seconds.throughput(answered)
    nodes, outcomes = _node_series(seconds), seconds.series(outcome.codes, outcome.names)
    del seconds  # the bins: the spectra need only the latencies
    spectra = {name: _hdr_points(values) for name, values in _latency_groups(requests).items()}
    return RequestCharts(len(requests), bins, throughput, per_bin, nodes, outcomes, spectra)


class _ChartSums:
    """The charts' data summed batch by batch (results/streaming.py: exact)."""

    def __init__(self) -> None:
        self.rows = 0
        self.bins = 0
        self.throughput = BinCounts()
        self.latency = SecondPercentiles(BIN_PERCENTILES)
        self.nodes = SeriesCounts()
        self.outcomes = SeriesCounts()
        self.all = CountedValues()
        self.per_node: dict[str, CountedValues] = {}

    def add(self, requests: Requests, offset: int) -> None:
        if not len(requests):
            return
        bins = second_of(requests.t_s)
        latency = requests.latency_ms
        self.rows += len(requests)
        self.bins = int(bins[-1]) + 1
        node, outcome, error = requests.node, requests.outcome, requests.is_error()
        answered = ~error  # as request_charts: errors are neither throughput nor latency
        self.throughput.add(bins[answered])
        self.latency.add(bins[answered], latency[answered])
        names = [name or "(no node)" for name in node.names] + [ERROR_SERIES]
        codes = node.codes.copy()
        codes[error] = len(names) - 1
        self.nodes.add(bins, codes, names, offset)
        self.outcomes.add(bins, outcome.codes, outcome.names, offset)
        keys = micro_keys(latency)  # once for every spectrum
        self.all.add(latency, keys)
        for code, name in enumerate(node.names):
            if not name:
                continue  # errors have no node; the spectra per node are of answers
            mine = answered & (node.codes == code)
            if mine.any():
                self.per_node.setdefault(name, CountedValues()).add(latency[mine], keys[mine])

    def charts(self) -> RequestCharts:
        spectra = {"all requests": _counted_points(self.all)}
        for name in sorted(self.per_node, key=_natural_key):
            spectra[f"{name} (no errors)"] = _counted_points(self.per_node[name])
        return RequestCharts(
            rows=self.rows,
            bins=self.bins,
            throughput=self.throughput.tolist(self.bins),
            latency=self.latency.result(self.bins),
            nodes=self.nodes.result(self.bins),
            outcomes=self.outcomes.result(self.bins),
            spectra=spectra,
        )


def streamed_charts(path: Path, batch_rows: int | None = None) -> RequestCharts:
    """The charts' data of a Parquet requests file read batch by batch; NotInTimeOrder
    for a file whose rows go back in time (read it whole instead)."""
    sums = _ChartSums()
    for batch in batches(path, REPORT_COLUMNS, batch_rows):
        sums.add(batch.requests, batch.offset)
    return sums.charts()


def _no_charts() -> RequestCharts:
    return RequestCharts(0, 0, [], {p: [] for p in BIN_PERCENTILES}, {}, {}, {})


def _natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    # So node10 sorts after node9, not after node1.
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)
    )


# --------------------------------------------------------------------------- figures


def _centres(n_bins: int) -> list[float]:
    # A bin covers [i, i+1); plotting at its middle keeps it on the right side of a fault line.
    return [i + 0.5 for i in range(n_bins)]


def _fig_throughput_latency(
    charts: RequestCharts, faults: Sequence[Fault], x_end: float
) -> TimeFigure:
    fig = TimeFigure(2, TITLES["throughput"], 650)
    x = _centres(charts.bins)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=charts.throughput,
            name="throughput",
            mode="lines",
            line={"color": "#444444"},
            hovertemplate="%{y} req/s",
        ),
        row=1,
    )
    for p, name, colour in LATENCY_PERCENTILES:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=charts.latency[p],
                name=f"{name} latency",
                mode="lines",
                line={"color": colour},
                hovertemplate=f"{name} %{{y:.3f}} ms<extra></extra>",
            ),
            row=2,
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=charts.latency[100.0],
            name="max latency",
            mode="lines",
            line={"color": OTHER_COLOUR, "dash": "dot"},
            visible="legendonly",  # timeouts would dwarf the percentiles; one click shows them
            hovertemplate="max %{y:.3f} ms<extra></extra>",
        ),
        row=2,
    )
    fig.y_axis(1, "answered (req/s)", rangemode="tozero")
    # Log scale: a 2 ms median and a multi-second failover spike must both stay readable.
    fig.y_axis(2, "latency per 1-s bin (ms)", type="log")
    fig.mark_faults(faults, x_end)
    return fig


def _fig_nodes(
    charts: RequestCharts, faults: Sequence[Fault], x_end: float, nodes: dict[str, str]
) -> TimeFigure:
    fig = TimeFigure(1, TITLES["nodes"], 420)
    series = dict(charts.nodes)
    errors = series.pop(ERROR_SERIES, [0] * charts.bins)
    # Nodes named in run.json get a line even if they served nothing: a flat zero is the finding.
    for node in nodes:
        series.setdefault(node, [0] * charts.bins)
    x = _centres(charts.bins)
    for node in sorted(series, key=_natural_key):
        address = nodes.get(node)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=series[node],
                name=f"{node} ({address})" if address else node,
                mode="lines",
                hovertemplate="%{y} req/s",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=errors,
            name="errors (any node)",
            mode="lines",
            line={"color": OUTCOME_COLOURS["error"], "dash": "dash"},
            hovertemplate="%{y} req/s",
        )
    )
    fig.y_axis(1, "requests (req/s)", rangemode="tozero")
    fig.mark_faults(faults, x_end)
    return fig


def _fig_telemetry(
    rows: Sequence[TelemetryRow], faults: Sequence[Fault], x_end: float
) -> TimeFigure:
    fig = TimeFigure(2, TITLES["telemetry"], 560)
    parts = sorted({part for _, part, _, _ in rows}, key=_natural_key)
    for part in parts:
        mine = [r for r in rows if r[1] == part]
        x = [r[0] for r in mine]
        fig.add_trace(
            go.Scatter(x=x, y=[r[2] for r in mine], name=part, mode="lines", legendgroup=part),
            row=1,
        )
        if part != "machine":
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[r[3] / 2**20 for r in mine],
                    name=part,
                    mode="lines",
                    legendgroup=part,
                    showlegend=False,
                ),
                row=2,
            )
    fig.y_axis(1, "CPU (cores)", rangemode="tozero")
    fig.y_axis(2, "RSS (MiB)", rangemode="tozero")
    fig.mark_faults(faults, x_end)
    return fig


def jvm_figure(
    runs: dict[str, Sequence[dict[str, Any]]],
    faults: Sequence[Fault] = (),
    x_end: float | None = None,
    title: str = TITLES["jvm"],
) -> TimeFigure:
    """One subplot per JVM_PANELS row; one line per (run label, node). GC counters are drawn
    from the node's first reading, so runs that started at different counts line up."""
    fig = TimeFigure(len(JVM_PANELS), title, 240 * len(JVM_PANELS))
    colours = iter(_PALETTE * 8)
    last = 0.0
    for label, rows in runs.items():
        for node in sorted({str(r["node"]) for r in rows}, key=_natural_key):
            mine = [r for r in rows if r["node"] == node]
            name = f"{label} {node}".strip()
            colour = next(colours)
            last = max([last, *(float(r["t_s"]) for r in mine)])
            for row, (columns, _, scale) in enumerate(JVM_PANELS, start=1):
                for k, column in enumerate(columns):
                    fig.add_trace(
                        go.Scatter(
                            x=[r["t_s"] for r in mine],
                            y=_jvm_values(mine, column, scale),
                            name=name,
                            legendgroup=name,
                            showlegend=row == 1 and k == 0,
                            mode="lines",
                            line={"color": colour, "dash": "dash" if k else "solid"},
                            hovertemplate=f"{html.escape(name)} {column} %{{y}}<extra></extra>",
                        ),
                        row=row,
                    )
    for row, (_, axis, _) in enumerate(JVM_PANELS, start=1):
        fig.y_axis(row, axis, rangemode="tozero")
    fig.mark_faults(faults, x_end if x_end is not None else last + 1)
    return fig


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _jvm_values(rows: Sequence[dict[str, Any]], column: str, scale: float) -> list[float | None]:
    values = [r.get(column) for r in rows]
    if column in _GC_COLUMNS:
        first = next((v for v in values if v is not None), 0.0)
        return [None if v is None else v - first for v in values]
    return [None if v is None else v * scale for v in values]


def _fig_continuity(charts: RequestCharts, faults: Sequence[Fault], x_end: float) -> TimeFigure:
    # Two rows: anomalies are a handful per second next to hundreds of kept requests, and
    # would vanish as a sliver at the bottom of a shared axis.
    fig = TimeFigure(2, TITLES["continuity"], 620)
    series = charts.outcomes
    unknown = sorted(set(series) - set(OUTCOMES))
    x = _centres(charts.bins)
    for outcome_name in (*OUTCOMES, *unknown):
        counts = series.get(outcome_name, [0] * charts.bins)
        colour = OUTCOME_COLOURS.get(outcome_name, OTHER_COLOUR)
        hover = f"{outcome_name} %{{y}}/s<extra></extra>"
        if outcome_name in HEALTHY_OUTCOMES:
            trace = go.Scatter(
                x=x,
                y=counts,
                name=outcome_name,
                mode="lines",
                line={"color": colour},
                hovertemplate=hover,
            )
            fig.add_trace(trace, row=1)
        else:
            trace = go.Bar(
                x=x, y=counts, name=outcome_name, marker_color=colour, width=1, hovertemplate=hover
            )
            fig.add_trace(trace, row=2)
    fig.update_layout(barmode="stack", bargap=0)
    fig.y_axis(1, "kept / new (req/s)", rangemode="tozero")
    fig.y_axis(2, "anomalies (req/s)", rangemode="tozero")
    fig.mark_faults(faults, x_end)
    return fig


def _percent_label(p: float) -> str:
    return f"{p:.6g}%"


def _hdr_points(latencies: Sequence[float] | NDArray[np.float64]) -> Points:
    """Points (x = 1/(1-p), latency, label) for an HDR percentile plot of sorted latencies."""
    return _spectrum(
        len(latencies),
        lambda ps: [nearest_rank(latencies, p) for p in ps],
        float(latencies[-1]),
        "",
    )


def _counted_points(latencies: CountedValues) -> Points:
    """The same points from counted latencies: the same ranks of the same values."""
    return _spectrum(
        len(latencies), lambda ps: [latencies.percentile(p) for p in ps], latencies.max(), ""
    )


def _histogram_points(histogram: HdrHistogram) -> tuple[list[float], list[float], list[str]]:
    """The same spectrum read from an HDR histogram (microseconds -> ms)."""

    def values_at(percentiles: list[float]) -> list[float]:
        # One pass over the counts for every point: get_value_at_percentile walks them
        # again for each (77 points: 0.13 s of a 0.22 s report), with the same answers.
        table = histogram.get_percentile_to_value_dict(percentiles)
        return [table[p] / 1000 for p in percentiles]

    return _spectrum(
        int(histogram.get_total_count()),
        values_at,
        histogram.get_max_value() / 1000,
        " (HDR)",
    )


def _spectrum(
    n: int,
    values_at: Callable[[list[float]], list[float]],
    max_value: float,
    suffix: str,
) -> tuple[list[float], list[float], list[str]]:
    """values_at(percentiles) -> their values, in order."""
    # Beyond x = n a percentile is no longer resolved by n samples; the max closes the curve.
    points = math.ceil(HDR_POINTS_PER_DECADE * math.log10(n)) if n > 1 else 0
    xs = [10 ** (k / HDR_POINTS_PER_DECADE) for k in range(points)]
    percentiles = [100.0 * (1.0 - 1.0 / x) for x in xs]
    ys = values_at(percentiles) if percentiles else []
    labels = [_percent_label(p) + suffix for p in percentiles]
    return [*xs, float(max(n, 1))], [*ys, max_value], [*labels, "max" + suffix]


def _hdr_ticks(x_max: float) -> tuple[list[float], list[str]]:
    values = [1.0, 2.0, 10.0]
    text = ["0%", "50%", "90%"]
    nines = 2
    while values[-1] < x_max:
        values.append(10.0**nines)
        text.append(_percent_label(100.0 - 100.0 / 10.0**nines))
        nines += 1
    return values, text


def _latency_groups(requests: Requests) -> dict[str, NDArray[np.float64]]:
    """Sorted latencies: of all requests, then of each node's answered ones."""
    latency = requests.latency_ms
    groups = {"all requests": np.sort(latency)}
    node = requests.node
    answered = ~requests.is_error()
    per_node: dict[str, list[NDArray[np.float64]]] = {}
    for code, name in enumerate(node.names):
        mine = latency[answered & (node.codes == code)]
        if name and len(mine):
            per_node.setdefault(name, []).append(mine)
    for name in sorted(per_node, key=_natural_key):
        parts = per_node.pop(name)
        # Sorted in place: each node's copy is made once, never twice.
        mine = parts[0] if len(parts) == 1 else np.concatenate(parts)
        mine.sort()
        groups[f"{name} (no errors)"] = mine
    return groups


def _fig_latency(
    spectra: Mapping[str, Points], histograms: Mapping[str, HdrHistogram] | None = None
) -> Any:
    curves: list[tuple[str, Points, dict[str, object]]] = [
        (name, points, {"width": 3 if name == "all requests" else 1.5})
        for name, points in spectra.items()
    ]
    merged = (histograms or {}).get("all")
    if merged is not None and merged.get_total_count():
        curves.append(
            (
                "all requests, HDR histogram (merged across Locust processes)",
                _histogram_points(merged),
                {"width": 2, "dash": "dot", "color": "#000000"},
            )
        )
    fig = bare_figure()
    x_max = 1.0
    for name, (xs, ys, labels), line in curves:
        x_max = max(x_max, xs[-1])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                customdata=labels,
                name=name,
                mode="lines",
                line=line,
                hovertemplate="%{customdata}: %{y:.3f} ms",
            )
        )
    tick_values, tick_text = _hdr_ticks(x_max)
    fig.update_layout(
        title={"text": TITLES["latency"], "x": 0.01},
        height=480,
        margin={"t": 70, "r": 30, "l": 70, "b": 60},
        xaxis={
            "title": {"text": "percentile (log scale of 1/(1-p))"},
            "type": "log",
            "tickvals": tick_values,
            "ticktext": tick_text,
        },
        yaxis={"title": {"text": "latency (ms)"}, "type": "log"},
    )
    return fig


# --------------------------------------------------------------------------- page


def _fmt(value: object, unit: str = "") -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def _summary_rows(
    run: dict[str, Any], faults: Sequence[Fault], row_count: int, requests_name: str
) -> list[tuple[str, str]]:
    def s(key: str) -> object:
        return dig(run, "summary", key)

    rows = [
        ("Profile", _fmt(dig(run, "profile", "name"))),
        ("Balancer", _fmt(dig(run, "lab", "balancer"))),
        ("Session store", _fmt(dig(run, "lab", "session_store"))),
        ("Session manager", _manager_text(dig(run, "lab", "session_manager"))),
        ("Profile's own settings", _requested_text(dig(run, "profile", "requested"))),
        ("Scenario", _fmt(dig(run, "load", "scenario") or "counter")),
        ("Nodes", ", ".join(f"{n} ({a})" if a else n for n, a in _nodes(run).items()) or MISSING),
        ("Users", _fmt(dig(run, "load", "users") or s("users"))),
        ("Duration", _fmt(dig(run, "duration_s"), "s")),
        ("Requests", _fmt(s("requests"))),
        ("Failures", _failures_text(s("failures"), s("requests"))),
        ("Throughput", _fmt(s("rps"), "req/s")),
        *_latency_rows(run),
        *_hdr_rows(run),
        ("Sessions", _sessions_text(run)),
        (f"Rows in {requests_name}", _fmt(row_count)),
    ]
    if s("lost_updates") is not None:
        rows.append((
            "Lost updates",
            f"{s('lost_updates')} of {s('acknowledged_updates')} acknowledged (ids a later "
            "reply of the session lacked)",
        ))  # fmt: skip
    if faults:
        rows.append(("Faults", "; ".join(_fault_text(f) for f in faults)))
        windows = dig(run, "summary", "judgement", "windows")
        for window in windows if isinstance(windows, list) else []:
            if isinstance(window, dict):
                rows.append((f"{window.get('label')}", window_line(window)))
        listed = dig(run, "summary", "fault_effects")
        for effects in listed if isinstance(listed, list) else []:
            if isinstance(effects, dict):
                rows.append((f"Effect of {effects.get('fault')}", _effects_text(effects)))
    for verdict in run.get("verdicts") or []:
        if isinstance(verdict, dict):
            cell = f"{verdict.get('balancer')} + {verdict.get('sessions')}, {verdict.get('fault')}"
            rows.append(("Verdict", f"{cell}: {verdict.get('verdict')}"))
    director = s("director")
    if isinstance(director, dict):
        rows.append(("L4 director", director_words(director)))
    bound = s("generator_bound")
    if bound is not None:
        tool = str(dig(run, "load", "tool") or "the load generator")
        rows.append(
            (
                "Whose throughput",
                f"the generator's ({tool}): generator-bound, it does not measure the server"
                if bound
                else "the server's (the generator was not the limit)",
            )
        )
    return rows


# What a session manager's settings are called in the report, in this order.
_MANAGER_WORDS = (
    ("read_mode", "readMode"),
    ("update_mode", "updateMode"),
    ("locking_mode", "lockingMode"),
    ("session_backup_async", "sessionBackupAsync"),
    ("channel_send_options", "channelSendOptions"),
)


def _manager_text(manager: object) -> str:
    """The manager's class and the modes it ran with (run.json's lab.session_manager)."""
    if not isinstance(manager, dict) or not manager.get("manager"):
        return MISSING
    words = [str(manager["manager"]).rsplit(".", 1)[-1]]
    words += [
        f"{name} {manager[key]}" for key, name in _MANAGER_WORDS if manager.get(key) is not None
    ]
    if isinstance(manager.get("sentinel"), dict):
        words.append("through Sentinel, with a replica")
    return ", ".join(words)


def _requested_text(requested: object) -> str:
    """What the profile set of the managers' and balancers' own settings, or "none"."""
    parts = []
    for section in ("sessions", "balancer"):
        tables = dig(requested, section)
        for name, values in (tables if isinstance(tables, dict) else {}).items():
            if isinstance(values, dict):
                settings = ", ".join(f"{k} = {v}" for k, v in values.items())
                parts.append(f"[{section}.{name}] {settings}")
    return "; ".join(parts) or "none (the lab's)"


def director_words(director: dict[str, Any]) -> str:
    """How the L4 director ran and how fast the harness's health checks made it react."""
    parts = [
        f"{director.get('kind', 'nftables')}: {director.get('how', '')}",
        f"health checked by the harness ({director.get('checks', '?')})",
        f"failed over {_fmt(director.get('reaction_s'), 's')} after the fault",
    ]
    if director.get("why"):
        parts.append(str(director["why"]))
    return "; ".join(parts)


def _effects_text(effects: dict[str, Any]) -> str:
    try:
        return describe_impact(effects)
    except (KeyError, TypeError, ValueError):
        return MISSING  # an older or hand-edited run.json


def _hdr_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    hdr = dig(run, "summary", "latency_hdr")
    if not isinstance(hdr, dict) or "p50_ms" not in hdr:
        return []  # schema 1, or a run without the HDR file
    keys = ("p50_ms", "p95_ms", "p99_ms", "p999_ms")
    return [
        (
            f"Latency p50 / p95 / p99 / p99.9 (HDR, {_fmt(hdr.get('processes'))} process(es))",
            " / ".join(_fmt(hdr.get(k)) for k in keys) + " ms",
        )
    ]


def _latency_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The headline latency is the one verdicts use: in the open model the latency
    corrected for coordinated omission, the measured one beside it."""
    keys = ("p50_ms", "p95_ms", "p99_ms")
    measured = " / ".join(_fmt(dig(run, "summary", k)) for k in keys) + " ms"
    corrected = dig(run, "summary", "corrected")
    if not isinstance(corrected, dict):
        return [
            ("Latency p50 / p95 / p99", measured),
            ("Latency used for verdicts", "measured (closed model: no schedule to correct)"),
        ]
    values = " / ".join(_fmt(corrected.get(k)) for k in keys) + " ms"
    return [
        ("Latency p50 / p95 / p99, corrected", values),
        ("Latency p50 / p95 / p99, measured", measured),
        (
            "Latency used for verdicts",
            "corrected for coordinated omission (from each request's intended send time)",
        ),
    ]


def _failures_text(failures: object, requests: object) -> str:
    part, whole = number(failures), number(requests)
    if part is None or not whole:
        return _fmt(failures)
    return f"{_fmt(failures)} ({100 * part / whole:.2f}%)"


def _fault_text(fault: Fault) -> str:
    restored = (
        "not restored" if fault.restored_at_s is None else f"restored at {fault.restored_at_s:g} s"
    )
    return f"{fault.label} at {fault.at_s:g} s ({restored})"


def _sessions_text(run: dict[str, Any]) -> str:
    """The judgement's fates; a run written before the judgement, its old counts."""
    judgement = dig(run, "summary", "judgement")
    if isinstance(judgement, dict) and isinstance(judgement.get("fates"), dict):
        return fates_line(
            judgement["fates"], judgement.get("users"), judgement.get("answered_again")
        )
    s = dig(run, "summary")
    kept, lost = _fmt(dig(s, "sessions_kept")), _fmt(dig(s, "sessions_lost"))
    return (
        f"{kept} kept, {lost} lost, {_fmt(dig(s, 'data_lost'))} lost data, "
        f"{_fmt(dig(s, 'replayed'))} replayed (written before the per-user judgement)"
    )


def _version_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    versions = run.get("versions")
    if not isinstance(versions, dict):
        return [("versions", MISSING)]
    return [(str(name), _fmt(value)) for name, value in versions.items()]


def _nodes(run: dict[str, Any]) -> dict[str, str]:
    raw = dig(run, "lab", "nodes")
    nodes: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else []:
        name = dig(item, "name")
        if isinstance(name, str) and name:
            nodes[name] = str(dig(item, "address") or "")
    return nodes


def _figures(
    run: dict[str, Any],
    data: RequestCharts,
    faults: Sequence[Fault],
    *,
    telemetry: Sequence[TelemetryRow] = (),
    jvm_rows: Sequence[dict[str, Any]] = (),
    histograms: Mapping[str, HdrHistogram] | None = None,
) -> dict[str, Markup]:
    """Each chart as its div. Each figure is turned into markup as soon as it is drawn, so
    only one figure's objects are alive at a time."""
    # Widen the axis to every fault so a fault after the last request is still drawn.
    fault_times = [t for f in faults for t in (f.at_s, f.restored_at_s) if t is not None]
    x_end = max([float(data.bins), *fault_times])
    charts = {
        "throughput": figure_html(_fig_throughput_latency(data, faults, x_end), "throughput"),
        "nodes": figure_html(_fig_nodes(data, faults, x_end, _nodes(run)), "nodes"),
        "continuity": figure_html(_fig_continuity(data, faults, x_end), "continuity"),
        "latency": figure_html(_fig_latency(data.spectra, histograms), "latency"),
    }
    if telemetry:
        charts["telemetry"] = figure_html(_fig_telemetry(telemetry, faults, x_end), "telemetry")
    if jvm_rows:
        charts["jvm"] = figure_html(jvm_figure({"": jvm_rows}, faults, x_end), "jvm")
    return charts


def _context(
    run: dict[str, Any],
    data: RequestCharts,
    *,
    requests_name: str,
    found: bool,
    telemetry: Sequence[TelemetryRow],
    jvm_rows: Sequence[dict[str, Any]],
    histograms: Mapping[str, HdrHistogram] | None,
) -> dict[str, object]:
    """What run.html.j2 shows. Without records there is no chart, so no plotly.js either."""
    faults = _faults(run)
    charts = (
        _figures(
            run,
            data,
            faults,
            telemetry=telemetry,
            jvm_rows=jvm_rows,
            histograms=histograms,
        )
        if data.rows
        else {}
    )
    subtitle = " | ".join(
        _fmt(v) for v in (dig(run, "started_at"), dig(run, "profile", "name")) if v is not None
    )
    return {
        "plotly": bool(charts),
        "run_id": str(run.get("run_id") or "unnamed run"),
        "subtitle": subtitle,
        "summary": _summary_rows(run, faults, data.rows, requests_name),
        "versions": _version_rows(run),
        "charts": charts,
        "requests_name": requests_name,
        "found": found,
    }


def render_page(
    run: dict[str, Any],
    records: Requests | Sequence[Record],
    requests_name: str,
    found: bool,
    telemetry: Sequence[TelemetryRow] = (),
    *,
    jvm_rows: Sequence[dict[str, Any]] = (),
    histograms: Mapping[str, HdrHistogram] | None = None,
) -> str:
    """The report page of one run, from what its folder holds."""
    requests = as_requests(records)
    context = _context(
        run,
        request_charts(requests) if len(requests) else _no_charts(),
        requests_name=requests_name,
        found=found,
        telemetry=telemetry,
        jvm_rows=jvm_rows,
        histograms=histograms,
    )
    return shell.render_page(TEMPLATE, **context)


def read_charts(path: Path, streaming: Streaming = DEFAULT_STREAMING) -> RequestCharts:
    """The charts' data of a run's requests file: batch by batch where streaming applies
    (a large Parquet file in time order), else from the whole table."""
    if streaming.applies(path):
        try:
            return streamed_charts(path, streaming.batch_rows)
        except NotInTimeOrder:
            pass  # written by hand or by a tool that does not sort: read it whole
    records = read_requests(path, REPORT_COLUMNS)
    return request_charts(records, release=True) if len(records) else _no_charts()


def write_report(run_dir: Path, *, streaming: Streaming = DEFAULT_STREAMING) -> Path:
    """Write run_dir/report.html from run.json and the requests file; return its path."""
    run = read_manifest(run_dir)
    requests_name = str(dig(run, "files", "requests") or CSV_FILE)
    requests_path = run_dir / requests_name
    found = requests_path.is_file()
    # Only the charts' data is kept of the requests: their columns' memory goes first.
    charts = read_charts(requests_path, streaming) if found else _no_charts()
    telemetry_name = str(dig(run, "files", "telemetry") or "telemetry.csv")
    telemetry = load_telemetry(run_dir / telemetry_name)
    jvm_name = str(dig(run, "files", "jvm_telemetry") or "jvm_telemetry.csv")
    jvm_rows = load_jvm_telemetry(run_dir / jvm_name)
    hdr_path = run_dir / str(dig(run, "files", "latency_hdr") or HDR_FILE)
    histograms = load_histograms(hdr_path) if hdr_path.is_file() else None
    context = _context(
        run,
        charts,
        requests_name=requests_name,
        found=found,
        telemetry=telemetry,
        jvm_rows=jvm_rows,
        histograms=histograms,
    )
    return shell.write_page(run_dir / "report.html", TEMPLATE, **context)


# Building blocks other pages (the profile comparison) draw with, so they look the same.
PALETTE = _PALETTE
hdr_points = _hdr_points
latency_groups = _latency_groups
