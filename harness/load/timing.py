"""The kept benchmark of the operator's wait for a verdict, beside the last run's figures.

1. lab up per session store: once in a fresh folder with nothing kept (CATALINA_BASE laid
   out, JSPs compiled, no class archive: a clean clone's first lab) and `rounds` times
   warm; medians, and the parts' times.
2. A bench's wall time beyond its load, for runs of each duration: the whole wait of the
   command an operator runs (`python -m harness bench`, timed from its spawn to its exit:
   Python's start and imports too), less the load's duration, and where it went
   (phases_s, "start" among them).
3. report and compare on synthetic runs of each row count (harness.load.results_timing),
   each in a process of its own: seconds and peak memory.
4. The machine's own speed at the start and at the end: a fixed one-core task's best time
   of three. On a shared VM the same code brought the lab up in 2.8 s one hour and in
   1.9 s the next: a figure that moved with this one moved with the machine, not the code.

Each run writes results/<stamp>-timing/timing.json; the next run prints its figures beside
it, so a change that slows one shows.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.cluster import ClusterSpec
from harness.config.profile import Profile
from harness.load.results_timing import time_results
from harness.results.folders import new_run_dir
from harness.results.models import write_document
from harness.results.run_folder import iso, read_manifest

log = logging.getLogger(__name__)

TIMING_FILE = "timing.json"
SCHEMA = "tomcat-bench/timing"
INTERRUPTED = 130  # the bench command's exit when Ctrl-C cut its load short


@dataclass(frozen=True, kw_only=True)
class TimingPlan:
    profile: Profile
    cluster: ClusterSpec  # the embedded lab every lab up, and every bench, runs on
    # The same lab in a folder of its own, emptied before and after its one lab up (a
    # clean clone's first: every CATALINA_BASE laid out, JSPs compiled, no class archive).
    fresh_cluster: ClusterSpec
    fresh_dir: Path
    results_dir: Path
    stores: tuple[str, ...] = ("none", "redis", "memcached-nonsticky", "replication")
    rounds: int = 5
    bench_sessions: str = "redis"
    # The bench command with this plan's profile and lab; each bench adds its duration and
    # results folder.
    bench_command: tuple[str, ...] = ()
    bench_durations: tuple[float, ...] = (20.0, 120.0)
    rows: tuple[int, ...] = (1_000_000, 10_000_000)


def run_timing(plan: TimingPlan, *, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every figure, written to timing.json (with the previous run's path, if any)."""
    previous = latest(plan.results_dir)
    run_dir = new_run_dir("timing", plan.results_dir)
    started = time.time()
    machine_at_start = machine_speed()
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": 1,
        "started_at": iso(started),
        "profile": plan.profile.name,
        "previous": str(previous) if previous else None,
        "lab_up": {s: _lab_ups(plan, s, progress) for s in plan.stores},
        "benches": [_bench(plan, d, run_dir, progress) for d in plan.bench_durations],
        "results": [_results(rows, progress) for rows in plan.rows],
    }
    at_end = machine_speed()
    data["machine"] = {
        name: {"start": machine_at_start[name], "end": at_end[name]} for name in at_end
    }
    data["ended_at"] = iso(time.time())
    write_document(run_dir / TIMING_FILE, data, "timing")
    data["run_dir"] = str(run_dir)
    return data


def machine_speed() -> dict[str, float]:
    """The machine's speed now: a fixed task bound by one core, and one bound by memory."""
    return {"one_core_task_s": one_core_task_s(), "memory_task_s": memory_task_s()}


def one_core_task_s(rounds: int = 3) -> float:
    """A fixed task's best wall time of `rounds` on one core (about 0.13 s here): pure
    interpreter work, no I/O, nothing this project's code changes."""
    best = math.inf
    for _ in range(rounds):
        began = time.perf_counter()
        _fixed_task()
        best = min(best, time.perf_counter() - began)
    return round(best, 4)


# Random reads over an array three times this machine's last-level cache (300 MiB): each
# read a likely cache (and TLB) miss, so the task waits on memory, not on the core.
_MEMORY_BYTES = 1 << 30
_MEMORY_READS = 4_000_000


def memory_task_s(rounds: int = 3) -> float:
    """A fixed memory-bound task's best wall time of `rounds`: random reads over 1 GiB
    (their places drawn once, with a fixed seed, outside the timing)."""
    import numpy as np  # noqa: PLC0415  (only make timing needs it here)

    values = np.ones(_MEMORY_BYTES // 8, dtype=np.int64)
    places = np.random.default_rng(18).integers(0, len(values), _MEMORY_READS)
    best = math.inf
    for _ in range(rounds):
        began = time.perf_counter()
        total = int(values[places].sum())
        best = min(best, time.perf_counter() - began)
    assert total == _MEMORY_READS
    return round(best, 4)


def _fixed_task() -> int:
    total = 0
    for i in range(1_000_000):
        total = (total + i * i) % 1_000_003
    return total


def latest(results_dir: Path) -> Path | None:
    """The newest earlier timing.json under results_dir."""
    found = sorted(results_dir.glob(f"*-timing*/{TIMING_FILE}"))
    return found[-1] if found else None


def _lab_ups(plan: TimingPlan, store: str, progress: Callable[[str], None]) -> dict[str, Any]:
    shutil.rmtree(plan.fresh_dir, ignore_errors=True)
    progress(f"lab up with {store}: first, in a fresh folder, nothing kept")
    with plan.fresh_cluster.cold():
        first, first_cpu, first_nodes = _one_up(plan, plan.fresh_cluster, store)
    shutil.rmtree(plan.fresh_dir, ignore_errors=True)
    warm, warm_cpu, warm_nodes = [], [], []
    for round_ in range(plan.rounds):
        progress(f"lab up with {store}: warm, round {round_ + 1}/{plan.rounds}")
        timings, cpu, nodes = _one_up(plan, plan.cluster, store)
        warm.append(timings)
        warm_cpu.append(cpu)
        warm_nodes += nodes
    return {
        "first_s": first["up"],
        "first_parts_s": first,
        "first_start_cpu_s": first_cpu,
        "warm_s": [w["up"] for w in warm],
        "warm_median_s": _medians(warm).get("up"),
        "warm_parts_median_s": _medians(warm),
        # All nodes' CPU to their first answer, and the JIT's part: the least the lab up
        # can take here is cpu_s over cores (cores beside it).
        "warm_start_cpu_median_s": _medians(warm_cpu),
        "cores": os.cpu_count(),
        # Where a node's start went (node_start.start_parts), over every node of every
        # round: medians, and the first lab's nodes as they were.
        "first_node_parts_s": first_nodes,
        "warm_node_parts_median_s": _medians(warm_nodes),
    }


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each key's median over rounds that all have it ({} for none)."""
    if not rounds:
        return {}
    return {
        key: round(statistics.median(r[key] for r in rounds), 3)
        for key in rounds[0]
        if all(key in r for r in rounds)
    }


def _one_up(
    plan: TimingPlan, spec: ClusterSpec, store: str
) -> tuple[dict[str, float], dict[str, float], list[dict[str, float]]]:
    """The lab up's timings per part, its nodes' start CPU summed ({} if not read), and
    each node's start parts."""
    cluster = spec.with_strategy(spec.balancer, store).up(plan.profile, progress=_quiet)
    try:
        described = cluster.describe()
    finally:
        cluster.down()
    nodes = (described.get("start_cpu_s") or {}).values()
    cpu = {key: round(sum(n[key] for n in nodes), 3) for key in ("cpu_s", "jit_s")} if nodes else {}
    parts = list((described.get("start_parts_s") or {}).values())
    return dict(described.get("timings_s") or {}), cpu, parts


def _quiet(_: str) -> None:
    return None


def _bench(
    plan: TimingPlan, duration_s: float, run_dir: Path, progress: Callable[[str], None]
) -> dict[str, Any]:
    progress(f"a {duration_s:g} s bench with {plan.bench_sessions}")
    results_dir = run_dir / "benches" / f"{duration_s:g}s"
    command = [
        *plan.bench_command,
        *("--sessions", plan.bench_sessions, "--duration", f"{duration_s:g}"),
        *("--results-dir", str(results_dir)),
    ]
    log_file = run_dir / f"bench-{duration_s:g}s.log"
    began = time.monotonic()
    with log_file.open("w") as out:
        bench = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_own_env())
        try:
            returncode = bench.wait()
        except KeyboardInterrupt:
            bench.wait()  # it got the Ctrl-C too: its results are written, then it ends
            raise
    wall = time.monotonic() - began
    if returncode == INTERRUPTED:
        raise KeyboardInterrupt  # a load cut short times nothing
    found = sorted(results_dir.glob("*/run.json"))
    if returncode not in (0, 1) or not found:  # 1: a check or the generator failed; kept
        raise RuntimeError(f"the {duration_s:g} s bench exited {returncode}: see {log_file}")
    run = read_manifest(found[-1].parent)
    return {
        "duration_s": duration_s,
        "wall_s": round(wall, 3),
        "beyond_load_s": round(wall - duration_s, 3),
        "phases_s": run.get("phases_s", {}),
        # How busy the machine was meanwhile: all cores busy means only CPU shortens it.
        "cpu_before_load": (run.get("lab") or {}).get("cpu_before_load") or {},
        "requests": run["summary"]["requests"],
        "run": str(found[-1].parent.relative_to(run_dir)),
    }


def _own_env() -> dict[str, str]:
    """The environment without the bench's TOMCAT_BENCH_* twins: the timed bench is the one
    this plan gives (its options are all on its command line), not one they would change."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TOMCAT_BENCH_")}


def _results(rows: int, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"report and compare of {rows:,} synthetic requests")
    return asdict(time_results(rows))


def previous_figures(data: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier run's timing.json that data names, if it can still be read."""
    path = data.get("previous")
    if not path:
        return None
    try:
        loaded = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
