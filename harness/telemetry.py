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


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


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
    servers = sum(v for k, v in means.items() if k not in ("generator", "machine"))
    servers_sampled = any(k not in ("generator", "machine") for k in means)
    saturated = machine >= MACHINE_SATURATED * cores
    limit = round(GENERATOR_BOUND_CORES * min(generator_cores, cores), 3)
    return {
        "cpu_cores_mean": means,
        "cores": cores,
        "generator_cores": generator_cores,
        # Without any server sampled (an external target) the second rule has nothing to
        # weigh the generator against.
        "generator_bound": generator >= limit
        or (saturated and servers_sampled and generator >= servers),
        "machine_saturated": saturated,
        "rule": (
            f"generator-bound: the generator averaged >= {limit:g} cores "
            f"({GENERATOR_BOUND_CORES} of each of the {min(generator_cores, cores)} it can "
            f"use), or the machine was >= {MACHINE_SATURATED:.0%} busy and the generator used "
            "at least as much CPU as all servers together"
        ),
    }
