"""scale: each session strategy on 2 to 8 nodes; how its costs grow; the guide's claims."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, duration, lab_place_options
from harness.cluster import Cluster
from harness.cluster.lab.cluster import LabCluster, LabSpec
from harness.cluster.lab.meter import ByteMeter, SessionHeap
from harness.cluster.lab.topology import Topology
from harness.config.faults import FaultSpec
from harness.config.profile import Profile, Replication, SessionSettings, load_profile
from harness.results.folders import RESULTS_DIR

if TYPE_CHECKING:
    from harness.load.bench import Meter
    from harness.load.scale import ScalePlan


def add_parser(subparsers: Subparsers) -> Parser:
    from harness.load.scale import STRATEGIES  # noqa: PLC0415

    scale = subparsers.add_parser(
        "scale", help="each session strategy on 2 to 8 nodes: memory, traffic and CPU per N"
    )
    add(scale, "profile", "best-practice", "profile name or .toml path")
    add(scale, "strategies", ",".join(STRATEGIES), f"comma-separated: {', '.join(STRATEGIES)}")
    add(scale, "node-counts", "2,4,6,8", "comma-separated node counts, each 1 to 8")
    add(scale, "users", "100", "users, one session each", kind=int)
    add(scale, "arrival-rate", "100", "requests per second in all (open model)", kind=float)
    add(scale, "duration", "12", "length of each cell's load", kind=duration)
    add(scale, "session-size", "32768", "bytes of payload in each session", kind=int)
    add(scale, "kill", "node1", "the node SIGKILLed at 3/4 of each cell's load (none: no kill)")
    add(scale, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    lab_place_options(scale, nodes=False)
    return scale


def _profile_for(strategy: str, base: Profile) -> Profile:
    if strategy != "replication-backup":
        return base
    backup = Replication(manager="BackupManager")
    sessions = SessionSettings(
        redisson=base.sessions.redisson, msm=base.sessions.msm, replication=backup
    )
    return base.model_copy(update={"sessions": sessions})


def _meters(cluster: Cluster) -> list[Meter]:
    assert isinstance(cluster, LabCluster), "the scale study runs on the embedded lab"
    return [ByteMeter(cluster.lab.topology.net), SessionHeap(cluster.lab)]


def plan_from(args: argparse.Namespace) -> ScalePlan:
    from harness.load.bench import BenchPlan  # noqa: PLC0415
    from harness.load.scale import STRATEGIES, ScaleCell, ScalePlan  # noqa: PLC0415

    base = load_profile(args.profile)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ValueError(f"--strategies {args.strategies}: choose from {', '.join(STRATEGIES)}")
    try:
        counts = [int(n) for n in args.node_counts.split(",") if n.strip()]
    except ValueError:
        raise ValueError(f"--node-counts {args.node_counts}: whole numbers, e.g. 2,4,6,8") from None
    if not counts or not all(1 <= n <= 8 for n in counts):
        raise ValueError(f"--node-counts {args.node_counts}: each 1 to 8")
    kill = () if args.kill == "none" else (FaultSpec("sigkill", args.kill, 0.75 * args.duration),)
    cells = []
    for strategy in strategies:
        balancer, sessions, _ = STRATEGIES[strategy]
        for nodes in counts:
            spec = LabSpec(
                balancer=balancer,
                sessions=sessions,
                topology=Topology(net=args.net, run_dir=Path(args.run_dir), node_count=nodes),
            )
            bench = BenchPlan(
                profile=_profile_for(strategy, base),
                cluster=spec,
                duration_s=args.duration,
                users=args.users,
                spawn_rate=args.users,
                arrival_rate=args.arrival_rate,
                session_size=args.session_size,
                faults=kill,
                fault_target=None,
            )
            cells.append(ScaleCell(strategy, nodes, bench))
    return ScalePlan(cells=tuple(cells), meters=_meters, results_dir=Path(args.results_dir))


def run(args: argparse.Namespace) -> int:
    from harness.load.scale import run_scale  # noqa: PLC0415
    from harness.report.scale import write_scale_page  # noqa: PLC0415

    plan = plan_from(args)
    with console.status("scale") as status:
        data = run_scale(plan, progress=status.update)
    page = write_scale_page(Path(data["run_dir"]), data)
    table = Table("claim", "strategy", "verdict", title="make scale: the guide's claims")
    for claim in data["claims"]:
        table.add_row(claim["claim"], claim["strategy"], Text(claim["verdict"]))
    console.print(table)
    console.print(f"scale: {page}", soft_wrap=True)
    return 0
