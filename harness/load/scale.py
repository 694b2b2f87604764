"""`make scale`: how each session strategy's costs grow with the number of nodes.

For each strategy and node count, one bench on a lab of that size: a fixed number of
users (one session each, with a payload) at a fixed arrival rate, node1 SIGKILLed late
in the run. Measured per cell: the heap each node's sessions take (after a forced GC,
against the same node before the load), the bytes on the cluster port and to the stores
per request (nftables counters), the servers' CPU per request, throughput and p99, and
what the kill cost (sessions lost). Then the guide's scale claims are judged from how
those figures move with N. A study, not a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from harness.load.bench import BenchPlan, BenchResult, Meter, run_bench
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.models import write_document
from harness.results.run_folder import iso, machine

SCALE_FILE = "scale.json"
# name: (balancer, session strategy, what it stands for)
STRATEGIES = {
    "replication-delta": ("nginx-rr", "replication", "Tomcat replication, DeltaManager"),
    "replication-backup": ("nginx-rr", "replication", "Tomcat replication, BackupManager"),
    "redis": ("nginx-rr", "redis", "Redis (Redisson)"),
    "msm-nonsticky": ("nginx-rr", "memcached-nonsticky", "memcached-session-manager"),
    "sticky-memory": ("nginx-ip-hash", "none", "sticky binding, in-memory sessions"),
}
# Below this share of the arrival rate, a cell served what the machine allowed.
MACHINE_LIMITED = 0.95
# Not the servers' CPU: the load generator and the machine as a whole.
_NOT_SERVERS = ("generator", "machine")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScaleCell:
    strategy: str
    nodes: int
    plan: BenchPlan  # on a lab of that many nodes, with the strategy's profile


@dataclass(frozen=True)
class ScalePlan:
    cells: tuple[ScaleCell, ...]
    meters: Callable[[Cluster], Sequence[Meter]]  # bytes and session heap, per cell
    results_dir: Path = RESULTS_DIR


def _servers_cpu_s(summary: dict[str, Any], duration_s: float) -> float | None:
    cores = (summary.get("telemetry") or {}).get("cpu_cores_mean") or {}
    parts = [v for k, v in cores.items() if not k.startswith(_NOT_SERVERS)]
    return sum(parts) * duration_s if parts else None


def _row(cell: ScaleCell, result: BenchResult, figures: dict[str, Any]) -> dict[str, Any]:
    summary = result.summary
    requests = summary.get("requests") or 0
    cpu_s = _servers_cpu_s(summary, cell.plan.duration_s)
    heap = figures.get("session_heap_bytes", {})
    wire = figures.get("bytes", {})
    users = summary.get("users") or 0
    rate, rps = cell.plan.arrival_rate, summary.get("rps")
    cut_short = result.interrupted_at_s is not None
    return {
        "strategy": cell.strategy,
        "nodes": cell.nodes,
        "run": result.run_dir.name,
        "requests": requests,
        "failures": summary.get("failures"),
        "rps": summary.get("rps"),
        "p99_ms": summary.get("p99_ms"),
        "servers_cpu_ms_per_request": 1000 * cpu_s / requests if cpu_s and requests else None,
        "session_heap_per_node_bytes": sum(heap.values()) / len(heap) if heap else None,
        "session_heap_by_node": heap,
        # A meter that read nothing is no traffic measured, never 0 bytes.
        "cluster_bytes_per_request": _per_request(wire, ("cluster",), requests),
        "store_bytes_per_request": _per_request(wire, ("redis", "memcached"), requests),
        # A user never answered again did not keep its session either. Only a kill that
        # was delivered, in a run not cut short, lost anything to it.
        "kill_lost_share": ((summary.get("sessions_lost") or 0) + (summary.get("unanswered") or 0))
        / users
        if users and result.verdict.get("fault_delivered") is True and not cut_short
        else None,
        "interrupted_at_s": result.interrupted_at_s,
        "verdict": result.verdict.get("verdict"),
        "generator_bound": summary.get("generator_bound"),
        # The servers (all on this machine's cores) could not keep up with the arrival rate,
        # or the load generator was the limit: what the cell shows is the machine's limit too.
        "machine_limited": bool(summary.get("generator_bound"))
        or (rate is not None and rps is not None and rps < MACHINE_LIMITED * rate),
    }


def _per_request(wire: dict[str, Any], parts: tuple[str, ...], requests: int) -> float | None:
    """Bytes per request of the parts the meter read; None when it read none of them."""
    read = [wire[part] for part in parts if isinstance(wire.get(part), int | float)]
    return sum(read) / requests if read and requests else None


def run_scale(plan: ScalePlan, progress: Progress) -> dict[str, Any]:
    """Every cell in turn, each a bench of its own under the study's folder."""
    run_dir = new_run_dir("scale", plan.results_dir)
    began = time.time()
    rows: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    for index, cell in enumerate(plan.cells, 1):
        progress(f"cell {index}/{len(plan.cells)}: {cell.strategy}, {cell.nodes} nodes")
        made: list[Meter] = []

        def meters(cluster: Cluster, made: list[Meter] = made) -> Sequence[Meter]:
            made.extend(plan.meters(cluster))
            return made

        bench = replace(
            cell.plan, results_dir=run_dir / "cells", label=f"{cell.strategy}-n{cell.nodes}"
        )
        result = run_bench(bench, progress=progress, meters=meters)
        figures: dict[str, Any] = {}
        for meter in made:
            figures |= meter.figures()
        rows.append(_row(cell, result, figures))
        data = _document(run_dir, began, plan, rows)
        write_document(run_dir / SCALE_FILE, data, "scale")
        if result.stop_requested:
            raise KeyboardInterrupt  # Ctrl-C ends the study, scale.json holding what ran
    return data


def _document(
    run_dir: Path, began: float, plan: ScalePlan, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    first = plan.cells[0].plan
    return {
        "schema": "tomcat-bench/scale",
        "schema_version": 1,
        "run_dir": str(run_dir),
        "started": iso(began),
        "ended": iso(time.time()),
        "profile": first.profile.name,
        "users": first.users,
        "arrival_rate": first.arrival_rate,
        "duration_s": first.duration_s,
        "session_size": first.session_size,
        "fault": str(first.fault_specs()[0]) if first.fault_specs() else None,
        "machine": machine(),
        "rows": rows,
        "claims": judge(rows),
    }


def _series(rows: list[dict[str, Any]], strategy: str, key: str) -> dict[int, float]:
    # A cell cut short (Ctrl-C) measured part of its plan: none of its figures count.
    return {
        r["nodes"]: r[key]
        for r in rows
        if r["strategy"] == strategy and r[key] is not None and r.get("interrupted_at_s") is None
    }


def _growth(series: dict[int, float]) -> float | None:
    """The figure at the largest N over the figure at the smallest."""
    if len(series) < 2:
        return None
    low, high = series[min(series)], series[max(series)]
    return high / low if low > 0 else None


def judge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The guide's scale claims, each held against how the measured figures grow with N;
    a claim its figures cannot decide says so."""
    claims = []

    def claim(
        text: str, strategy: str, key: str, holds: Callable[[float, float], bool], how: str
    ) -> None:
        series = _series(rows, strategy, key)
        growth = _growth(series)
        if growth is None:
            verdict = "not judged: fewer than two node counts measured"
        else:
            n_low, n_high = min(series), max(series)
            ratio = n_high / n_low
            verdict = "holds" if holds(growth, ratio) else "does not hold"
            verdict += f": {key} x{growth:.2f} from {n_low} to {n_high} nodes ({how})"
            limited = [
                str(r["nodes"]) for r in rows
                if r["strategy"] == strategy and r["nodes"] in series and r.get("machine_limited")
            ]  # fmt: skip
            if limited:
                verdict += f"; limited by this machine at N={', '.join(limited)}"
        claims.append({"claim": text, "strategy": strategy, "key": key, "verdict": verdict,
                       "series": series})  # fmt: skip

    claim(
        "replication makes every node hold every session (memory per node does not "
        "shrink as nodes are added)",
        "replication-delta", "session_heap_per_node_bytes",
        lambda growth, ratio: growth > 2 / ratio,
        "holds if it stays well above 1/N, the share a node holds when sessions are spread",
    )  # fmt: skip
    claim(
        "replication's traffic grows with the cluster (every change goes to every member)",
        "replication-delta", "cluster_bytes_per_request",
        lambda growth, ratio: growth > 1.5,
        "holds if bytes per request grow by more than half",
    )  # fmt: skip
    claim(
        "BackupManager keeps replication's traffic flat (one backup per session)",
        "replication-backup", "cluster_bytes_per_request",
        lambda growth, ratio: growth < 1.5,
        "holds if bytes per request grow by less than half",
    )  # fmt: skip
    for strategy in ("redis", "msm-nonsticky"):
        claim(
            f"{STRATEGIES[strategy][2]} scales out: store traffic per request stays flat",
            strategy, "store_bytes_per_request",
            lambda growth, ratio: growth < 1.5,
            "holds if bytes per request grow by less than half",
        )  # fmt: skip
    claim(
        "sticky binding loses only the dead node's share of sessions (1/N)",
        "sticky-memory", "kill_lost_share",
        lambda growth, ratio: growth < 1.5 / ratio,
        "holds if the lost share falls about as 1/N",
    )  # fmt: skip
    return claims
