"""capacity: how much the profile serves, as wrk sweeps connections and rates; its table."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from harness.cli.console import console
from harness.cli.inventory import up_label
from harness.cli.options import (
    Parser,
    Subparsers,
    add,
    cluster_spec,
    config_option,
    inventory_options,
    lab_options,
)
from harness.cluster.remote import is_inventory
from harness.config.profile import load_profile
from harness.results.folders import RESULTS_DIR
from harness.results.telemetry import bound_word

if TYPE_CHECKING:
    from harness.load.capacity import CapacityPlan


def add_parser(subparsers: Subparsers) -> Parser:
    capacity = subparsers.add_parser(
        "capacity", help="how much can the profile serve: wrk sweeps connections and rates"
    )
    add(capacity, "profile", "best-practice", "profile name or .toml path")
    add(capacity, "connections", "8,32,128,512", "closed-loop steps: connections, comma-separated")
    add(capacity, "rates", "", "paced steps: total requests/s, comma-separated (e.g. 1000,5000)")
    add(capacity, "rate-connections", "128", "connections available to each paced step", kind=int)
    add(capacity, "step-duration", "10", "seconds per step", kind=float)
    add(
        capacity,
        "threads",
        str(os.cpu_count() or 1),
        "wrk threads (at most one per core)",
        kind=int,
    )
    add(capacity, "target", "balancer", "what wrk hits: balancer, or a node (node1) directly")
    add(capacity, "url", "", "an already running session.jsp URL instead of the lab")
    add(capacity, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    lab_options(capacity)
    inventory_options(capacity)
    config_option(capacity, 'connections = "8,32,128"')
    return capacity


def _numbers(value: str, option: str, kind: Callable[[str], Any]) -> tuple[Any, ...]:
    try:
        return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option} {value!r}: give comma-separated numbers") from None


def plan_from(args: argparse.Namespace) -> CapacityPlan:
    from harness.load.capacity import CapacityPlan  # noqa: PLC0415

    return CapacityPlan(
        profile=load_profile(args.profile),
        connections=_numbers(args.connections, "--connections", int),
        rates=_numbers(args.rates, "--rates", float),
        rate_connections=args.rate_connections,
        step_s=args.step_duration,
        threads=args.threads,
        cluster=cluster_spec(args),
        results_dir=Path(args.results_dir),
        target=args.target,
        url=args.url or None,
    )


def run(args: argparse.Namespace) -> int:
    from harness.load.capacity import run_capacity  # noqa: PLC0415

    plan = plan_from(args)
    if is_inventory(plan.cluster) and not plan.url:
        steps = len(plan.connections) + len(plan.rates)
        console.print(
            f"plan: {steps} wrk steps of {plan.step_s:g} s at {plan.target} of the cluster in "
            f"{plan.cluster.inventory.path} (no fault; nothing on the hosts is touched)",
            soft_wrap=True,
        )
        if not args.yes:
            console.print("add --yes to put this load on these hosts", style="bold")
            return 2
    with console.status("capacity") as status:
        result = run_capacity(plan, progress=status.update)
    console.print(_table(result.steps))
    if result.lab_up_s is not None:
        console.print(f"{up_label(plan.cluster)} {result.lab_up_s:.1f} s")
    console.print(f"capacity: {result.run_dir / 'capacity.html'}", soft_wrap=True)
    broken = [r["step"] for r in result.steps if r["data_lost"] or r["replayed"]]
    if broken:
        console.print(f"session counters broke in: {', '.join(broken)}", style="red")
    # A step nothing was answered in measured nothing: never a clean sweep.
    return 1 if any(r["failures"] or not r["requests"] for r in result.steps) else 0


def _table(steps: list[dict[str, Any]]) -> Table:
    table = Table(
        "step", "req/s", "p50 ms", "p99 ms", "p99 corr. ms", "sessions", "failures",
        "gen. CPU ms/1000", "generator-bound",
    )  # fmt: skip
    for row in steps:
        corrected = row["p99_corrected_ms"]
        table.add_row(
            row["step"],
            f"{row['rps']:,.0f}" + (f" of {row['target_rps']:g}" if row["target_rps"] else ""),
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            "-" if corrected is None else f"{corrected:.2f}",
            str(row["sessions"]),
            str(row["failures"]),
            f"{row['generator_cpu_ms_per_1000'] or 0:.1f}",
            bound_word(row["generator_bound"]),
        )
    return table
