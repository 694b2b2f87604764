"""lab up | status | down: the embedded lab by hand, and what its JVMs really run with."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.table import Table

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, lab_options, topology
from harness.cluster import jvm
from harness.cluster.jvm import NodeJvm, Pool
from harness.cluster.lab import Lab, jvms
from harness.config.profile import ProfileError, load_profile


def add_parser(subparsers: Subparsers) -> Parser:
    lab = subparsers.add_parser(
        "lab", help="start, inspect or stop the embedded lab; warm: make later starts quick"
    )
    lab.add_argument("action", choices=("up", "status", "down", "warm"))
    add(lab, "profile", "best-practice", "profile name or .toml path (lab up)")
    lab_options(lab)
    return lab


def run(args: argparse.Namespace) -> int:
    if args.action == "up":
        return _up(args)
    if args.action == "down":
        return _down(args.run_dir)
    if args.action == "warm":
        return _warm(args)
    return _status(Lab.attach(Path(args.run_dir)))


def _up(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    lab = Lab(topology(args))
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
        f"{lab.entry_url}/session.jsp"
        + (f" (verify with --cacert {lab.ca_file})" if lab.ca_file else "")
    )
    return 0


def _warm(args: argparse.Namespace) -> int:
    """A throwaway lab per session store, started and stopped once in a temporary folder
    on --net, so later labs of this profile start from kept classes and compiled JSPs."""
    from harness.cluster.lab.warm import warm_starts  # noqa: PLC0415

    profile = load_profile(args.profile)
    with console.status("lab warm") as status:
        warmed = warm_starts(
            profile, net=args.net, progress=lambda text: status.update(f"lab warm: {text}")
        )
    console.print(
        f"lab warm: {', '.join(warmed)} started once and stopped for profile {profile.name}"
        if warmed
        else f"lab warm: every store starts warm already for profile {profile.name}"
    )
    return 0


def _down(run_dir: str) -> int:
    if not (Path(run_dir) / "lab.json").exists():
        console.print(f"lab down: no lab was started in {run_dir}")
        return 0
    stopped = Lab.attach(Path(run_dir)).down()
    console.print(f"lab down: stopped {', '.join(stopped) or 'nothing (none was running)'}")
    return 0


def _status(lab: Lab) -> int:
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


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


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
        ("deployer check s/autoDeploy", each(lambda n: f"{n.deployer_check_s or '-'}/"
                                             f"{_yes_no(n.auto_deploy)}")),
        ("sessions", each(lambda n: n.sessions)),
    ]  # fmt: skip


def _print_jvms(lab: Lab) -> None:
    """What each running node really runs with, read back from its JVM and Tomcat's MBeans."""
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
