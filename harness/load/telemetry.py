"""Samples the load generator, the lab's servers and the machine once a second during a run,
and each Tomcat node's thread pool, heap and GC (JvmSampler, jvm_telemetry.csv).

Why: on a 2-core lab, Locust can saturate a core long before Tomcat does; a
throughput number from such a run measures Locust. The samples tell which side
was the bottleneck, and the run is marked "generator-bound" when it was Locust.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.cluster import jvm, readings
from harness.periodic import Periodic
from harness.results.telemetry import (
    FIELDS,
    JVM_FIELDS,
    JVM_TELEMETRY_FILE,
    TELEMETRY_FILE,
    write_jvm_telemetry,
    write_telemetry,
)

__all__ = ["FIELDS", "JVM_FIELDS", "JVM_TELEMETRY_FILE", "TELEMETRY_FILE", "JvmSampler", "Sampler"]

log = logging.getLogger(__name__)

# A single Locust process cannot use more than one core; near that, it is the limit.
GENERATOR_BOUND_CORES = 0.9
MACHINE_SATURATED = 0.95
# Generator-bound when at least this share of the steady seconds (before the first fault)
# hit the limit: a mean would let a failover stall hide a pegged generator.
BOUND_SHARE = 0.5
# A telemetry part of its own: the generator's run-queue wait, in cores (not CPU used).
GENERATOR_WAIT = "generator.wait"
# Cores' worth of time the virtual machine's host ran something else (steal): counted in
# "machine" as busy, since the guest could not use it.
MACHINE_STEAL = "machine.steal"
_NOT_SERVERS = ("generator", GENERATOR_WAIT, "machine", MACHINE_STEAL)


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
        for schedstat in _thread_schedstats(proc.pid):
            try:
                total_ns += int(schedstat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended between listing and reading
    return total_ns / 1e9


def _thread_schedstats(pid: int) -> list[Path]:
    """Each thread's schedstat file; none for a process that ended (even while listed)."""
    try:
        return list(Path(f"/proc/{pid}/task").glob("*/schedstat"))
    except OSError:
        # The process ended between the tree's reading and this listing: Locust stopping
        # as the sampler ticks. Uncaught, it ended the telemetry thread.
        return []


def machine_times() -> tuple[float, float, float]:
    """(busy CPU seconds of all cores, steal seconds, monotonic time): busy as psutil's
    cpu_percent counts it (everything but idle and iowait, steal included)."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    busy = sum(times) - guest - idle
    return busy, getattr(times, "steal", 0.0), time.monotonic()


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
        self._machine_previous = machine_times()
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
        self._sample_machine(t_s)
        self._sample_generator_wait(t_s)

    def _sample_machine(self, t_s: float) -> None:
        """The machine's busy cores (steal included) and, apart, the cores stolen."""
        now, before = machine_times(), self._machine_previous
        self._machine_previous = now
        wall = max(now[2] - before[2], 1e-3)
        busy, stolen = (max(0.0, now[i] - before[i]) / wall for i in (0, 1))
        self.rows.append((t_s, "machine", round(busy, 3), 0))
        self.rows.append((t_s, MACHINE_STEAL, round(stolen, 3), 0))

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
        return write_telemetry(run_dir, self.rows)

    def summary(self, steady_until_s: float | None = None) -> dict[str, Any]:
        return summarize_samples(
            self.rows,
            psutil.cpu_count() or 1,
            generator_cores=self.generator_cores,
            steady_until_s=steady_until_s,
        )


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 3) if values else 0.0


def _unstolen(cores: float, parts: dict[str, float]) -> float:
    """What a process's CPU would have been had the VM's host not stolen time from it.

    Why: a hypervisor steals from busy vCPUs (an idle one is halted), so in a second when
    steal took a share r of the machine's busy time, a generator that wanted its whole core
    ran only (1 - r) of it; its own CPU and run-queue wait both miss the stolen time."""
    busy, stolen = parts.get("machine", 0.0), parts.get(MACHINE_STEAL, 0.0)
    share = min(stolen / busy, 0.9) if busy > 0 else 0.0
    return cores / (1 - share)


def _bound_seconds(
    rows: list[tuple[float, str, float, int]],
    cores: int,
    limit: float,
    steady_until_s: float | None,
) -> tuple[int, int]:
    """(seconds at the limit, steady seconds): each sampled second before the first fault
    (the first sample, start-up, left out) in which the generator's CPU, or its CPU plus
    its wait for one, reached the limit (time the VM's host stole given back), or the machine
    was saturated and the generator used at least as much CPU as all servers together."""
    seconds: dict[float, dict[str, float]] = {}
    for t_s, part, cpu, _ in rows:
        seconds.setdefault(t_s, {})[part] = cpu
    steady = sorted(t for t in seconds if steady_until_s is None or t <= steady_until_s)[1:]
    bound = 0
    for t_s in steady:
        parts = seconds[t_s]
        generator = _unstolen(parts.get("generator", 0.0), parts)
        servers = [v for k, v in parts.items() if k not in _NOT_SERVERS]
        saturated = parts.get("machine", 0.0) >= MACHINE_SATURATED * cores
        if (
            generator >= limit
            or generator + _unstolen(parts.get(GENERATOR_WAIT, 0.0), parts) >= limit
            or (saturated and bool(servers) and generator >= sum(servers))
        ):
            bound += 1
    return bound, len(steady)


def summarize_samples(
    rows: list[tuple[float, str, float, int]],
    cores: int,
    *,
    generator_cores: int = 1,
    steady_until_s: float | None = None,
) -> dict[str, Any]:
    """Mean CPU (in cores) per part; generator-bound if the generator, not the servers, was
    the limit in at least BOUND_SHARE of the steady seconds (those before the first fault,
    steady_until_s; all without one), judged second by second. generator_cores: how many
    cores the generator can use (its processes or threads); it is bound at
    GENERATOR_BOUND_CORES of each, or of the machine's cores."""
    by_part: dict[str, list[float]] = {}
    for _, part, cpu, _ in rows:
        by_part.setdefault(part, []).append(cpu)
    means = {part: _mean(values) for part, values in sorted(by_part.items())}
    generator = means.get("generator", 0.0)
    machine = means.get("machine", 0.0)
    # What the generator asked for: the CPU it got plus the time it waited for one.
    demand = round(generator + means.get(GENERATOR_WAIT, 0.0), 3)
    saturated = machine >= MACHINE_SATURATED * cores
    limit = round(GENERATOR_BOUND_CORES * min(generator_cores, cores), 3)
    bound, steady = _bound_seconds(rows, cores, limit, steady_until_s)
    share = round(bound / steady, 3) if steady else 0.0
    return {
        "cpu_cores_mean": means,
        "cores": cores,
        "generator_cores": generator_cores,
        # No steady second (a run shorter than its start-up): not judged, never "no".
        "generator_bound": share >= BOUND_SHARE if steady else None,
        "generator_bound_seconds": [bound, steady],
        "generator_bound_share": share,
        "generator_demand_cores": demand,
        "machine_saturated": saturated,
        "rule": (
            f"generator-bound: in >= {BOUND_SHARE:.0%} of the seconds before the first "
            f"fault, the generator used >= {limit:g} cores ({GENERATOR_BOUND_CORES} of each "
            f"of the {min(generator_cores, cores)} it can use; time the VM's host stole "
            "given back), or ran and waited for a CPU that long (shared machine), or the "
            f"machine was >= {MACHINE_SATURATED:.0%} "
            "busy and the generator used at least as much CPU as all servers together"
        ),
    }


# --------------------------------------------------------------------------- the JVMs


class _RejectionCounter:
    """Counts the Executor's rejections logged since sampling began, reading only new lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.count = 0

    def update(self) -> int:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return self.count
        if size < self.offset:
            self.offset = 0  # the log was replaced; count it from its start
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read(size - self.offset)
        # Only whole lines: a line being written now is counted on the next pass.
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(whole)
        self.count += whole.count(jvm.REJECTED.encode())
        return self.count


@dataclass
class JvmSampler(Periodic):
    """Each lab node's pool, heap and GC once a second, as the node read them itself
    (harness.cluster.readings): at each tick, the readings its listener wrote since.

    targets() is asked at every tick, so a node restarted by a fault (a new pid, a file of
    its own) is followed; a node down or stopped writes nothing: the gap is the signal.
    Only readings from the sampling's start on count (the lab wrote some before)."""

    targets: Callable[[], Mapping[str, jvm.NodeTarget]]
    start_epoch: float
    interval_s: float = 1.0
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    thread_name = "jvm-telemetry"

    def begin(self) -> None:
        self._lock = threading.Lock()
        self._rejections: dict[str, _RejectionCounter] = {}
        self._tails: dict[str, readings.Tail] = {}
        self._pids: dict[str, int] = {}  # the process each node's rows came from last
        for name, target in self.targets().items():
            self._follow(name, target).skip(target.pid)  # what the lab's start wrote
            self._pids[name] = target.pid

    def _follow(self, name: str, target: jvm.NodeTarget) -> readings.Tail:
        if name not in self._rejections:
            self._rejections[name] = _RejectionCounter(target.log)
        return self._tails.setdefault(name, readings.Tail(target.base))

    def tick(self) -> None:
        with self._lock:  # stop() takes the last readings while a tick may still run
            for name, target in self.targets().items():
                tail = self._follow(name, target)
                earlier = self._pids.get(name)
                if earlier is not None and earlier != target.pid:
                    # Restarted since the last tick: what the old process wrote before.
                    self._take(name, tail.new(earlier))
                self._pids[name] = target.pid
                self._take(name, tail.new(target.pid))

    def _take(self, name: str, lines: list[dict[str, Any]]) -> None:
        for reading in lines:
            if float(reading.get("t_ms", 0)) < self.start_epoch * 1000:
                continue
            error = reading.get("error")
            if error is None:
                try:
                    rejections = self._rejections[name].update()
                    row = jvm_row(name, reading, self.start_epoch, rejections)
                except (AttributeError, KeyError, TypeError, ValueError) as bad:
                    error = f"a reading the harness cannot read: {bad!r}"
            if error is not None:
                self.errors[name] = str(error)
                continue
            self.rows.append(row)
            self.errors.pop(name, None)

    def stop(self) -> None:
        super().stop()
        self.tick()  # what the nodes wrote since the last tick

    def write(self, run_dir: Path) -> Path:
        return write_jvm_telemetry(run_dir, self.rows)

    def summary(self) -> dict[str, Any]:
        return summarize_jvm(self.rows)


def jvm_row(
    node: str, reading: Mapping[str, Any], start_epoch: float, rejections: int | None
) -> tuple[Any, ...]:
    """One JvmProbe reading as a jvm_telemetry.csv row (empty where Tomcat tells nothing)."""
    pool = jvm.pool_from(dict(reading))
    heap = reading.get("heap", {})
    gc = jvm.gc_totals(jvm.collectors_from(dict(reading)))
    values: dict[str, Any] = {
        "t_s": round(float(reading["t_ms"]) / 1000 - start_epoch, 3),
        "node": node,
        "pool_current": pool.current_threads if pool else "",
        "pool_busy": pool.busy_threads if pool else "",
        "pool_max": pool.max_threads if pool else "",
        "queue_size": pool.queue_size if pool and pool.queue_size is not None else "",
        "rejections": "" if rejections is None else rejections,
        "heap_used_bytes": heap.get("used", ""),
        "heap_committed_bytes": heap.get("committed", ""),
        "heap_max_bytes": heap.get("max", ""),
        **gc,
        "live_threads": reading.get("live_threads", ""),
        "sessions": jvm.sessions_from(dict(reading)),
    }
    return tuple("" if values[f] is None else values[f] for f in JVM_FIELDS)


def summarize_jvm(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Per node over the run: peak busy/current threads and queue, rejections, peak heap,
    and the GCs (count and time) that happened between its first and last reading."""
    index = {name: i for i, name in enumerate(JVM_FIELDS)}
    by_node: dict[str, list[tuple[Any, ...]]] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        by_node.setdefault(row[index["node"]], []).append(row)
    out: dict[str, Any] = {}
    for node, mine in sorted(by_node.items()):

        def peak(field_name: str, mine: list[tuple[Any, ...]] = mine) -> Any:
            values = [r[index[field_name]] for r in mine if r[index[field_name]] != ""]
            return max(values) if values else None

        def delta(field_name: str, mine: list[tuple[Any, ...]] = mine) -> Any:
            values = [r[index[field_name]] for r in mine if r[index[field_name]] != ""]
            # A restart starts the JVM's counters again from zero.
            return sum(b - a if b >= a else b for a, b in itertools.pairwise(values))

        out[node] = {
            "samples": len(mine),
            "pool_max": peak("pool_max"),
            "busy_threads_peak": peak("pool_busy"),
            "current_threads_peak": peak("pool_current"),
            "queue_peak": peak("queue_size"),
            "rejections": peak("rejections"),
            "heap_used_peak_bytes": peak("heap_used_bytes"),
            "heap_max_bytes": peak("heap_max_bytes"),
            "young_gc_count": delta("young_gc_count"),
            "young_gc_time_ms": delta("young_gc_time_ms"),
            "old_gc_count": delta("old_gc_count"),
            "old_gc_time_ms": delta("old_gc_time_ms"),
        }
    return out
