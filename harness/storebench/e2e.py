"""End to end: the Locust session scenario through Tomcat with each store, per payload size.

Each cell is one ordinary bench (harness.bench.run_bench) without a fault: its own lab
up and down on the storebench's net, session.jsp keeping `size` bytes in every session.
Redisson (non-sticky) and msm non-sticky run behind nginx round robin; msm sticky
behind haproxy's cookie insert, as sticky msm needs. The store's CPU per request comes
from the bench's own telemetry (mean cores of the store processes x seconds / requests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan, run_bench
from harness.report.run import write_report
from harness.storebench.cells import human_size

log = logging.getLogger(__name__)

STRATEGIES = {
    "redis": "nginx-rr",
    "memcached-sticky": "haproxy-cookie",
    "memcached-nonsticky": "nginx-rr",
}
STORE_PARTS = {"redis": ("redis",), "memcached": ("memA", "memB")}


def store_parts(strategy: str) -> tuple[str, ...]:
    return STORE_PARTS["redis" if strategy == "redis" else "memcached"]


def cell_row(
    strategy: str, size: int, summary: dict[str, Any], duration_s: float
) -> dict[str, Any]:
    """One cell from a bench summary: latency, throughput, store CPU per request."""
    cores = summary.get("telemetry", {}).get("cpu_cores_mean", {})
    sampled = all(part in cores for part in store_parts(strategy))
    store_cores = sum(float(cores.get(part, 0.0)) for part in store_parts(strategy))
    requests = int(summary["requests"])
    # An error never reached the store: its CPU is spread over the answered requests only.
    answered = requests - int(summary.get("errors") or 0)
    return {
        "strategy": strategy,
        "balancer": STRATEGIES[strategy],
        "size": size,
        "requests": requests,
        "failures": int(summary["failures"]),
        "errors": int(summary["errors"]),
        "rps": summary["rps"],
        "p50_ms": summary["p50_ms"],
        "p95_ms": summary["p95_ms"],
        "p99_ms": summary["p99_ms"],
        "store_cores": round(store_cores, 3) if sampled else None,
        # A store part never sampled is not free: unknown.
        "store_cpu_us_per_request": round(store_cores * duration_s / answered * 1e6, 1)
        if answered > 0 and sampled
        else None,
        "tomcat_cores": round(
            sum(float(v) for k, v in cores.items() if str(k).startswith("node")), 3
        ),
        "generator_bound": summary.get("generator_bound"),  # None: not judged
    }


def run_e2e(
    *,
    net: str,
    directory: Path,
    strategies: list[str],
    sizes: list[int],
    duration_s: float,
    users: int,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    profile = load_profile("best-practice")
    rows = []
    for strategy in strategies:
        for size in sizes:
            progress(f"end to end: {strategy}, {human_size(size)} sessions")
            plan = BenchPlan(
                profile=profile,
                duration_s=duration_s,
                users=users,
                fault_target=None,
                cluster=LabSpec(
                    balancer=STRATEGIES[strategy],
                    sessions=strategy,
                    topology=Topology(net=net, run_dir=directory / "lab"),
                ),
                results_dir=directory,
                label=f"{strategy}-{size}",
                session_size=size,
            )
            result = run_bench(plan, progress=lambda _: None)
            write_report(result.run_dir)  # each cell's own bench report, linked from ours
            row = cell_row(strategy, size, result.summary, duration_s)
            row["run"] = str(result.run_dir.relative_to(directory.parent))
            rows.append(row)
            if result.interrupted_at_s is not None:
                # Ctrl-C under this cell's load: its row says so, and no cell follows.
                row["interrupted_at_s"] = result.interrupted_at_s
            if result.stop_requested:
                row["stopped"] = True  # by the operator, in this cell: no cell follows
                return rows
    return rows
