"""perf: wrk, capacity mode and Locust side by side (req/s and generator CPU); its table."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, lab_place_options, lab_spec
from harness.cluster.lab.lab import SESSION_STORES
from harness.config.profile import load_profile
from harness.results.folders import RESULTS_DIR
from harness.results.telemetry import bound_word

if TYPE_CHECKING:
    from harness.load.perf import PerfPlan


def add_parser(subparsers: Subparsers) -> Parser:
    perf = subparsers.add_parser(
        "perf", help="wrk, capacity mode and Locust side by side: req/s and generator CPU"
    )
    add(perf, "profile", "best-practice", "profile name or .toml path")
    add(perf, "duration", "10", "seconds per generator and round", kind=float)
    add(perf, "rounds", "5", "rounds; each generator's median is reported", kind=int)
    add(perf, "connections", "32", "wrk connections and Locust users", kind=int)
    add(perf, "threads", str(os.cpu_count() or 1), "wrk threads", kind=int)
    add(perf, "target", "node1", "what every generator hits: a node directly, or balancer")
    add(
        perf,
        "scenarios",
        "inplace,growing,readonly,parallel:4",
        "session scenarios each priced by a Locust + tracking job of its own, beside the "
        "counter's (comma-separated; empty: none)",
    )
    add(perf, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    # Not lab_options(): perf picks no balancer, and its sessions default to none.
    add(perf, "sessions", "none", f"where sessions live: {', '.join(SESSION_STORES)}")
    lab_place_options(perf, nodes=False)
    return perf


def plan_from(args: argparse.Namespace) -> PerfPlan:
    from harness.load.perf import PerfPlan  # noqa: PLC0415

    return PerfPlan(
        profile=load_profile(args.profile),
        duration_s=args.duration,
        connections=args.connections,
        threads=args.threads,
        rounds=args.rounds,
        cluster=lab_spec(args, balancer="nginx-rr"),
        target=args.target,
        results_dir=Path(args.results_dir),
        scenarios=tuple(n.strip() for n in args.scenarios.split(",") if n.strip()),
    )


def run(args: argparse.Namespace) -> int:
    from harness.load.perf import run_perf  # noqa: PLC0415

    plan = plan_from(args)
    with console.status("perf") as status:
        data = run_perf(plan, progress=status.update)
    console.print(_table(data))
    _print_ratios(data["ratios"], data["targets"])
    timings = data["lab_timings_s"]
    nodes = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k.startswith("node"))
    console.print(f"lab up to all-healthy: {data['lab_up_s']:.1f} s ({nodes})")
    if data.get("warmup_rps"):
        steps = ", ".join(f"{rate:,.0f}" for rate in data["warmup_rps"])
        console.print(f"warm-up (wrk req/s per {data.get('warmup_step_s', 5):g} s step): {steps}")
    console.print(f"perf: {Path(data['run_dir']) / 'perf.json'}", soft_wrap=True)
    return 0


def _table(data: dict[str, Any]) -> Table:
    rows = data["rows"]
    wrk = rows[0]
    table = Table(
        "generator", "req/s", "x wrk", "gen. CPU ms/1000 req", "CPU x wrk", "failures",
        "generator-bound", title=f"make perf: {data['target']} (median of {data['rounds']} "
        f"rounds of {data['duration_s']:g} s, {data['connections_or_users']} connections/users)",
    )  # fmt: skip
    for row in rows:
        cpu, wrk_cpu = row["cpu_ms_per_1000"], wrk["cpu_ms_per_1000"]
        table.add_row(
            row["name"],
            f"{row['rps']:,.0f}",
            f"{row['rps'] / wrk['rps']:.3f}" if wrk["rps"] else "n/a",
            "n/a" if cpu is None else f"{cpu:.1f}",
            f"{cpu / wrk_cpu:.1f}" if cpu and wrk_cpu else "n/a",
            str(row["failures"]),
            bound_word(row["generator_bound"]),
        )
    return table


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _print_ratios(ratios: dict[str, Any], targets: dict[str, Any]) -> None:
    console.print(f"ratios: {ratios['how']}")
    capacity = ratios["capacity_to_wrk"]
    met = capacity is not None and capacity >= targets["capacity_to_wrk_min"]
    console.print(
        f"capacity mode / wrk: {capacity if capacity is not None else 'n/a'} req/s "
        f"(goal >= {targets['capacity_to_wrk_min']}: {'met' if met else 'NOT met'}); "
        f"its CPU per request is {ratios['capacity_cpu_to_wrk'] or 'n/a'}x wrk's"
    )
    for basis, suffix in (("req/s", ""), ("CPU per request", "_by_cpu")):
        total = ratios[f"tracking_and_binding_overhead{suffix}"]
        ok = total is not None and total <= targets["tracking_max"]
        console.print(
            f"Locust overhead vs plain FastHttpUser, by {basis}: tracking "
            f"{_pct(ratios[f'tracking_overhead{suffix}'])}, binding "
            f"{_pct(ratios[f'binding_overhead{suffix}'])}, both {_pct(total)} "
            f"(goal <= {_pct(targets['tracking_max'])}: {'met' if ok else 'NOT met'})"
        )
    by_scenario = ratios.get("scenario_tracking_overhead_by_cpu") or {}
    if by_scenario:
        over = [s for s, v in by_scenario.items() if v is None or v > targets["tracking_max"]]
        console.print(
            "tracking overhead by scenario, by CPU per request: "
            + ", ".join(f"{s} {_pct(v)}" for s, v in by_scenario.items())
            + f" (goal <= {_pct(targets['tracking_max'])}: "
            + ("met" if not over else f"NOT met by {', '.join(over)}")
            + ")"
        )
