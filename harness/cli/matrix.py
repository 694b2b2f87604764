"""matrix: a short bench per balancer x session strategy; its table of verdicts."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.cli.bench import confirmed, plan_from
from harness.cli.console import console
from harness.cli.options import (
    Parser,
    Subparsers,
    add,
    bench_options,
    config_option,
    flag,
    inventory_options,
)
from harness.cluster.lab.balancers import BALANCERS
from harness.cluster.lab.lab import SESSION_STORES
from harness.cluster.remote import is_inventory
from harness.results.outcomes import SCENARIO_CHOICES, check_scenario
from harness.results.verdicts import recovery_words


def add_parser(subparsers: Subparsers) -> Parser:
    matrix = subparsers.add_parser("matrix", help="a short bench per balancer x session strategy")
    bench_options(matrix, duration_s="15", users="10")
    inventory_options(matrix)
    add(matrix, "balancers", "all", "comma-separated balancers, or all")
    add(matrix, "strategies", "all", "comma-separated session strategies, or all")
    add(
        matrix,
        "scenarios",
        "",
        f"comma-separated session scenarios, each a cell of its own ({SCENARIO_CHOICES}; "
        "default: --scenario's one)",
    )
    flag(
        matrix,
        "fresh-labs",
        "every cell brings its own lab up and down, instead of the cells of one session "
        "strategy sharing one (slower; for comparison)",
    )
    config_option(matrix, 'balancers = "nginx-rr,haproxy-cookie"')
    return matrix


def run(args: argparse.Namespace) -> int:
    from harness.load.campaigns.matrix import run_matrix  # noqa: PLC0415

    plan = plan_from(args)
    if is_inventory(plan.cluster):
        # One's own cluster runs one balancer and one session manager: its own.
        if not confirmed(args, plan):
            return 2
        balancers, strategies = [plan.balancer], [plan.sessions]
    else:
        balancers = _names(args.balancers, list(BALANCERS), "--balancers")
        strategies = _names(args.strategies, SESSION_STORES, "--strategies")
    scenarios = _scenarios(args.scenarios) if args.scenarios else []
    with console.status("matrix") as status:
        result = run_matrix(
            plan,
            balancers,
            strategies,
            scenarios=scenarios,
            progress=status.update,
            reuse_labs=not args.fresh_labs,
        )
    console.print(_table(result.cells))
    overheads = [c["overhead_s"] for c in result.cells if "overhead_s" in c]
    if overheads and result.overhead_per_cell_s is not None:
        how = "fresh labs" if args.fresh_labs else "labs reused"
        console.print(
            "overhead per cell (the matrix's wall time beyond its loads): "
            f"mean {result.overhead_per_cell_s:.1f} s, max {max(overheads):.1f} s ({how})"
        )
    console.print(f"matrix: {result.matrix_dir / 'matrix.html'}", soft_wrap=True)
    return 0


def _names(value: str, known: Sequence[str], option: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()] if value != "all" else list(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"{option} {value}: choose from {', '.join(known)} (or all)")
    return names


def _scenarios(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        try:
            check_scenario(name)
        except ValueError as error:
            raise ValueError(f"--scenarios {value}: {error}") from None
    if not names:
        raise ValueError(f"--scenarios {value!r}: one or more of {SCENARIO_CHOICES}")
    return names


def _table(cells: list[dict[str, Any]]) -> Table:
    table = Table(
        "balancer",
        "sessions",
        "scenario",
        "fault",
        "kept",
        "data kept",
        "failed",
        "recovery",
        "verdict",
    )
    for c in cells:
        table.add_row(
            c["balancer"],
            c["sessions"],
            c.get("scenario", "counter"),
            c.get("fault", ""),
            f"{c.get('kept', '-')}/{c.get('users', '-')}",
            f"{c.get('data_kept', '-')}/{c.get('users', '-')}",
            str(c.get("failed_requests", "-")),
            recovery_words(c),
            Text(c["verdict"]),  # it may quote a log: no markup
        )
    return table
