"""python -m harness SUBCOMMAND: one subcommand per job.

Every option has an environment twin, TOMCAT_BENCH_<OPTION> (e.g.
TOMCAT_BENCH_PROFILE), so make, CI and a shell agree on one set of names.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.bench import BenchPlan
from harness.faults import parse_faults
from harness.lab import Lab, LabError, Topology
from harness.lab.balancers import BALANCERS
from harness.lab.lab import SESSION_STORES
from harness.lab.topology import DEFAULT_NET, DEFAULT_RUN_DIR
from harness.profiles import ProfileError, available_profiles, load_profile
from harness.results import RESULTS_DIR

log = logging.getLogger("harness")
console = Console()


def _env(option: str, default: Any) -> Any:
    return os.environ.get(f"TOMCAT_BENCH_{option.upper().replace('-', '_')}", default)


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
    return 0 if all(row["running"] for row in rows) else 1


# -- bench -----------------------------------------------------------------


def _plan(args: argparse.Namespace) -> BenchPlan:
    target = None if args.fault_target in ("", "none") else args.fault_target
    return BenchPlan(
        profile=load_profile(args.profile),
        duration_s=float(args.duration),
        users=int(args.users),
        spawn_rate=float(args.spawn_rate),
        wait_s=float(args.wait),
        fault_target=target,
        fault_at_s=float(args.fault_at) if args.fault_at else None,
        faults=parse_faults(args.faults) if args.faults else None,
        topology=_topology(args),
        results_dir=Path(args.results_dir),
        balancer=args.balancer,
        sessions=args.sessions,
        source_net=args.source_net or None,
        arrival_rate=float(args.arrival_rate) if args.arrival_rate else None,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import run_bench  # noqa: PLC0415
    from harness.report import write_report  # noqa: PLC0415

    plan = _plan(args)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=plan.duration_s)

        def tick(elapsed: float, what: str) -> None:
            bar.update(task, completed=elapsed, description=what)

        def step(text: str) -> None:
            bar.update(task, description=text)

        result = run_bench(plan, tick=tick, progress=step)
        step("writing report")
        write_report(result.run_dir)
    print_summary(
        result.summary, result.run_dir, result.lab_up_s, result.verdict, wall_s=result.wall_s
    )
    return 0


def _fault_words(fault: dict[str, Any]) -> str:
    if fault["action"] == "sigkill" and str(fault["target"]).startswith("node"):
        return "node kill"
    return f"{fault['action']} of {fault['target']}"


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
    table.add_row("requests", f"{summary['requests']} ({summary['rps']:.1f}/s)")
    table.add_row("failures", f"{summary['failures']} (HTTP errors: {summary['errors']})")
    table.add_row(
        "latency",
        f"p50 {summary['p50_ms']:.2f} ms  p95 {summary['p95_ms']:.2f} ms  "
        f"p99 {summary['p99_ms']:.2f} ms",
    )
    corrected = summary.get("corrected")
    if corrected:
        table.add_row(
            "latency, corrected",
            f"p50 {corrected['p50_ms']:.2f} ms  p95 {corrected['p95_ms']:.2f} ms  "
            f"p99 {corrected['p99_ms']:.2f} ms (from each request's intended send time; "
            "verdicts use these)",
        )
    table.add_row(
        "sessions",
        f"{summary['users']} users: {summary['sessions_kept']} kept, "
        f"{summary['sessions_lost']} lost, {summary['data_lost']} lost data, "
        f"{summary['replayed']} saw a replayed request",
    )
    across = summary.get("across_fault")
    if across:
        fault = summary["faults"][0]
        table.add_row(
            f"{fault['action']} {fault['target']} at {fault['at_s']:.1f} s",
            f"sessions that survived the {_fault_words(fault)}: {across['sessions_survived']}/"
            f"{across['users']}, counters continued: {across['counters_continued']}/"
            f"{across['users']}",
        )
    director = summary.get("director")
    if director:
        table.add_row(
            "L4 director",
            f"failed over {director['reaction_s']:.2f} s after the fault ({director['how']})",
        )
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
    from harness.matrix import run_matrix  # noqa: PLC0415

    balancers = _names(args.balancers, list(BALANCERS), "--balancers")
    strategies = _names(args.strategies, SESSION_STORES, "--strategies")
    with console.status("matrix") as status:
        matrix_dir = run_matrix(_plan(args), balancers, strategies, progress=status.update)
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
            f"{c.get('recovery_s', 0):.2f} s" if "recovery_s" in c else "-",
            c["verdict"],
        )
    console.print(table)
    console.print(f"matrix: {matrix_dir / 'matrix.html'}", soft_wrap=True)
    return 0


def _names(value: str, known: Sequence[str], option: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()] if value != "all" else list(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"{option} {value}: choose from {', '.join(known)} (or all)")
    return names


# -- capacity --------------------------------------------------------------


def _numbers(value: str, option: str, kind: Callable[[str], Any]) -> tuple[Any, ...]:
    try:
        return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option} {value!r}: give comma-separated numbers") from None


def _capacity_plan(args: argparse.Namespace) -> Any:
    from harness.capacity import CapacityPlan  # noqa: PLC0415

    return CapacityPlan(
        profile=load_profile(args.profile),
        connections=_numbers(args.connections, "--connections", int),
        rates=_numbers(args.rates, "--rates", float),
        rate_connections=int(args.rate_connections),
        step_s=float(args.step_duration),
        threads=int(args.threads),
        topology=_topology(args),
        results_dir=Path(args.results_dir),
        balancer=args.balancer,
        sessions=args.sessions,
        target=args.target,
        url=args.url or None,
    )


def cmd_capacity(args: argparse.Namespace) -> int:
    from harness.capacity import run_capacity  # noqa: PLC0415

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
    from harness.perf import PerfPlan, run_perf  # noqa: PLC0415

    plan = PerfPlan(
        profile=load_profile(args.profile),
        duration_s=float(args.duration),
        connections=int(args.connections),
        threads=int(args.threads),
        rounds=int(args.rounds),
        topology=_topology(args),
        sessions=args.sessions,
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
    console.print(f"perf: {Path(data['run_dir']) / 'perf.json'}", soft_wrap=True)
    return 0


# -- report, profile -------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report  # noqa: PLC0415

    console.print(str(write_report(Path(args.run))))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import run  # noqa: PLC0415

    return run(
        args.base,
        args.head,
        args.thresholds or None,
        args.markdown or None,
        args.html or None,
        console,
        allow_different_profile=args.allow_different_profile,
    )


def cmd_profile(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in available_profiles():
            console.print(f"{name}: {load_profile(name).description}")
        return 0
    profile = load_profile(args.name)
    print(json.dumps({"name": profile.name, **profile.effective()}, indent=2))
    return 0


# -- main ------------------------------------------------------------------


def _add_bench_options(parser: argparse.ArgumentParser, *, duration: str, users: str) -> None:
    _add(parser, "profile", "best-practice", "profile name or .toml path")
    _add(parser, "duration", duration, "seconds of load")
    _add(parser, "users", users, "simulated users")
    _add(parser, "spawn-rate", "20", "users started per second")
    _add(parser, "wait", "0.05", "seconds each user waits between requests")
    _add(
        parser,
        "arrival-rate",
        "",
        "open model: requests/s in all on a fixed schedule (replaces --wait); latencies are "
        "also reported corrected for coordinated omission",
    )
    _add(parser, "fault-target", "node1", "node to SIGKILL mid-run ('none' for no fault)")
    _add(parser, "fault-at", "", "seconds into the run for the fault (default: the middle)")
    _add(
        parser,
        "faults",
        "",
        "a fault schedule, overriding the two above: ACTION:TARGET@T[-T2],... "
        "(sigkill, shutdown, sigstop, restart, reload; e.g. sigstop:node1@10-15)",
    )
    _add(parser, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    _add(
        parser,
        "source-net",
        "127.100",
        "first two octets of each user's own source address (127.A.user.1); '' for none",
    )
    _add_lab_options(parser)


def _add_capacity_parser(sub: Any) -> None:
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


def _add_perf_parser(sub: Any) -> None:
    perf = sub.add_parser(
        "perf", help="wrk, capacity mode and Locust side by side: req/s and generator CPU"
    )
    _add(perf, "profile", "best-practice", "profile name or .toml path")
    _add(perf, "duration", "10", "seconds per generator and round")
    _add(perf, "rounds", "3", "rounds; each generator's median is reported")
    _add(perf, "connections", "32", "wrk connections and Locust users")
    _add(perf, "threads", str(os.cpu_count() or 1), "wrk threads")
    _add(perf, "target", "node1", "what every generator hits: a node directly, or balancer")
    _add(perf, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    _add(perf, "sessions", "none", f"where sessions live: {', '.join(SESSION_STORES)}")
    _add(perf, "net", DEFAULT_NET, "first three octets of the lab's loopback addresses")
    _add(perf, "run-dir", str(DEFAULT_RUN_DIR), "folder for the lab's configs, logs and state")
    perf.set_defaults(func=cmd_perf)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="start, inspect or stop the embedded lab")
    lab.add_argument("action", choices=("up", "status", "down"))
    _add(lab, "profile", "best-practice", "profile name or .toml path (lab up)")
    _add_lab_options(lab)
    lab.set_defaults(func=cmd_lab)

    bench = sub.add_parser("bench", help="lab up, load with a node killed mid-run, report")
    _add_bench_options(bench, duration="60", users="20")
    bench.set_defaults(func=cmd_bench)

    matrix = sub.add_parser("matrix", help="a short bench per balancer x session strategy")
    _add_bench_options(matrix, duration="15", users="10")
    _add(matrix, "balancers", "all", "comma-separated balancers, or all")
    _add(matrix, "strategies", "all", "comma-separated session strategies, or all")
    matrix.set_defaults(func=cmd_matrix)

    _add_capacity_parser(sub)
    _add_perf_parser(sub)

    report = sub.add_parser("report", help="write report.html for a results folder")
    report.add_argument("run", help="results/<run-id> folder")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser(
        "compare", help="compare two results folders: exit 0 same, 1 regression, 2 cannot"
    )
    compare.add_argument("base", help="results/<run-id> of the baseline")
    compare.add_argument("head", help="results/<run-id> to judge against it")
    _add(compare, "thresholds", "", "TOML thresholds (default: profiles/compare/thresholds.toml)")
    _add(compare, "markdown", "", "also write the comparison as Markdown to this file")
    _add(compare, "html", "", "also write an HTML page with both runs' charts overlaid")
    compare.add_argument(
        "--allow-different-profile",
        action="store_true",
        help="compare runs of two profiles on purpose (otherwise exit 2)",
    )
    compare.set_defaults(func=cmd_compare)

    profile = sub.add_parser("profile", help="list profiles or show one's effective settings")
    profile.add_argument("action", choices=("list", "show"))
    profile.add_argument("name", nargs="?", default="best-practice")
    profile.set_defaults(func=cmd_profile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("redis").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ProfileError, LabError, ValueError, FileNotFoundError) as error:
        console.print(f"error: {error}", style="red", markup=False, highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted; the lab was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
