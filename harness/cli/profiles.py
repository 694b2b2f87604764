"""profiles: a short bench per profile, side by side; its table of throughput and latency."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from harness.cli.bench import confirmed, plan_from
from harness.cli.console import console
from harness.cli.options import (
    Parser,
    Subparsers,
    bench_options,
    config_option,
    inventory_options,
)
from harness.config.profile import load_profile

if TYPE_CHECKING:
    from harness.load.campaigns.profiles import ProfilesResult


def add_parser(subparsers: Subparsers) -> Parser:
    profiles = subparsers.add_parser(
        "profiles", help="a short bench per profile, side by side in one report"
    )
    profiles.add_argument(
        "names",
        nargs="*",
        default=[os.environ.get("TOMCAT_BENCH_PROFILES", "default best-practice small-pool")],
        help="profile names or .toml paths [env TOMCAT_BENCH_PROFILES; "
        "default: default best-practice small-pool]",
    )
    # Profiles are compared on the same undisturbed load; a fault is opt-in here.
    bench_options(
        profiles, duration_s="20", users="20", fault_target=("none", "node to SIGKILL mid-run")
    )
    inventory_options(profiles, apply_switch=False)  # each profile is applied, of course
    config_option(profiles, 'users = 50, duration = "5m"')
    return profiles


def run(args: argparse.Namespace) -> int:
    from harness.load.campaigns.profiles import run_profiles  # noqa: PLC0415

    names = [n for part in args.names for n in part.replace(",", " ").split()]
    if not names:
        raise ValueError("profiles: name at least one profile (e.g. default best-practice)")
    profiles = [load_profile(name) for name in names]  # all checked before any lab starts
    plan = plan_from(args, apply=True)
    if not confirmed(args, plan):
        return 2
    with console.status("profiles") as status:
        result = run_profiles(plan, profiles, progress=status.update)
    console.print(_table(result))
    console.print(f"comparison: {result.out / 'profiles.html'}", soft_wrap=True)
    return 0 if all("run" in entry for entry in result.runs) else 1


def _table(result: ProfilesResult) -> Table:
    from harness.report.profiles import whose  # noqa: PLC0415 - plotly only when it prints

    table = Table("profile", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures", "throughput is")
    for entry in result.runs:
        if "error" in entry:
            table.add_row(entry["profile"], Text(f"could not run: {entry['error']}"))
            continue
        s = result.summaries[entry["run"]]
        table.add_row(
            entry["profile"],
            f"{s['rps']:.1f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p95_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            str(s["failures"]),
            whose(s.get("generator_bound"), "the generator's (generator-bound)"),
        )
    return table
