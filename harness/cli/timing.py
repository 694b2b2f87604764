"""timing: the kept benchmark of the wait for a verdict, beside the last run's figures."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, lab_place_options, lab_spec
from harness.cluster.lab.node_start import floor_s

if TYPE_CHECKING:
    from harness.load.timing import TimingPlan


def add_parser(subparsers: Subparsers) -> Parser:
    from harness.results.folders import RESULTS_DIR  # noqa: PLC0415

    timing = subparsers.add_parser(
        "timing", help="lab up per store, bench overhead, report time: beside the last run"
    )
    add(timing, "profile", "best-practice", "profile name or .toml path")
    add(
        timing,
        "stores",
        "none,redis,memcached-nonsticky,replication",
        "stores whose lab up is timed",
    )
    add(timing, "rounds", "5", "warm lab ups per store (their median is reported)", kind=int)
    add(timing, "bench-sessions", "redis", "session strategy of the timed benches")
    add(timing, "durations", "20,120", "seconds of load of each timed bench", kind=_floats)
    add(timing, "rows", "1000000,10000000", "requests of each synthetic run reported", kind=_ints)
    add(timing, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    lab_place_options(timing)
    return timing


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def plan_from(args: argparse.Namespace) -> TimingPlan:
    from harness.config.profile import load_profile  # noqa: PLC0415
    from harness.load.timing import TimingPlan  # noqa: PLC0415

    args.balancer, args.sessions = "nginx-rr", "none"
    cluster = lab_spec(args)
    fresh_dir = Path(f"{args.run_dir.rstrip('/')}-first")
    return TimingPlan(
        profile=load_profile(args.profile),
        cluster=cluster,
        fresh_cluster=replace(cluster, topology=replace(cluster.topology, run_dir=fresh_dir)),
        fresh_dir=fresh_dir,
        results_dir=Path(args.results_dir),
        stores=tuple(s.strip() for s in args.stores.split(",") if s.strip()),
        rounds=args.rounds,
        bench_sessions=args.bench_sessions,
        bench_command=(
            *(sys.executable, "-m", "harness", "bench", "--profile", args.profile),
            *("--balancer", "nginx-rr", "--nodes", str(args.nodes), "--net", args.net),
            *("--run-dir", args.run_dir),
        ),
        bench_durations=args.durations,
        rows=args.rows,
    )


def run(args: argparse.Namespace) -> int:
    from harness.load.timing import previous_figures, run_timing  # noqa: PLC0415

    plan = plan_from(args)
    with console.status("timing") as status:
        data = run_timing(plan, progress=status.update)
    before = previous_figures(data) or {}
    console.print(_lab_table(data, before))
    console.print(_node_table(data))
    console.print(_bench_table(data, before))
    console.print(_results_table(data, before))
    console.print(machine_words(data, before), soft_wrap=True)
    if data.get("previous"):
        console.print(f"before: {data['previous']}", soft_wrap=True)
    console.print(f"timing: {Path(data['run_dir']) / 'timing.json'}", soft_wrap=True)
    return 0


def machine_words(data: dict[str, Any], before: dict[str, Any]) -> str:
    """The machine's speed, now and in the last run: a fixed task bound by one core and one
    bound by memory, at the start and at the end. A figure that moved with them moved with
    the machine, not with the code."""
    words = "machine: " + "; ".join(
        _task_words(what, data, before, key)
        for what, key in (
            ("a fixed one-core task", "one_core_task_s"),
            ("random reads over 1 GiB", "memory_task_s"),
        )
        if key in (data.get("machine") or {})
    )
    # Measured: the one-core task missed an hour when the nodes' start CPU grew by half and
    # it by 8%; the memory task is there for what the core's speed does not tell.
    return words + "; a slower core or memory slows every figure above"


def _task_words(what: str, data: dict[str, Any], before: dict[str, Any], key: str) -> str:
    now = (data.get("machine") or {}).get(key) or {}
    then = (before.get("machine") or {}).get(key) or {}
    words = (
        f"{what} took {_s3(now.get('start'))} s at the start, {_s3(now.get('end'))} s at the end"
    )
    if before:
        words += f" (before: {_s3(then.get('start'))}, {_s3(then.get('end'))})"
    return words


def _s3(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _s(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _lab_table(data: dict[str, Any], before: dict[str, Any]) -> Table:
    table = Table(
        "lab up", "first (s)", "before", "warm median (s)", "before", "slowest part",
        "nodes' start CPU, warm (s)",
    )  # fmt: skip
    for store, now in data["lab_up"].items():
        then = (before.get("lab_up") or {}).get(store) or {}
        parts = {k: v for k, v in now["warm_parts_median_s"].items() if k != "up"}
        slowest = max(parts, key=parts.__getitem__) if parts else "-"
        table.add_row(
            store,
            _s(now["first_s"]),
            _s(then.get("first_s")),
            _s(now["warm_median_s"]),
            _s(then.get("warm_median_s")),
            f"{slowest} {_s(parts.get(slowest))}",
            _cpu(now.get("warm_start_cpu_median_s") or {}, now.get("cores")),
        )
    return table


NODE_PARTS = (
    "jvm", "tomcat_init", "deploy", "tomcat_start", "health_page", "first_page", "other",
)  # fmt: skip


def _node_table(data: dict[str, Any]) -> Table:
    """Where a node's start went, per store: warm medians over every node of every round
    (deploy holds the session manager's start and its store's first connection)."""
    table = Table("a node's start, warm (s)", *NODE_PARTS)
    for store, now in data["lab_up"].items():
        parts = now.get("warm_node_parts_median_s") or {}
        table.add_row(store, *(_s(parts.get(part)) for part in NODE_PARTS))
    return table


def _cpu(cpu: dict[str, float], cores: int | None) -> str:
    """'6.70, 61% JIT: 3.35 at least on 2 cores'; '-' for a run from before it was read."""
    if not cpu.get("cpu_s"):
        return "-"
    return (
        f"{cpu['cpu_s']:.2f}, {100 * cpu['jit_s'] / cpu['cpu_s']:.0f}% JIT: "
        f"{floor_s(cpu['cpu_s'], cores):.2f} at least on {cores} cores"
    )


def _bench_table(data: dict[str, Any], before: dict[str, Any]) -> Table:
    table = Table("bench", "beyond its load (s)", "before", "where it went (s)")
    earlier = {b["duration_s"]: b for b in before.get("benches") or []}
    for bench in data["benches"]:
        phases = ", ".join(
            f"{k} {v:.2f}" for k, v in bench["phases_s"].items() if k != "load" and v >= 0.05
        )
        busy = bench.get("cpu_before_load") or {}
        if isinstance(busy.get("busy_share"), float | int):
            phases += f"; before the load, {busy['busy_share']:.0%} of {busy['cores']} cores busy"
        table.add_row(
            f"{bench['duration_s']:g} s",
            _s(bench["beyond_load_s"]),
            _s((earlier.get(bench["duration_s"]) or {}).get("beyond_load_s")),
            phases,
        )
    return table


def _results_table(data: dict[str, Any], before: dict[str, Any]) -> Table:
    table = Table("requests", "report (s)", "MB", "before", "compare (s)", "MB", "before")
    earlier = {r["rows"]: r for r in before.get("results") or []}
    for row in data["results"]:
        then = earlier.get(row["rows"]) or {}
        table.add_row(
            f"{row['rows']:,}",
            _s(row["report_s"]),
            f"{row['report_peak_mb']:.0f}",
            _s(then.get("report_s")),
            _s(row["compare_s"]),
            f"{row['compare_peak_mb']:.0f}",
            _s(then.get("compare_s")),
        )
    return table
