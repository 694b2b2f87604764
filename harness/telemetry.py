"""Samples the load generator, the lab's servers and the machine once a second during a run.

Why: on a 2-core lab, Locust can saturate a core long before Tomcat does; a
throughput number from such a run measures Locust. The samples tell which side
was the bottleneck, and the run is marked "generator-bound" when it was Locust.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.periodic import Periodic

TELEMETRY_FILE = "telemetry.csv"
FIELDS = ("t_s", "part", "cpu_cores", "rss_bytes")
# A single Locust process cannot use more than one core; near that, it is the limit.
GENERATOR_BOUND_CORES = 0.9
MACHINE_SATURATED = 0.95
# A telemetry part of its own: the generator's run-queue wait, in cores (not CPU used).
GENERATOR_WAIT = "generator.wait"
_NOT_SERVERS = ("generator", GENERATOR_WAIT, "machine")


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _runqueue_wait_s(procs: list[psutil.Process]) -> float:
    """Seconds the processes' threads spent runnable but waiting for a CPU (Linux schedstat).

    Why: on a machine shared with other work, a generator that wants a whole core may get
    only a third of one; its CPU alone then looks idle-ish. CPU + run-queue wait is what it
    asked for, and asking for a whole core all the time is what generator-bound means."""
    total_ns = 0
    for proc in procs:
        for task in Path(f"/proc/{proc.pid}/task").glob("*/schedstat"):
            try:
                total_ns += int(task.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended between listing and reading
    return total_ns / 1e9


def _cpu_and_rss(procs: list[psutil.Process]) -> tuple[float, int]:
    cpu, rss = 0.0, 0
    for proc in procs:
        try:
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return cpu, rss


@dataclass
class Sampler(Periodic):
    """A background sampler; parts maps a name ("generator", "node1", ...) to a root pid."""

    parts: Mapping[str, int]
    start_epoch: float
    interval_s: float = 1.0
    rows: list[tuple[float, str, float, int]] = field(default_factory=list)
    # How many cores the generator can use at most: 1 for one Locust process, wrk's
    # thread count for wrk. Its limit is GENERATOR_BOUND_CORES of each.
    generator_cores: int = 1
    thread_name = "telemetry"

    def begin(self) -> None:
        psutil.cpu_percent()  # the first call only sets the baseline
        # Each part's CPU is divided by the time between its own two readings, not the
        # loop's: under load a sampling pass itself takes a noticeable time.
        self._previous = {name: self._read(pid) for name, pid in self.parts.items()}
        self._wait_previous = self._read_wait()

    def tick(self) -> None:
        t_s = round(time.time() - self.start_epoch, 3)
        for name, pid in self.parts.items():
            cpu, rss, at = self._read(pid)
            if not rss:
                continue  # gone (killed by a fault); its absence is the signal
            before_cpu, _, before_at = self._previous[name]
            self._previous[name] = (cpu, rss, at)
            used = max(0.0, cpu - before_cpu) / max(at - before_at, 1e-3)
            self.rows.append((t_s, name, round(used, 3), rss))
        machine = psutil.cpu_percent() / 100 * (psutil.cpu_count() or 1)
        self.rows.append((t_s, "machine", round(machine, 3), 0))
        self._sample_generator_wait(t_s)

    def _read_wait(self) -> tuple[float, float] | None:
        pid = self.parts.get("generator")
        if pid is None:
            return None
        return _runqueue_wait_s(_tree(pid)), time.monotonic()

    def _sample_generator_wait(self, t_s: float) -> None:
        """A GENERATOR_WAIT row: cores' worth of time the generator waited for a CPU."""
        now, before = self._read_wait(), self._wait_previous
        if now is None or before is None:
            return
        self._wait_previous = now
        waited = max(0.0, now[0] - before[0]) / max(now[1] - before[1], 1e-3)
        self.rows.append((t_s, GENERATOR_WAIT, round(waited, 3), 0))

    @staticmethod
    def _read(pid: int) -> tuple[float, int, float]:
        cpu, rss = _cpu_and_rss(_tree(pid))
        return cpu, rss, time.monotonic()

    def write(self, run_dir: Path) -> Path:
        path = run_dir / TELEMETRY_FILE
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FIELDS)
            writer.writerows(self.rows)
        return path

    def summary(self) -> dict[str, Any]:
        return summarize_samples(
            self.rows, psutil.cpu_count() or 1, generator_cores=self.generator_cores
        )


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 3) if values else 0.0


def summarize_samples(
    rows: list[tuple[float, str, float, int]], cores: int, *, generator_cores: int = 1
) -> dict[str, Any]:
    """Mean CPU (in cores) per part; generator-bound if the generator, not the servers, was
    the limit. generator_cores: how many cores the generator can use (its processes or
    threads); it is bound at GENERATOR_BOUND_CORES of each, or of the machine's cores."""
    by_part: dict[str, list[float]] = {}
    for _, part, cpu, _ in rows:
        by_part.setdefault(part, []).append(cpu)
    means = {part: _mean(values) for part, values in sorted(by_part.items())}
    generator = means.get("generator", 0.0)
    machine = means.get("machine", 0.0)
    servers = sum(v for k, v in means.items() if k not in _NOT_SERVERS)
    servers_sampled = any(k not in _NOT_SERVERS for k in means)
    # What the generator asked for: the CPU it got plus the time it waited for one.
    demand = round(generator + means.get(GENERATOR_WAIT, 0.0), 3)
    saturated = machine >= MACHINE_SATURATED * cores
    limit = round(GENERATOR_BOUND_CORES * min(generator_cores, cores), 3)
    return {
        "cpu_cores_mean": means,
        "cores": cores,
        "generator_cores": generator_cores,
        # Without any server sampled (an external target) the second rule has nothing to
        # weigh the generator against.
        "generator_bound": generator >= limit
        or demand >= limit
        or (saturated and servers_sampled and generator >= servers),
        "generator_demand_cores": demand,
        "machine_saturated": saturated,
        "rule": (
            f"generator-bound: the generator averaged >= {limit:g} cores "
            f"({GENERATOR_BOUND_CORES} of each of the {min(generator_cores, cores)} it can "
            f"use), or ran and waited for a CPU that long (shared machine), or the machine "
            f"was >= {MACHINE_SATURATED:.0%} busy and the generator used at least as much "
            "CPU as all servers together"
        ),
    }
