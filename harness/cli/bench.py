"""bench: lab up, load with a node killed mid-run, report; the summary table (summary.py).

plan_from is the one place a BenchPlan is built from options (matrix and profiles use it too).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cli.console import console, progress_bar
from harness.cli.inventory import fault_plan, up_label
from harness.cli.options import (
    Parser,
    Subparsers,
    add,
    bench_options,
    cluster_spec,
    config_option,
    inventory_options,
)
from harness.cluster.remote import is_inventory
from harness.config.faults import schedule
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan, BenchResult
from harness.results.checks import (
    METRICS,
    Check,
    evaluate,
    outcomes_junit,
    parse_checks,
    read_check_file,
)
from harness.results.folders import new_run_dir

EPILOG = (
    "Options may also come from a TOML file keyed by their long names: "
    "--config examples/bench.toml is a short closed-model bench with a node kill. "
    "The command line wins over the environment, the environment over the file."
)


def add_parser(subparsers: Subparsers) -> Parser:
    bench = subparsers.add_parser(
        "bench", help="lab up, load with a node killed mid-run, report", epilog=EPILOG
    )
    bench_options(bench, duration_s="60", users="20")
    inventory_options(bench)
    from_env = os.environ.get("TOMCAT_BENCH_CHECKS", "")
    check = bench.add_argument(
        "--check",
        action="append",
        default=[from_env] if from_env else [],
        metavar="'METRIC OP NUMBER'",
        help="a pass/fail check on the summary, e.g. 'sessions_lost == 0' or 'p99_ms < 300' "
        f"(repeatable; several in one, split by ';'); metrics: {', '.join(METRICS)}; exit 1 "
        "when one fails [env TOMCAT_BENCH_CHECKS]",
    )
    bench.twins[check.dest] = "TOMCAT_BENCH_CHECKS"
    add(bench, "check-file", "", 'a TOML file with a [checks] table: p99_ms = "< 300"')
    add(
        bench,
        "repeat",
        "1",
        "run the same plan N times into one folder (runs/ and repeats.json), so compare "
        "can judge speed across runs",
        kind=int,
    )
    add(bench, "junit", "", "write the checks as JUnit XML to this file")
    config_option(bench, 'users = 50, duration = "5m"')
    return bench


def plan_from(args: argparse.Namespace, *, apply: bool = False) -> BenchPlan:
    """apply: with an inventory, each bench puts its profile on the nodes first."""
    target = None if args.fault_target in ("", "none") else args.fault_target
    cluster = cluster_spec(args, apply=apply)
    # One's own cluster: users here send from the addresses its inventory gives this
    # machine; users on load hosts from those hosts' own.
    source_net = args.source_net or None
    named = [part.strip() for part in (args.faults or "").split(",")]
    if "store-failover" in named and cluster.sessions != "redis-sentinel":
        raise ValueError(
            f"FAULTS=store-failover needs --sessions redis-sentinel (a Redis replica and a "
            f"Sentinel to promote it), not {cluster.sessions}"
        )
    if is_inventory(cluster):
        inventory = cluster.inventory
        source_net = None if inventory.load else inventory.source_net
    plan = BenchPlan(
        profile=load_profile(args.profile),
        duration_s=args.duration,
        users=args.users,
        spawn_rate=args.spawn_rate,
        wait_s=args.wait,
        fault_target=target,
        fault_at_s=args.fault_at,
        faults=schedule(args.faults, args.duration, cluster.node_names()) if args.faults else None,
        cluster=cluster,
        results_dir=Path(args.results_dir),
        source_net=source_net,
        arrival_rate=args.arrival_rate,
        scenario=args.scenario,
    )
    if is_inventory(cluster):
        cluster.check_faults(plan.fault_specs())
    return plan


def confirmed(args: argparse.Namespace, plan: BenchPlan) -> bool:
    """On one's own hosts, print what will happen where; go on only with --yes."""
    if not is_inventory(plan.cluster):
        return True
    inventory = plan.cluster.inventory
    where = (
        ", ".join(f"{h.name} ({h.processes} workers)" for h in inventory.load)
        if inventory.load
        else "this machine"
    )
    console.print(
        f"plan: {plan.duration_s:g} s of load, {plan.users} users on {where}, through "
        f"{inventory.balancers[0].url} ({plan.balancer}, {plan.sessions} sessions)",
        soft_wrap=True,
    )
    if plan.cluster.apply is not None:
        console.print(
            "before each bench: apply its profile to every node (backups kept; a node that "
            "does not come back healthy is rolled back and stops the run)"
        )
    faults = plan.fault_specs()
    if faults:
        console.print(fault_plan(inventory, faults))
    else:
        console.print("no fault: nothing on the hosts is touched")
    if args.yes:
        return True
    console.print("add --yes to run this plan on these hosts", style="bold")
    return False


def run(args: argparse.Namespace) -> int:
    """0: every check held; 1: a check failed or the load generator did; 130: interrupted
    (the folder still holds what ran)."""
    checks = _checks(args)
    plan = plan_from(args)
    if not confirmed(args, plan):
        return 2
    repeat = args.repeat
    if repeat < 1:
        raise ValueError(f"--repeat {repeat}: at least 1")
    parent = new_run_dir(f"{plan.label or plan.profile.name}-x{repeat}", plan.results_dir) if (
        repeat > 1
    ) else None  # fmt: skip
    results: list[BenchResult] = []
    for i in range(1, repeat + 1):
        this = replace(plan, results_dir=parent / "runs", label=str(i)) if parent else plan
        if i == 1:
            this = replace(this, waited_before_s=command_age_s())
        result = _one_bench(this, f"{i}/{repeat}: " if parent else "")
        # Imported once a bench has ended (warmed during its load, load/warm_up.py): numpy
        # and pyarrow cost 0.15 s before the lab could start.
        from harness.cli.summary import print_summary  # noqa: PLC0415
        from harness.results.run_folder import write_repeats  # noqa: PLC0415

        results.append(result)
        if parent:
            write_repeats(parent, [r.run_dir for r in results], complete=len(results) == repeat)
        print_summary(
            result.summary,
            result.run_dir,
            result.lab_up_s,
            result.verdict,
            wall_s=result.wall_s,
            start_cpu_s=result.start_cpu_s,
            cpu_before_load=result.cpu_before_load,
            up=up_label(plan.cluster),
            wall_from="command start" if i == 1 else up_label(plan.cluster),
        )
        if result.stop_requested:
            break
    if parent:
        console.print(f"{len(results)} runs of one plan: {parent}", soft_wrap=True)
    held = all([_judge_checks(args, checks, r.summary) for r in results])
    last = results[-1]
    if last.interrupted_at_s is not None:
        console.print(f"interrupted at {last.interrupted_at_s:.1f} s: the results hold what ran")
        return 130
    if last.stopped_after_load:
        console.print("stopped once the load had ended: the run is complete")
        return 130
    failed = [r for r in results if r.generator_failed]
    for r in failed:
        console.print(
            f"error: Locust exited {r.locust_exit}: see {r.run_dir / 'locust.log'}",
            style="red",
            markup=False,
        )
    return 0 if held and not failed else 1


def command_age_s() -> float:
    """Seconds since this command's process began: the operator's wait before its first
    bench (Python, imports, options), which that bench's wall counts. Read from the
    kernel's clock ticks since boot: psutil's create_time adds a boot time rounded to the
    second, which read up to a second too long."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    started_s = int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started_s)


def _checks(args: argparse.Namespace) -> list[Check]:
    """Read before the lab starts: a typo in a check must not cost a bench."""
    checks = parse_checks(args.check)
    if args.check_file:
        checks += read_check_file(Path(args.check_file))
    return checks


def _judge_checks(args: argparse.Namespace, checks: list[Check], summary: dict[str, Any]) -> bool:
    """Print each check as held or failed; write them as JUnit XML if asked. All held?"""
    results = evaluate(checks, summary)
    for result in results:
        style = "green" if result.held else "bold red"
        console.print(f"check {result.words()}", style=style, markup=False, highlight=False)
    if args.junit:
        Path(args.junit).write_text(outcomes_junit("tomcat-bench checks", results))
    return all(r.held for r in results)


def _one_bench(plan: BenchPlan, prefix: str) -> BenchResult:
    from harness.load.bench import run_bench  # noqa: PLC0415

    with progress_bar(" s") as bar:
        task = bar.add_task(f"{prefix}starting", total=plan.duration_s)

        def tick(elapsed: float, what: str) -> None:
            bar.update(task, completed=elapsed, description=f"{prefix}{what}")

        def step(text: str) -> None:
            bar.update(task, description=f"{prefix}{text}")

        def report(run_dir: Path) -> None:
            # Imported after the load (warmed during it): plotly and numpy are no part of
            # the wait before the lab starts.
            from harness.report.run import write_report  # noqa: PLC0415

            step("writing report")
            write_report(run_dir)

        return run_bench(plan, tick=tick, progress=step, while_stopping=report)
