"""storebench: Redis against Memcached (raw, memory, restart, e2e); its table of claims."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from harness.cli.console import console, error, progress_bar
from harness.cli.options import Parser, Subparsers, add
from harness.results.folders import RESULTS_DIR

if TYPE_CHECKING:
    from harness.storebench import Outcome, StorebenchPlan


def add_parser(subparsers: Subparsers) -> Parser:
    store = subparsers.add_parser(
        "storebench", help="Redis against Memcached: raw, memory, restart, e2e"
    )
    add(store, "sizes", "1k,10k,100k,500k,1m", "value sizes of the raw cells")
    add(store, "conns", "1,8,32", "concurrent connections of the raw cells")
    add(store, "cell-ops", "20000", "at most this many operations per Python-client cell", kind=int)
    add(
        store, "cell-seconds", "1.2", "at most this many seconds per Python-client cell", kind=float
    )
    add(
        store,
        "native-ops",
        "20000",
        "operations per native cell (fewer for large values)",
        kind=int,
    )
    add(
        store,
        "memory-sessions",
        "100000",
        "sessions stored per layout for bytes/session",
        kind=int,
    )
    add(store, "restart-sessions", "10000", "sessions stored before each restart", kind=int)
    add(
        store,
        "redis-instances",
        "2",
        "Redis instances for extra native cells (the remedy; 1: none)",
        kind=int,
    )
    add(store, "memcached-threads", "4", "memcached -t (its default is 4)", kind=int)
    add(
        store,
        "e2e-strategies",
        "redis,memcached-sticky,memcached-nonsticky",
        "session strategies end to end",
    )
    add(store, "e2e-sizes", "1k,10k,100k", "session payload sizes end to end")
    add(store, "e2e-duration", "6", "seconds of each end-to-end bench", kind=float)
    add(store, "e2e-users", "10", "Locust users of each end-to-end bench", kind=int)
    add(store, "phases", "all", "comma-separated: cells,native,memory,restart,e2e (or all)")
    add(store, "net", "127.0.70", "first three octets of the storebench's loopback addresses")
    add(store, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    return store


def sizes(value: str, option: str) -> tuple[int, ...]:
    """ "1k,10k,1m" -> bytes; k and m are 1024 and 1024*1024."""
    factors = {"k": 1024, "m": 1024 * 1024}
    found = []
    for part in (p.strip().lower() for p in value.split(",") if p.strip()):
        factor = factors.get(part[-1], 1)
        digits = part[:-1] if part[-1] in factors else part
        if not digits.isdigit():
            raise ValueError(f"{option} {value}: sizes like 1k,10k,100k,500k,1m")
        found.append(int(digits) * factor)
    if not found:
        raise ValueError(f"{option}: no size given")
    return tuple(found)


def _ints(value: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in value.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"{option} {value}: comma-separated whole numbers") from None


def _words(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def plan_from(args: argparse.Namespace) -> StorebenchPlan:
    from harness.storebench import StorebenchPlan  # noqa: PLC0415

    return StorebenchPlan(
        sizes=sizes(args.sizes, "--sizes"),
        conns=_ints(args.conns, "--conns"),
        cell_ops=args.cell_ops,
        cell_seconds=args.cell_seconds,
        native_ops=args.native_ops,
        sessions=args.memory_sessions,
        restart_sessions=args.restart_sessions,
        redis_instances=args.redis_instances,
        memcached_threads=args.memcached_threads,
        e2e_strategies=_words(args.e2e_strategies),
        e2e_sizes=sizes(args.e2e_sizes, "--e2e-sizes"),
        e2e_duration_s=args.e2e_duration,
        e2e_users=args.e2e_users,
        phases=_words("cells,native,memory,restart,e2e" if args.phases == "all" else args.phases),
        net=args.net,
        results_dir=Path(args.results_dir),
    )


def run(args: argparse.Namespace) -> int:
    from harness.storebench import ProgressCounter, run_storebench  # noqa: PLC0415
    from harness.storebench.report import write_report  # noqa: PLC0415

    plan = plan_from(args)
    with progress_bar("") as bar:
        task = bar.add_task("starting", total=plan.steps())
        outcome = run_storebench(
            plan,
            ProgressCounter(lambda text, done: bar.update(task, description=text, completed=done)),
        )
        write_report(outcome.run_dir)
    console.print(_table(outcome))
    console.print(f"report: {outcome.run_dir / 'report.html'}", soft_wrap=True)
    if not outcome.complete:
        error(f"incomplete run ({outcome.error}); partial results in {outcome.run_dir}")
        return 1
    return 0


def _table(outcome: Outcome) -> Table:
    table = Table("claim", "verdict", title=f"storebench: {outcome.run_dir.name}")
    for verdict in outcome.verdicts:
        table.add_row(verdict["claim"], Text(verdict["verdict"]))
    return table
