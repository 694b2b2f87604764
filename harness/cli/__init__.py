"""python -m harness SUBCOMMAND: one subcommand per job.

Every option has an environment twin, TOMCAT_BENCH_<OPTION> (e.g.
TOMCAT_BENCH_PROFILE), so make, CI and a shell agree on one set of names.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from harness.cluster.faults import parse_faults
from harness.cluster.jvm import NodeJvm, Pool
from harness.cluster.lab import Lab, LabError, LabSpec, Topology
from harness.cluster.lab.balancers import BALANCERS
from harness.cluster.lab.lab import SESSION_STORES
from harness.cluster.lab.topology import DEFAULT_NET, DEFAULT_RUN_DIR
from harness.commands import MissingCommand
from harness.config.inventory import load_inventory
from harness.config.profile import Profile, ProfileError, available_profiles, load_profile
from harness.fleet.apply import Target, apply_profile, dry_run, in_effect, lab_targets, ssh_targets
from harness.fleet.hosts import HostError
from harness.load.bench import BenchPlan, BenchResult
from harness.report.run import director_words
from harness.results import RESULTS_DIR, new_run_dir, read_manifest, write_repeats
from harness.results.checks import (
    METRICS,
    Check,
    evaluate,
    outcomes_junit,
    parse_checks,
    read_check_file,
)
from harness.results.impact import describe_impact
from harness.results.models import read as read_document
from harness.results.verdicts import fates_line, recovery_words, window_line

log = logging.getLogger("harness")
console = Console()


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def duration(text: str) -> float:
    """Seconds from "90", "90s", "5m", "1h30m" (Locust's -t forms); argparse names the
    option (and the environment twin's value) when it is anything else."""
    found = _DURATION.match(text.strip())
    if not text.strip() or found is None or not any(found.groups()):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds, or like 90s, 5m, 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds


def _optional(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An option whose empty value means "not given"."""

    def parse(text: str) -> Any:
        return kind(text) if text.strip() else None

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def _env(option: str, default: Any) -> Any:
    return os.environ.get(f"TOMCAT_BENCH_{option.upper().replace('-', '_')}", default)


def _flag(option: str) -> bool:
    """A switch's environment twin: 1, true or yes turns it on."""
    return str(_env(option, "")).strip().lower() in ("1", "true", "yes")


def _add(parser: argparse.ArgumentParser, option: str, default: Any, help_: str, **kw: Any) -> None:
    parser.add_argument(
        f"--{option}",
        default=_env(option, default),
        help=f"{help_} [env TOMCAT_BENCH_{option.upper().replace('-', '_')}; default {default}]",
        **kw,
    )


def _add_lab_options(parser: argparse.ArgumentParser) -> None:
    _add(parser, "balancer", "nginx-rr", f"balancer in front: {', '.join(BALANCERS)}")
    _add(parser, "sessions", "redis", f"where sessions live: {', '.join(SESSION_STORES)}")
    _add(parser, "net", DEFAULT_NET, "first three octets of the lab's loopback addresses")
    _add(parser, "run-dir", str(DEFAULT_RUN_DIR), "folder for the lab's configs, logs and state")


def _topology(args: argparse.Namespace) -> Topology:
    return Topology(net=args.net, run_dir=Path(args.run_dir))


def _lab(args: argparse.Namespace) -> LabSpec:
    """The embedded lab the options describe: the cluster every command measures today."""
    return LabSpec(balancer=args.balancer, sessions=args.sessions, topology=_topology(args))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into the same path as Ctrl-C, so `finally` stops the lab.
    raise KeyboardInterrupt


# -- lab -------------------------------------------------------------------


def cmd_lab(args: argparse.Namespace) -> int:
    if args.action == "up":
        profile = load_profile(args.profile)
        lab = Lab(_topology(args))
        with console.status("lab up") as status:
            state = lab.up(
                profile,
                balancer_name=args.balancer,
                sessions=args.sessions,
                progress=lambda text: status.update(f"lab up: {text}"),
            )
        console.print(
            f"lab up in {state.timings_s['up']:.1f} s with profile {profile.name}, "
            f"{args.balancer}, sessions in {args.sessions}: "
            f"{lab.topology.balancer_url}/session.jsp"
        )
        return 0
    if args.action == "down" and not (Path(args.run_dir) / "lab.json").exists():
        console.print(f"lab down: no lab was started in {args.run_dir}")
        return 0
    lab = Lab.attach(Path(args.run_dir))
    if args.action == "down":
        stopped = lab.down()
        console.print(f"lab down: stopped {', '.join(stopped) or 'nothing (none was running)'}")
        return 0
    rows = lab.status()
    table = Table("part", "pid", "running", "listening")
    for row in rows:
        listening = ", ".join(
            f"{e['endpoint']} {'yes' if e['listening'] else 'NO'}" for e in row["endpoints"]
        )
        table.add_row(row["name"], str(row["pid"]), "yes" if row["running"] else "no", listening)
    console.print(table)
    _print_jvms(lab)
    return 0 if all(row["running"] for row in rows) else 1


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"


def _jvm_rows(nodes: Sequence[NodeJvm]) -> list[tuple[str, list[str]]]:
    def each(get: Callable[[NodeJvm], object]) -> list[str]:
        return ["-" if (v := get(n)) is None else str(v) for n in nodes]

    def pool(get: Callable[[Pool], object]) -> list[str]:
        return each(lambda n: get(n.pool) if n.pool else None)

    return [
        ("pid", each(lambda n: n.pid)),
        ("GC", each(lambda n: n.gc)),
        ("heap initial/max MiB", each(lambda n: f"{_mib(n.initial_heap_bytes)}/"
                                      f"{_mib(n.max_heap_bytes)}")),
        ("NewSize/MaxNewSize MiB", each(lambda n: f"{_mib(n.new_size_bytes)}/"
                                        f"{_mib(n.max_new_size_bytes)}")),
        ("heap used MiB", each(lambda n: _mib(n.heap.used_bytes))),
        ("pool", pool(lambda p: f"{p.kind} {p.name}")),
        ("maxThreads", pool(lambda p: p.max_threads)),
        ("minSpareThreads", pool(lambda p: p.min_spare_threads)),
        ("maxQueueSize", pool(lambda p: p.max_queue_size)),
        ("threads current/busy", pool(lambda p: f"{p.current_threads}/{p.busy_threads}")),
        ("queued now", pool(lambda p: p.queue_size)),
        ("rejected (log)", each(lambda n: n.rejections)),
        ("connectors", each(lambda n: ", ".join(
            f"{c.port} {(c.handler or c.protocol).split('.')[-1]}" for c in n.connectors))),
        ("AJP", each(lambda n: "yes" if n.ajp else "no")),
        ("sessions", each(lambda n: n.sessions)),
    ]  # fmt: skip


def _print_jvms(lab: Lab) -> None:
    """What each running node really runs with, read back from its JVM and Tomcat's MBeans."""
    from harness.cluster import jvm  # noqa: PLC0415
    from harness.cluster.lab import jvms  # noqa: PLC0415

    try:
        nodes = jvms.read_lab(lab)
    except jvm.JvmReadError as error:
        console.print(f"JVM values: could not read them: {error}", markup=False)
        return
    # One column per node, one row per value: readable in an 80-column terminal.
    table = Table("in effect", *(n.node for n in nodes), title="read from the running JVMs")
    for label, values in _jvm_rows(nodes):
        table.add_row(label, *values)
    assert lab.state is not None
    try:
        requested = load_profile(lab.state.profile).effective()
    except ProfileError:
        requested = None  # the profile file changed or went away since lab up
    if requested is not None:
        checks = [jvm.mismatches(n, requested) for n in nodes]
        table.add_row(
            f"as profile {lab.state.profile} asks",
            *("yes" if not wrong else "NO: " + "; ".join(wrong) for wrong, _ in checks),
        )
    console.print(table)


# -- bench -----------------------------------------------------------------


def _plan(args: argparse.Namespace) -> BenchPlan:
    target = None if args.fault_target in ("", "none") else args.fault_target
    return BenchPlan(
        profile=load_profile(args.profile),
        duration_s=args.duration,
        users=args.users,
        spawn_rate=args.spawn_rate,
        wait_s=args.wait,
        fault_target=target,
        fault_at_s=args.fault_at,
        faults=parse_faults(args.faults) if args.faults else None,
        cluster=_lab(args),
        results_dir=Path(args.results_dir),
        source_net=args.source_net or None,
        arrival_rate=args.arrival_rate,
    )


def _progress_bar(unit: str) -> Progress:
    """The bar long jobs show: what is happening, how far (in unit), time elapsed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" + unit),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


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
    from harness.report.run import write_report  # noqa: PLC0415

    with _progress_bar(" s") as bar:
        task = bar.add_task(f"{prefix}starting", total=plan.duration_s)

        def tick(elapsed: float, what: str) -> None:
            bar.update(task, completed=elapsed, description=f"{prefix}{what}")

        def step(text: str) -> None:
            bar.update(task, description=f"{prefix}{text}")

        result = run_bench(plan, tick=tick, progress=step)
        step("writing report")
        write_report(result.run_dir)
    return result


def cmd_bench(args: argparse.Namespace) -> int:
    """0: every check held; 1: a check failed or the load generator did; 130: interrupted
    (the folder still holds what ran)."""
    checks = _checks(args)
    plan = _plan(args)
    repeat = args.repeat
    if repeat < 1:
        raise ValueError(f"--repeat {repeat}: at least 1")
    parent = new_run_dir(f"{plan.label or plan.profile.name}-x{repeat}", plan.results_dir) if (
        repeat > 1
    ) else None  # fmt: skip
    results: list[BenchResult] = []
    for i in range(1, repeat + 1):
        this = replace(plan, results_dir=parent / "runs", label=str(i)) if parent else plan
        result = _one_bench(this, f"{i}/{repeat}: " if parent else "")
        results.append(result)
        if parent:
            write_repeats(parent, [r.run_dir for r in results], complete=len(results) == repeat)
        print_summary(
            result.summary, result.run_dir, result.lab_up_s, result.verdict, wall_s=result.wall_s
        )
        if result.interrupted_at_s is not None:
            break
    if parent:
        console.print(f"{len(results)} runs of one plan: {parent}", soft_wrap=True)
    held = all([_judge_checks(args, checks, r.summary) for r in results])
    last = results[-1]
    if last.interrupted_at_s is not None:
        console.print(f"interrupted at {last.interrupted_at_s:.1f} s: the results hold what ran")
        return 130
    failed = [r for r in results if r.generator_failed]
    for r in failed:
        console.print(
            f"error: Locust exited {r.locust_exit}: see {r.run_dir / 'locust.log'}",
            style="red",
            markup=False,
        )
    return 0 if held and not failed else 1


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
) -> None:
    table = Table(title=f"tomcat-bench: {run_dir.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    answered = summary.get("answered", summary["requests"])
    table.add_row(
        "requests", f"{summary['requests']}, {answered} answered ({summary['rps']:.1f}/s answered)"
    )
    table.add_row("failures", f"{summary['failures']} (HTTP errors: {summary['errors']})")
    table.add_row(
        "latency",
        f"p50 {summary['p50_ms']:.2f} ms  p95 {summary['p95_ms']:.2f} ms  "
        f"p99 {summary['p99_ms']:.2f} ms (answered requests)",
    )
    corrected = summary.get("corrected")
    if corrected:
        table.add_row(
            "latency, corrected",
            f"p50 {corrected['p50_ms']:.2f} ms  p95 {corrected['p95_ms']:.2f} ms  "
            f"p99 {corrected['p99_ms']:.2f} ms (from each request's intended send time; "
            "verdicts use these)",
        )
    judgement = summary["judgement"]
    table.add_row("sessions", fates_line(judgement["fates"], judgement["users"]))
    for window in judgement["windows"]:
        at = window.get("at_s")
        when = f" at {at:.1f} s" if window.get("delivered") else ""
        table.add_row(f"{window['label']}{when}", window_line(window))
    director = summary.get("director")
    if director:
        table.add_row("L4 director", director_words(director))
    telemetry = summary.get("telemetry")
    if telemetry:
        cpu = telemetry["cpu_cores_mean"]
        servers = ", ".join(
            f"{k} {v:.2f}" for k, v in cpu.items() if not k.startswith(("generator", "machine"))
        )
        bound = "YES: throughput measures Locust" if telemetry["generator_bound"] else "no"
        wanted = telemetry.get("generator_demand_cores")
        table.add_row(
            "CPU (cores)",
            f"generator {cpu.get('generator', 0):.2f}"
            + (f" (ran or waited to run: {wanted:.2f})" if wanted is not None else "")
            + f", {servers}; machine "
            f"{cpu.get('machine', 0):.2f}/{telemetry['cores']}; generator-bound: {bound}",
        )
    for effects in summary.get("fault_effects") or []:
        table.add_row(f"effect of {effects['fault']}", describe_impact(effects))
    for node, j in (summary.get("jvm") or {}).items():
        table.add_row(f"{node} JVM", _jvm_summary_text(j))
    table.add_row(
        "verdict",
        f"{verdict['balancer']} + sessions {verdict['sessions']}, fault {verdict['fault']}: "
        f"{verdict['verdict']}",
    )
    table.add_row(
        "lab up",
        f"{lab_up_s:.1f} s to all-healthy"
        + (f"; whole bench {wall_s:.1f} s (lab up to results)" if wall_s else ""),
    )
    console.print(table)
    console.print(f"report: {run_dir / 'report.html'}", soft_wrap=True)


def cmd_matrix(args: argparse.Namespace) -> int:
    from harness.load.campaigns.matrix import run_matrix  # noqa: PLC0415

    balancers = _names(args.balancers, list(BALANCERS), "--balancers")
    strategies = _names(args.strategies, SESSION_STORES, "--strategies")
    with console.status("matrix") as status:
        matrix_dir = run_matrix(_plan(args), balancers, strategies, progress=status.update)
    read_document(matrix_dir / "verdicts.json", "verdicts")  # kind and shape, or one line
    cells = json.loads((matrix_dir / "verdicts.json").read_text())
    table = Table(
        "balancer", "sessions", "fault", "kept", "data kept", "failed", "recovery", "verdict"
    )
    for c in cells:
        table.add_row(
            c["balancer"],
            c["sessions"],
            c.get("fault", ""),
            f"{c.get('kept', '-')}/{c.get('users', '-')}",
            f"{c.get('data_kept', '-')}/{c.get('users', '-')}",
            str(c.get("failed_requests", "-")),
            recovery_words(c),
            c["verdict"],
        )
    console.print(table)
    console.print(f"matrix: {matrix_dir / 'matrix.html'}", soft_wrap=True)
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    from harness.load.campaigns.profiles import INDEX_FILE, run_profiles  # noqa: PLC0415

    names = [n for part in args.names for n in part.replace(",", " ").split()]
    if not names:
        raise ValueError("profiles: name at least one profile (e.g. default best-practice)")
    profiles = [load_profile(name) for name in names]  # all checked before any lab starts
    with console.status("profiles") as status:
        out = run_profiles(_plan(args), profiles, progress=status.update)
    read_document(out / INDEX_FILE, "profiles")
    index = json.loads((out / INDEX_FILE).read_text())
    table = Table("profile", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures", "throughput is")
    for entry in index["runs"]:
        if "error" in entry:
            table.add_row(entry["profile"], f"could not run: {entry['error']}")
            continue
        s = read_manifest(out / entry["run"])["summary"]
        table.add_row(
            entry["profile"],
            f"{s['rps']:.1f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p95_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            str(s["failures"]),
            "the generator's (generator-bound)" if s.get("generator_bound") else "the servers'",
        )
    console.print(table)
    console.print(f"comparison: {out / 'profiles.html'}", soft_wrap=True)
    return 0 if all("run" in entry for entry in index["runs"]) else 1


def _names(value: str, known: Sequence[str], option: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()] if value != "all" else list(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"{option} {value}: choose from {', '.join(known)} (or all)")
    return names


# -- storebench ------------------------------------------------------------


def _sizes(value: str, option: str) -> tuple[int, ...]:
    """ "1k,10k,1m" -> bytes; k and m are 1024 and 1024*1024."""
    factors = {"k": 1024, "m": 1024 * 1024}
    sizes = []
    for part in (p.strip().lower() for p in value.split(",") if p.strip()):
        factor = factors.get(part[-1], 1)
        digits = part[:-1] if part[-1] in factors else part
        if not digits.isdigit():
            raise ValueError(f"{option} {value}: sizes like 1k,10k,100k,500k,1m")
        sizes.append(int(digits) * factor)
    if not sizes:
        raise ValueError(f"{option}: no size given")
    return tuple(sizes)


def _ints(value: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in value.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"{option} {value}: comma-separated whole numbers") from None


def _storebench_plan(args: argparse.Namespace) -> Any:
    from harness.storebench import StorebenchPlan  # noqa: PLC0415

    phases = "cells,native,memory,restart,e2e" if args.phases == "all" else args.phases
    return StorebenchPlan(
        sizes=_sizes(args.sizes, "--sizes"),
        conns=_ints(args.conns, "--conns"),
        cell_ops=int(args.cell_ops),
        cell_seconds=float(args.cell_seconds),
        native_ops=int(args.native_ops),
        sessions=int(args.sessions),
        restart_sessions=int(args.restart_sessions),
        redis_instances=int(args.redis_instances),
        memcached_threads=int(args.memcached_threads),
        e2e_strategies=tuple(s.strip() for s in args.e2e_strategies.split(",") if s.strip()),
        e2e_sizes=_sizes(args.e2e_sizes, "--e2e-sizes"),
        e2e_duration_s=float(args.e2e_duration),
        e2e_users=int(args.e2e_users),
        phases=tuple(p.strip() for p in phases.split(",") if p.strip()),
        net=args.net,
        results_dir=Path(args.results_dir),
    )


def cmd_storebench(args: argparse.Namespace) -> int:
    from harness.storebench import ProgressCounter, run_storebench  # noqa: PLC0415
    from harness.storebench.report import write_report  # noqa: PLC0415

    plan = _storebench_plan(args)
    with _progress_bar("") as bar:
        task = bar.add_task("starting", total=plan.steps())
        outcome = run_storebench(
            plan,
            ProgressCounter(lambda text, done: bar.update(task, description=text, completed=done)),
        )
        write_report(outcome.run_dir)
    table = Table("claim", "verdict", title=f"storebench: {outcome.run_dir.name}")
    for verdict in outcome.verdicts:
        table.add_row(verdict["claim"], verdict["verdict"])
    console.print(table)
    console.print(f"report: {outcome.run_dir / 'report.html'}", soft_wrap=True)
    if not outcome.complete:
        console.print(
            f"error: incomplete run ({outcome.error}); partial results in {outcome.run_dir}",
            style="red",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


UI_HOST_OCTET = 30  # <net>.30: free in the lab's plan (.10 balancer, .11+ nodes, .20+ stores)


# -- webui -----------------------------------------------------------------


def cmd_webui(args: argparse.Namespace) -> int:
    from harness.load.webui import WebUIPlan, run_webui  # noqa: PLC0415
    from harness.report.run import write_report  # noqa: PLC0415

    plan = WebUIPlan(
        profile=load_profile(args.profile),
        cluster=_lab(args),
        host=f"{args.net}.{UI_HOST_OCTET}",
        workers=int(args.workers),
        users=int(args.users),
        spawn_rate=float(args.spawn_rate),
        wait_s=float(args.wait),
        source_net=args.source_net or None,
        results_dir=Path(args.results_dir),
        web_port=int(args.web_port),
    )

    def ready(url: str) -> None:
        status.stop()
        mode = f"a master and {plan.workers} workers" if plan.workers else "one process"
        console.print(
            f"Locust web UI ({mode}): {url}  (Sessions tab: {url}/?tab=sessions)\n"
            "Ctrl-C stops Locust and the lab and writes the results.",
            soft_wrap=True,
        )

    with console.status("webui") as status:
        result = run_webui(plan, progress=status.update, ready=ready)
    write_report(result.run_dir)
    summary = result.summary
    console.print(
        f"{summary['requests']} requests, {summary['users']} users: "
        f"{summary['sessions_kept']} kept their session, {summary['data_lost']} lost data; "
        f"faults: {len(summary['faults'])}; verdict: {result.verdict['verdict']}"
    )
    console.print(f"report: {result.run_dir / 'report.html'}", soft_wrap=True)
    return 0


# -- capacity --------------------------------------------------------------


def _numbers(value: str, option: str, kind: Callable[[str], Any]) -> tuple[Any, ...]:
    try:
        return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option} {value!r}: give comma-separated numbers") from None


def _capacity_plan(args: argparse.Namespace) -> Any:
    from harness.load.capacity import CapacityPlan  # noqa: PLC0415

    return CapacityPlan(
        profile=load_profile(args.profile),
        connections=_numbers(args.connections, "--connections", int),
        rates=_numbers(args.rates, "--rates", float),
        rate_connections=int(args.rate_connections),
        step_s=float(args.step_duration),
        threads=int(args.threads),
        cluster=_lab(args),
        results_dir=Path(args.results_dir),
        target=args.target,
        url=args.url or None,
    )


def cmd_capacity(args: argparse.Namespace) -> int:
    from harness.load.capacity import run_capacity  # noqa: PLC0415

    plan = _capacity_plan(args)
    with console.status("capacity") as status:
        result = run_capacity(plan, progress=status.update)
    table = Table(
        "step", "req/s", "p50 ms", "p99 ms", "p99 corr. ms", "sessions", "failures",
        "gen. CPU ms/1000", "generator-bound",
    )  # fmt: skip
    for row in result.steps:
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
            "YES" if row["generator_bound"] else "no",
        )
    console.print(table)
    if result.lab_up_s is not None:
        console.print(f"lab up {result.lab_up_s:.1f} s")
    console.print(f"capacity: {result.run_dir / 'capacity.html'}", soft_wrap=True)
    broken = [r["step"] for r in result.steps if r["data_lost"] or r["replayed"]]
    if broken:
        console.print(f"session counters broke in: {', '.join(broken)}", style="red")
    return 1 if any(r["failures"] for r in result.steps) else 0


# -- perf ------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def cmd_perf(args: argparse.Namespace) -> int:
    from harness.load.perf import PerfPlan, run_perf  # noqa: PLC0415

    plan = PerfPlan(
        profile=load_profile(args.profile),
        duration_s=float(args.duration),
        connections=int(args.connections),
        threads=int(args.threads),
        rounds=int(args.rounds),
        cluster=LabSpec(balancer="nginx-rr", sessions=args.sessions, topology=_topology(args)),
        target=args.target,
        results_dir=Path(args.results_dir),
    )
    with console.status("perf") as status:
        data = run_perf(plan, progress=status.update)
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
            "YES" if row["generator_bound"] else "no",
        )
    console.print(table)
    ratios, targets = data["ratios"], data["targets"]
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
    timings = data["lab_timings_s"]
    nodes = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k.startswith("node"))
    console.print(f"lab up to all-healthy: {data['lab_up_s']:.1f} s ({nodes})")
    if data.get("warmup_rps"):
        steps = ", ".join(f"{rate:,.0f}" for rate in data["warmup_rps"])
        console.print(f"warm-up (wrk req/s per {data.get('warmup_step_s', 5):g} s step): {steps}")
    console.print(f"perf: {Path(data['run_dir']) / 'perf.json'}", soft_wrap=True)
    return 0


# -- report, profile -------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.run import write_report  # noqa: PLC0415

    run = Path(args.run)
    if (run / "profiles.json").exists():  # a profile comparison: rebuild its page
        from harness.load.campaigns.profiles import write_comparison  # noqa: PLC0415

        console.print(str(write_comparison(run)))
        return 0
    console.print(str(write_report(run)))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import run  # noqa: PLC0415

    return run(
        args.base,
        args.head,
        args.thresholds or None,
        args.markdown or None,
        args.html or None,
        console,
        allow_different_profile=args.allow_different_profile,
        junit=args.junit or None,
    )


def cmd_profile(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in available_profiles():
            console.print(f"{name}: {load_profile(name).description}")
        return 0
    profile = load_profile(args.name)
    print(json.dumps({"name": profile.name, **profile.effective()}, indent=2))
    return 0


# -- apply / verify ----------------------------------------------------------


def _targets(args: argparse.Namespace, profile: Profile) -> tuple[list[Target], Lab | None]:
    if args.inventory:
        return ssh_targets(load_inventory(Path(args.inventory)), profile), None
    lab = Lab.attach(Path(args.run_dir))
    if not lab.running():
        raise LabError(f"{lab.state_path}: the lab is not running (run `lab up` first)")
    return lab_targets(lab, profile), lab


def cmd_apply(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    targets, lab = _targets(args, profile)
    if args.dry_run:
        text = dry_run(targets)
        if not text:
            console.print("no file would change")
        elif console.is_terminal:
            console.print(Syntax(text, "diff", word_wrap=True))
        else:
            print(text, end="")  # a diff to a file or a pipe: whole lines, no markup
        return 0
    with console.status(f"apply {profile.name}") as status:
        results = apply_profile(targets, profile, progress=status.update)
    # Narrow enough for an 80-column terminal: the files and backups are listed below it.
    table = Table("node", "files", "restart s", "in effect (read from the JVM)", "result")
    for result in results:
        effect = result.in_effect.summary() if result.in_effect else {}
        table.add_row(
            Text(result.node),
            f"{len(result.changed)} changed" if result.changed else "as they were",
            f"{result.restart_s:.1f}" if result.restart_s is not None else "-",
            Text(_effect_words(effect)),
            Text(f"rolled back: {result.error}" if result.error else "applied"),
        )
    console.print(table)
    for result in results:
        for changed in result.changed:
            backup = result.backups.get(changed)
            kept = f"previous kept as {Path(backup).name}" if backup else "new file"
            console.print(Text(f"{result.node}: {changed} ({kept})"))
    failed = any(result.error for result in results)
    if lab is not None and not failed:
        lab.record_profile(profile.name)
    return 1 if failed else 0


def _effect_words(effect: dict[str, Any]) -> str:
    if not effect:
        return "-"
    heap = "heap " + "/".join(
        f"{int(effect[k]) // 2**20} MiB" for k in ("InitialHeapSize", "MaxHeapSize") if k in effect
    )
    words = [f"pid {effect['pid']}", heap, ", ".join(effect["gc"]) or "gc ?"]
    pool = effect.get("pool")
    if pool:
        queue = pool.get("max_queue_size")
        words.append(
            f"{pool['kind']} {pool['max_threads']} max"
            + (f", queue {queue}" if queue is not None else "")
            + f", {pool['current_threads']} threads ({pool['busy_threads']} busy)"
        )
    return "; ".join(words)


def cmd_verify(args: argparse.Namespace) -> int:
    name = args.profile
    if not name and not args.inventory:
        name = Lab.attach(Path(args.run_dir)).state.profile  # type: ignore[union-attr]
    profile = load_profile(name or "best-practice")
    targets, _ = _targets(args, profile)
    states = in_effect(targets, profile)
    print(json.dumps({state.node: state.summary() for state in states}, indent=2))
    return 1 if any(state.mismatches for state in states) else 0


# -- main ------------------------------------------------------------------


def _add_bench_options(parser: argparse.ArgumentParser, *, duration_s: str, users: str) -> None:
    _add(parser, "profile", "best-practice", "profile name or .toml path")
    _add(parser, "duration", duration_s, "length of the load: 90, 90s, 5m, 1h30m", type=duration)
    _add(parser, "users", users, "simulated users", type=int)
    _add(parser, "spawn-rate", "20", "users started per second", type=float)
    _add(parser, "wait", "0.05", "seconds each user waits between requests", type=float)
    _add(
        parser,
        "arrival-rate",
        "",
        "open model: requests/s in all on a fixed schedule (replaces --wait); latencies are "
        "also reported corrected for coordinated omission",
        type=_optional(float),
    )
    _add(parser, "fault-target", "node1", "node to SIGKILL mid-run ('none' for no fault)")
    _add(
        parser,
        "fault-at",
        "",
        "when the fault falls, like --duration (default: the middle)",
        type=_optional(duration),
    )
    _add(
        parser,
        "faults",
        "",
        "a fault schedule, overriding the two above: ACTION:TARGET@T[-T2],... "
        "(sigkill, shutdown, sigstop, restart, reload, context-reload, touch, redeploy; "
        "e.g. sigstop:node1@10-15, context-reload:node1@10, touch:node1@10, redeploy:node1@10)",
    )
    _add(parser, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    _add(
        parser,
        "source-net",
        "127.100",
        "first two octets of each user's own source address (127.A.user.1); '' for none",
    )
    _add_lab_options(parser)


def _parser_capacity(sub: Any) -> None:
    capacity = sub.add_parser(
        "capacity", help="how much can the profile serve: wrk sweeps connections and rates"
    )
    _add(capacity, "profile", "best-practice", "profile name or .toml path")
    _add(capacity, "connections", "8,32,128,512", "closed-loop steps: connections, comma-separated")
    _add(capacity, "rates", "", "paced steps: total requests/s, comma-separated (e.g. 1000,5000)")
    _add(capacity, "rate-connections", "128", "connections available to each paced step")
    _add(capacity, "step-duration", "10", "seconds per step")
    _add(capacity, "threads", str(os.cpu_count() or 1), "wrk threads (at most one per core)")
    _add(capacity, "target", "balancer", "what wrk hits: balancer, or a node (node1) directly")
    _add(capacity, "url", "", "an already running session.jsp URL instead of the lab")
    _add(capacity, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    _add_lab_options(capacity)
    capacity.set_defaults(func=cmd_capacity)


def _parser_perf(sub: Any) -> None:
    perf = sub.add_parser(
        "perf", help="wrk, capacity mode and Locust side by side: req/s and generator CPU"
    )
    _add(perf, "profile", "best-practice", "profile name or .toml path")
    _add(perf, "duration", "10", "seconds per generator and round")
    _add(perf, "rounds", "5", "rounds; each generator's median is reported")
    _add(perf, "connections", "32", "wrk connections and Locust users")
    _add(perf, "threads", str(os.cpu_count() or 1), "wrk threads")
    _add(perf, "target", "node1", "what every generator hits: a node directly, or balancer")
    _add(perf, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    _add(perf, "sessions", "none", f"where sessions live: {', '.join(SESSION_STORES)}")
    _add(perf, "net", DEFAULT_NET, "first three octets of the lab's loopback addresses")
    _add(perf, "run-dir", str(DEFAULT_RUN_DIR), "folder for the lab's configs, logs and state")
    perf.set_defaults(func=cmd_perf)


def _parser_lab(sub: Any) -> None:
    lab = sub.add_parser("lab", help="start, inspect or stop the embedded lab")
    lab.add_argument("action", choices=("up", "status", "down"))
    _add(lab, "profile", "best-practice", "profile name or .toml path (lab up)")
    _add_lab_options(lab)
    lab.set_defaults(func=cmd_lab)


def _parser_bench(sub: Any) -> None:
    bench = sub.add_parser("bench", help="lab up, load with a node killed mid-run, report")
    _add_bench_options(bench, duration_s="60", users="20")
    from_env = os.environ.get("TOMCAT_BENCH_CHECKS", "")
    bench.add_argument(
        "--check",
        action="append",
        default=[from_env] if from_env else [],
        metavar="'METRIC OP NUMBER'",
        help="a pass/fail check on the summary, e.g. 'sessions_lost == 0' or 'p99_ms < 300' "
        f"(repeatable; several in one, split by ';'); metrics: {', '.join(METRICS)}; exit 1 "
        "when one fails [env TOMCAT_BENCH_CHECKS]",
    )
    _add(bench, "check-file", "", 'a TOML file with a [checks] table: p99_ms = "< 300"')
    _add(
        bench,
        "repeat",
        "1",
        "run the same plan N times into one folder (runs/ and repeats.json), so compare "
        "can judge speed across runs",
        type=int,
    )
    _add(bench, "junit", "", "write the checks as JUnit XML to this file")
    bench.set_defaults(func=cmd_bench)


def _parser_matrix(sub: Any) -> None:
    matrix = sub.add_parser("matrix", help="a short bench per balancer x session strategy")
    _add_bench_options(matrix, duration_s="15", users="10")
    _add(matrix, "balancers", "all", "comma-separated balancers, or all")
    _add(matrix, "strategies", "all", "comma-separated session strategies, or all")
    matrix.set_defaults(func=cmd_matrix)


def _parser_store(sub: Any) -> None:
    store = sub.add_parser("storebench", help="Redis against Memcached: raw, memory, restart, e2e")
    _add(store, "sizes", "1k,10k,100k,500k,1m", "value sizes of the raw cells")
    _add(store, "conns", "1,8,32", "concurrent connections of the raw cells")
    _add(store, "cell-ops", "20000", "at most this many operations per Python-client cell")
    _add(store, "cell-seconds", "1.2", "at most this many seconds per Python-client cell")
    _add(store, "native-ops", "20000", "operations per native cell (fewer for large values)")
    _add(store, "sessions", "100000", "sessions stored per layout for bytes/session")
    _add(store, "restart-sessions", "10000", "sessions stored before each restart")
    _add(
        store,
        "redis-instances",
        "2",
        "Redis instances for extra native cells (the remedy; 1: none)",
    )
    _add(store, "memcached-threads", "4", "memcached -t (its default is 4)")
    _add(
        store,
        "e2e-strategies",
        "redis,memcached-sticky,memcached-nonsticky",
        "session strategies end to end",
    )
    _add(store, "e2e-sizes", "1k,10k,100k", "session payload sizes end to end")
    _add(store, "e2e-duration", "6", "seconds of each end-to-end bench")
    _add(store, "e2e-users", "10", "Locust users of each end-to-end bench")
    _add(store, "phases", "all", "comma-separated: cells,native,memory,restart,e2e (or all)")
    _add(store, "net", "127.0.70", "first three octets of the storebench's loopback addresses")
    _add(store, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    store.set_defaults(func=cmd_storebench)


def _parser_profiles(sub: Any) -> None:
    profiles = sub.add_parser(
        "profiles", help="a short bench per profile, side by side in one report"
    )
    profiles.add_argument(
        "names",
        nargs="*",
        default=[_env("profiles", "default best-practice small-pool")],
        help="profile names or .toml paths [env TOMCAT_BENCH_PROFILES; "
        "default: default best-practice small-pool]",
    )
    _add_bench_options(profiles, duration_s="20", users="20")
    # Profiles are compared on the same undisturbed load; a fault is opt-in here.
    for action in profiles._actions:
        if action.dest == "fault_target":
            action.default = _env("fault-target", "none")
            action.help = "node to SIGKILL mid-run [env TOMCAT_BENCH_FAULT_TARGET; default none]"
    profiles.set_defaults(func=cmd_profiles)


def _parser_webui(sub: Any) -> None:
    webui = sub.add_parser(
        "webui", help="lab up and Locust's web UI with a Sessions tab; Ctrl-C ends and reports"
    )
    _add(webui, "profile", "best-practice", "profile name or .toml path")
    _add(webui, "workers", "0", "Locust workers (0: one process; N: a master and N workers)")
    _add(webui, "users", "20", "users prefilled in the start form")
    _add(webui, "spawn-rate", "20", "users started per second (prefilled)")
    _add(webui, "wait", "0.05", "seconds each user waits between requests")
    _add(webui, "web-port", "8089", "port of the web UI, on the lab net's .30 address")
    _add(webui, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    _add(webui, "source-net", "127.100", "first two octets of each user's source address")
    _add_lab_options(webui)
    webui.set_defaults(func=cmd_webui)


def _parser_report(sub: Any) -> None:
    report = sub.add_parser("report", help="write report.html for a results folder")
    report.add_argument("run", help="results/<run-id> folder")
    report.set_defaults(func=cmd_report)


def _parser_compare(sub: Any) -> None:
    compare = sub.add_parser(
        "compare", help="compare two results folders: exit 0 same, 1 regression, 2 cannot"
    )
    compare.add_argument("base", help="results/<run-id> of the baseline")
    compare.add_argument("head", help="results/<run-id> to judge against it")
    _add(compare, "thresholds", "", "TOML thresholds (default: profiles/compare/thresholds.toml)")
    _add(compare, "markdown", "", "also write the comparison as Markdown to this file")
    _add(compare, "html", "", "also write an HTML page with both runs' charts overlaid")
    _add(compare, "junit", "", "also write each metric as a JUnit XML test case to this file")
    compare.add_argument(
        "--allow-different-profile",
        action="store_true",
        default=_flag("allow-different-profile"),
        help="compare runs of two profiles on purpose (otherwise exit 2) "
        "[env TOMCAT_BENCH_ALLOW_DIFFERENT_PROFILE=1]",
    )
    compare.set_defaults(func=cmd_compare)


def _parser_apply(sub: Any) -> None:
    apply = sub.add_parser("apply", help="put a profile on every node; verify; roll back")
    apply.add_argument("profile", help="profile name or .toml path")
    _add(apply, "inventory", "", "TOML file of hosts reached over SSH (default: the lab)")
    apply.add_argument(
        "--dry-run",
        action="store_true",
        default=_flag("dry-run"),
        help="show the diff, change nothing [env TOMCAT_BENCH_DRY_RUN=1]",
    )
    _add_lab_options(apply)
    apply.set_defaults(func=cmd_apply)


def _parser_verify(sub: Any) -> None:
    verify = sub.add_parser("verify", help="read the profile back from the running JVMs")
    verify.add_argument("profile", nargs="?", default="", help="default: the lab's profile")
    _add(verify, "inventory", "", "TOML file of hosts reached over SSH (default: the lab)")
    _add_lab_options(verify)
    verify.set_defaults(func=cmd_verify)


def _parser_profile(sub: Any) -> None:
    profile = sub.add_parser("profile", help="list profiles or show one's effective settings")
    profile.add_argument("action", choices=("list", "show"))
    profile.add_argument("name", nargs="?", default="best-practice")
    profile.set_defaults(func=cmd_profile)


# One function per subcommand, in the order `--help` lists them.
_SUBCOMMANDS = (
    _parser_lab,
    _parser_bench,
    _parser_matrix,
    _parser_profiles,
    _parser_webui,
    _parser_capacity,
    _parser_perf,
    _parser_store,
    _parser_report,
    _parser_compare,
    _parser_apply,
    _parser_verify,
    _parser_profile,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("redis").setLevel(logging.WARNING)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (
        ProfileError,
        LabError,
        HostError,
        MissingCommand,
        ValueError,
        FileNotFoundError,
    ) as error:
        console.print(f"error: {error}", style="red", markup=False, highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted; the lab was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
