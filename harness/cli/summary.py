"""The console summary of one bench: the table a bench prints once its results are
written. Apart from bench.py, and imported once a bench has ended: what it reads (fault
effects, the L4 director's words) imports numpy, which a bench's start need not wait for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.cli.console import console
from harness.cluster.lab.node_start import cpu_words
from harness.load.cpu_window import busy_words
from harness.report.run import director_words
from harness.results.impact import describe_impact
from harness.results.judgement import STALL_S
from harness.results.verdicts import fates_line, window_line


def _jvm_summary_text(j: dict[str, Any]) -> str:
    def val(key: str) -> str:
        return "-" if j.get(key) is None else str(j[key])

    heap = j.get("heap_used_peak_bytes")
    return (
        f"threads busy peak {val('busy_threads_peak')}/{val('pool_max')} "
        f"(current peak {val('current_threads_peak')}), queue peak {val('queue_peak')}, "
        f"rejected {val('rejections')}; heap used peak "
        f"{'-' if heap is None else f'{heap / 2**20:.0f} MiB'}; GC young "
        f"{val('young_gc_count')} ({val('young_gc_time_ms')} ms), old {val('old_gc_count')} "
        f"({val('old_gc_time_ms')} ms)"
    )


def print_summary(
    summary: dict[str, Any],
    run_dir: Path,
    lab_up_s: float,
    verdict: dict[str, Any],
    *,
    wall_s: float | None = None,
    start_cpu_s: dict[str, dict[str, float]] | None = None,
    cpu_before_load: dict[str, Any] | None = None,
    up: str = "lab up",
    wall_from: str = "lab up",
) -> None:
    table = Table(title=f"tomcat-bench: {run_dir.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, words in _summary_rows(summary, verdict):
        table.add_row(label, Text(words))  # its text may quote a log: no markup
    table.add_row(
        up,
        f"{lab_up_s:.1f} s to all-healthy"
        + (f" ({cpu})" if (cpu := cpu_words(start_cpu_s or {})) else "")
        + (f"; whole bench {wall_s:.1f} s ({wall_from} to results)" if wall_s else ""),
    )
    if busy := busy_words(cpu_before_load or {}):
        table.add_row("before the load", busy)
    console.print(table)
    console.print(f"report: {run_dir / 'report.html'}", soft_wrap=True)


def _unfinished_words(summary: dict[str, Any]) -> str:
    """The requests the stop cut off, when one had waited a second or more: a healthy run
    has a few, cut off milliseconds after their send."""
    unfinished = summary.get("unfinished") or {}
    longest = unfinished.get("longest_s")
    if not isinstance(longest, int | float) or longest < STALL_S:
        return ""
    return (
        f"; {unfinished['requests']} more still in flight when the load stopped "
        f"(the longest for {longest:.1f} s)"
    )


def _summary_rows(summary: dict[str, Any], verdict: dict[str, Any]) -> list[tuple[str, str]]:
    answered = summary.get("answered", summary["requests"])
    rows = [
        ("requests", f"{summary['requests']}, {answered} answered "
                     f"({summary['rps']:.1f}/s answered){_unfinished_words(summary)}"),
        ("failures", f"{summary['failures']} (HTTP errors: {summary['errors']})"),
        ("latency", f"p50 {summary['p50_ms']:.2f} ms  p95 {summary['p95_ms']:.2f} ms  "
                    f"p99 {summary['p99_ms']:.2f} ms (answered requests)"),
    ]  # fmt: skip
    corrected = summary.get("corrected")
    if corrected:
        rows.append((
            "latency, corrected",
            f"p50 {corrected['p50_ms']:.2f} ms  p95 {corrected['p95_ms']:.2f} ms  "
            f"p99 {corrected['p99_ms']:.2f} ms (answered requests, from each one's intended send "
            "time; verdicts use these)",
        ))  # fmt: skip
    judgement = summary["judgement"]
    rows.append((
        "sessions",
        fates_line(judgement["fates"], judgement["users"], judgement.get("answered_again")),
    ))  # fmt: skip
    if "lost_updates" in summary:
        rows.append((
            "lost updates",
            f"{summary['lost_updates']} of {summary['acknowledged_updates']} acknowledged "
            "(parallel requests; exact: ids a later reply of the session lacked)",
        ))  # fmt: skip
    for window in judgement["windows"]:
        at = window.get("at_s")
        when = f" at {at:.1f} s" if window.get("delivered") else ""
        rows.append((f"{window['label']}{when}", window_line(window)))
    director = summary.get("director")
    if director:
        rows.append(("L4 director", director_words(director)))
    telemetry = summary.get("telemetry")
    hosts = summary.get("load_hosts") or {}
    if telemetry:
        rows.append(("CPU (cores)", _cpu_words(telemetry, master=bool(hosts))))
    if hosts:
        rows.append(("load hosts (cores)", _load_hosts_words(hosts, summary)))
    for effects in summary.get("fault_effects") or []:
        rows.append((f"effect of {effects['fault']}", describe_impact(effects)))
    for node, j in (summary.get("jvm") or {}).items():
        rows.append((f"{node} JVM", _jvm_summary_text(j)))
    rows.append((
        "verdict",
        f"{verdict['balancer']} + sessions {verdict['sessions']}, fault {verdict['fault']}: "
        f"{verdict['verdict']}",
    ))  # fmt: skip
    return rows


def _stolen_words(stolen: object) -> str:
    """The VM's host's share, when it took a noticeable one (counted in the machine's)."""
    if not isinstance(stolen, int | float) or stolen < 0.05:
        return ""
    return f" ({stolen:.2f} taken by the VM's host)"


def _bound_words(bound: object) -> str:
    if bound is None:
        return "unknown (no steady second to judge it by)"
    return "YES: throughput measures Locust" if bound else "no"


def _cpu_words(telemetry: dict[str, Any], *, master: bool = False) -> str:
    """This machine's parts; with load hosts the generator here is only Locust's master,
    and whether the load was bound is told on the load hosts' row."""
    cpu = telemetry["cpu_cores_mean"]
    servers = ", ".join(
        f"{k} {v:.2f}" for k, v in cpu.items() if not k.startswith(("generator", "machine"))
    )
    wanted = telemetry.get("generator_demand_cores")
    bound = "see the load hosts" if master else _bound_words(telemetry["generator_bound"])
    return (
        f"{'Locust master' if master else 'generator'} {cpu.get('generator', 0):.2f}"
        + (f" (ran or waited to run: {wanted:.2f})" if wanted is not None else "")
        + (f", {servers}" if servers else "")
        + "; machine "
        f"{cpu.get('machine', 0):.2f}/{telemetry['cores']}"
        + _stolen_words(cpu.get("machine.steal"))
        + f"; generator-bound: {bound}"
    )


def _load_hosts_words(hosts: dict[str, Any], summary: dict[str, Any]) -> str:
    each = ", ".join(
        f"{name} {h['cores_mean']:.2f} of {h['processes']}"
        if h.get("cores_mean") is not None
        else f"{name} not read"
        for name, h in hosts.items()
    )
    return f"{each}; generator-bound: {_bound_words(summary.get('generator_bound'))}"
