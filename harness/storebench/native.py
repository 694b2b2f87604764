"""The stores' own load tools: redis-benchmark, and memaslap from libmemcached-tools.

They are written in C, so their numbers belong to the servers, not to a Python client.
Each tool runs single-threaded (redis-benchmark's default; memaslap -T 1), one cell at a
time, and the server's CPU is read from its process around the run. Their quirks:

- redis-benchmark's -d sizes only the values it SETs; a GET reads whatever its keys
  hold, and a missing key is a cheap nil. So before a GET cell the harness writes every
  key of the keyspace (-r) at the cell's size itself, and counts misses from the
  server's own keyspace_misses.
- memaslap writes a warm-up window (conns x at least 1k keys: -w takes only "Nk", and
  a plain number is refused) before any GET, and counts those writes in its Ops, TPS
  and run time. The harness samples memcached's `stats` (cmd_get) and CPU every 10 ms
  and takes throughput and CPU per GET from the GET phase alone. A window larger than
  memcached's memory would turn GETs into misses: such cells are skipped, and say why.
- memcslap (the other tool in the package) has no value-size option; it is not used.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from harness import commands
from harness.storebench.servers import (
    MemcachedServer,
    RedisServer,
    StoreDied,
    check_alive,
    cpu_seconds,
)

log = logging.getLogger(__name__)

REDIS_BENCHMARK = "redis-benchmark"
MEMASLAP = "memcaslap"  # memaslap, as Debian's libmemcached-tools names it
MEMASLAP_MIN_WINDOW = 1024  # keys per connection: "-w 1k" is the smallest it accepts
# A memaslap GET window may fill this share of memcached's memory before eviction looms.
WINDOW_MEMORY_SHARE = 0.6
ITEM_OVERHEAD_BYTES = 100  # item header + key, roughly, for the window estimate
SAMPLE_S = 0.01  # a `stats` call costs the server ~50 us: 0.5% of a core at this rate
TOOL_TIMEOUT_S = 120.0


class Shape(TypedDict):
    """One native cell: command, value size, connections, requests."""

    op: str
    size: int
    conns: int
    n: int


def memaslap_path() -> str | None:
    return commands.path_of(MEMASLAP)


def _base_row(tool: str, store: str, *, op: str, size: int, conns: int, n: int) -> dict[str, Any]:
    return {
        "tool": tool,
        "store": store,
        "op": op,
        "size": size,
        "conns": conns,
        "requested_ops": n,
        "skipped": None,
    }


# --------------------------------------------------------------------------- redis-benchmark


def redis_keyspace_prewrite(server: RedisServer, keyspace: int, size: int, value: bytes) -> None:
    """The keys redis-benchmark -r K reads: key:000000000000 .. key:<K-1>, 12 digits."""
    with server.client() as conn:
        for start in range(0, keyspace, 64):
            pipe = conn.pipeline(transaction=False)
            for i in range(start, min(start + 64, keyspace)):
                pipe.set(f"key:{i:012d}", value)
            pipe.execute()


def parse_redis_benchmark_csv(text: str) -> dict[str, float]:
    rows = list(csv.DictReader(io.StringIO(text.strip())))
    if len(rows) != 1:
        raise ValueError(f"redis-benchmark: expected one CSV row, got {len(rows)}: {text!r}")
    return {k: float(v) for k, v in rows[0].items() if k != "test"}


def _redis_benchmark_argv(
    server: RedisServer, *, op: str, size: int, conns: int, n: int, keyspace: int
) -> list[str]:
    return [
        REDIS_BENCHMARK,
        "-h",
        server.endpoint.address,
        "-p",
        str(server.endpoint.port),
        "-a",
        server.password,
        "-t",
        op,
        "-d",
        str(size),
        "-c",
        str(conns),
        "-n",
        str(n),
        "-r",
        str(keyspace),
        "--csv",
        "--precision",
        "3",
    ]


def run_redis_benchmark(
    servers: Sequence[RedisServer],
    *,
    op: str,
    size: int,
    conns: int,
    n: int,
    keyspace: int,
    value: bytes,
    store: str = "redis",
    processes: int = 1,
) -> dict[str, Any]:
    """`processes` redis-benchmarks at once, process j against servers[j % len(servers)],
    connections and requests split between them. Several instances (the guide's remedy
    for a single-threaded Redis) are compared with as many tool processes against one
    instance, so the gain is the servers', not the extra client process's."""
    row = _base_row("redis-benchmark", store, op=op, size=size, conns=conns, n=n)
    k = max(processes, len(servers))
    if conns < k:
        row["skipped"] = f"{conns} connections cannot spread over {k} processes"
        return row
    if commands.path_of(REDIS_BENCHMARK) is None:
        row["skipped"] = commands.missing_message(REDIS_BENCHMARK)
        return row
    if op == "get":
        for server in servers:
            redis_keyspace_prewrite(server, keyspace, size, value)
    before = [int(s.info("stats")["keyspace_misses"]) for s in servers]
    cpu_before = sum(cpu_seconds(s.record) for s in servers if s.record)
    began = time.perf_counter()
    procs = [
        subprocess.Popen(
            _redis_benchmark_argv(
                servers[j % len(servers)],
                op=op,
                size=size,
                conns=conns // k,
                n=n // k,
                keyspace=keyspace,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for j in range(k)
    ]
    outputs = [proc.communicate(timeout=TOOL_TIMEOUT_S) for proc in procs]
    seconds = time.perf_counter() - began
    for server in servers:
        check_alive(server, f"redis-benchmark {op} {size} B x{conns}")
    cpu = sum(cpu_seconds(s.record) for s in servers if s.record) - cpu_before
    for proc, (_, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"redis-benchmark exited {proc.returncode}: {err.strip()[-300:]}")
    parsed = [parse_redis_benchmark_csv(out) for out, _ in outputs]
    misses = sum(int(s.info("stats")["keyspace_misses"]) for s in servers) - sum(before)
    done = (n // k) * k
    row |= {
        "ops": done - (misses if op == "get" else 0),
        "misses": misses if op == "get" else 0,
        "errors": 0,
        "seconds": round(seconds, 4),
        # Concurrent processes: their rates add up.
        "ops_per_s": round(sum(p["rps"] for p in parsed), 1),
        # Requests split evenly between the processes: their means average.
        "mean_us": round(statistics.mean(p["avg_latency_ms"] for p in parsed) * 1000, 1),
        **_percentiles(parsed),
        "max_us": round(max(p["max_latency_ms"] for p in parsed) * 1000, 1),
        "server_cpu_s": round(cpu, 4),
        "server_cpu_us_per_op": round(cpu / done * 1e6, 2),
        "server_cores": round(cpu / seconds, 3),
        "keyspace": keyspace,
        "instances": len(servers),
        "processes": k,
        "note": "GET keys written beforehand at this size" if op == "get" else "",
    }
    return row


def _percentiles(parsed: Sequence[dict[str, float]]) -> dict[str, Any]:
    """One process: its percentiles. Several: redis-benchmark prints no histogram, and the
    percentiles of parts do not merge (the max of two p99s is no p99 of the whole), so
    the cell says so and keeps each process's own."""
    if len(parsed) == 1:
        (only,) = parsed
        return {
            "p50_us": round(only["p50_latency_ms"] * 1000, 1),
            "p99_us": round(only["p99_latency_ms"] * 1000, 1),
        }
    return {
        "p50_us": None,
        "p99_us": None,
        "percentiles": "not merged: redis-benchmark gives no histogram to merge",
        "p50_us_per_process": [round(p["p50_latency_ms"] * 1000, 1) for p in parsed],
        "p99_us_per_process": [round(p["p99_latency_ms"] * 1000, 1) for p in parsed],
    }


# --------------------------------------------------------------------------- memaslap


def memaslap_config(size: int) -> str:
    """memaslap's -F file: fixed 32-byte keys, fixed-size values, one command."""
    return f"key\n32 32 1\nvalue\n{size} {size} 1\ncmd\n0 {{set}}\n1 {{get}}\n"


_STAT_LINE = re.compile(r"^\s+(Min|Max|Avg|Std):\s+([\d.]+)", re.M)
_COUNTER = re.compile(r"^(cmd_get|cmd_set|get_misses): (\d+)", re.M)
_RUN = re.compile(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)")


def parse_memaslap(text: str, op: str) -> dict[str, float]:
    """Counters, the final run line, and the latency block of `op` (microseconds)."""
    parsed: dict[str, float] = {k: float(v) for k, v in _COUNTER.findall(text)}
    run = _RUN.search(text)
    if run is None or "cmd_get" not in parsed:
        raise ValueError(f"memaslap: unexpected output: {text[-400:]!r}")
    parsed |= {"run_s": float(run[1]), "tool_ops": float(run[2]), "tool_tps": float(run[3])}
    title = "Get Statistics" if op == "get" else "Set Statistics"
    block = text.split(title, 1)
    if len(block) == 2:
        section = block[1].split("Statistics", 1)[0]
        parsed |= {f"{k.lower()}_us": float(v) for k, v in _STAT_LINE.findall(section)}
    return parsed


@dataclass
class _StatsSampler:
    """Samples (time, cmd_get, server CPU) while memaslap runs, to find its GET phase."""

    server: MemcachedServer
    samples: list[tuple[float, int, int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def run(self) -> None:
        assert self.server.record is not None
        while not self._stop.is_set():
            try:
                stats = self.server.stats()
                cpu = cpu_seconds(self.server.record)
            except (OSError, StoreDied) as error:
                self.error = str(error)
                return
            self.samples.append(
                (time.perf_counter(), int(stats["cmd_get"]), int(stats["get_misses"]), cpu)
            )
            self._stop.wait(SAMPLE_S)

    def stop(self) -> None:
        self._stop.set()


def get_phase(samples: list[tuple[float, int, int, float]]) -> dict[str, float] | None:
    """Rates over the samples in which GETs were being served (after the warm-up)."""
    if len(samples) < 2:
        return None
    base = samples[0][1]
    started = next((i for i, s in enumerate(samples) if s[1] > base), None)
    if started is None:
        return None
    first, last = samples[started], samples[-1]
    gets = last[1] - first[1]
    seconds = last[0] - first[0]
    if gets <= 0 or seconds <= 0:
        return None
    return {
        "gets": gets,
        "misses": last[2] - first[2],
        "seconds": seconds,
        "cpu_s": last[3] - first[3],
    }


def window_fits(server: MemcachedServer, size: int, conns: int) -> bool:
    window_bytes = conns * MEMASLAP_MIN_WINDOW * (size + ITEM_OVERHEAD_BYTES)
    return window_bytes <= WINDOW_MEMORY_SHARE * server.memory_mb * (1 << 20)


def run_memaslap(
    server: MemcachedServer, *, op: str, size: int, conns: int, n: int, work_dir: Path
) -> dict[str, Any]:
    row = _base_row("memaslap", "memcached", op=op, size=size, conns=conns, n=n)
    tool = memaslap_path()
    if tool is None:
        row["skipped"] = commands.missing_message(MEMASLAP)
        return row
    if op == "get" and not window_fits(server, size, conns):
        row["skipped"] = (
            f"memaslap's smallest key window ({conns} x 1k keys of {size} B) exceeds "
            f"{WINDOW_MEMORY_SHARE:.0%} of memcached's -m {server.memory_mb} MB: its GETs "
            "would be misses"
        )
        return row
    config = work_dir / f"memaslap-{op}-{size}.cfg"
    config.write_text(
        memaslap_config(size).format(
            set="1.0" if op == "set" else "0.0", get="1.0" if op == "get" else "0.0"
        )
    )
    argv = [
        tool,
        "-s",
        str(server.endpoint),
        "-F",
        str(config),
        "-T",
        "1",
        "-c",
        str(conns),
        "-x",
        str(n),
        "-w",
        "1k",
        "-S",
        "3600s",
    ]
    assert server.record is not None
    sampler = _StatsSampler(server)
    thread = threading.Thread(target=sampler.run, name="memcached-stats", daemon=True)
    stats_before = server.stats()
    cpu_before = cpu_seconds(server.record)
    thread.start()
    began = time.perf_counter()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    finally:
        seconds = time.perf_counter() - began
        sampler.stop()
        thread.join()
    check_alive(server, f"memaslap {op} {size} B x{conns}")
    cpu = cpu_seconds(server.record) - cpu_before
    stats_after = server.stats()
    if done.returncode != 0:
        raise RuntimeError(f"memaslap exited {done.returncode}: {done.stdout.strip()[-300:]}")
    parsed = parse_memaslap(done.stdout, op)
    row |= {"tool_tps": parsed["tool_tps"], "tool_ops": parsed["tool_ops"]}
    # memaslap prints mean, min and max (no percentiles) in microseconds.
    row |= {"mean_us": parsed.get("avg_us"), "min_us": parsed.get("min_us")}
    row["max_us"] = parsed.get("max_us")
    if op == "set":
        sets = int(stats_after["cmd_set"]) - int(stats_before["cmd_set"])
        row |= {
            "ops": sets,
            "misses": 0,
            "errors": max(0, n - sets),
            "seconds": round(seconds, 4),
            "ops_per_s": round(sets / seconds, 1),
            "server_cpu_s": round(cpu, 4),
            "server_cpu_us_per_op": round(cpu / sets * 1e6, 2) if sets else None,
            "server_cores": round(cpu / seconds, 3),
            "note": "",
        }
        return row
    phase = get_phase(sampler.samples)
    misses = int(stats_after["get_misses"]) - int(stats_before["get_misses"])
    gets = int(stats_after["cmd_get"]) - int(stats_before["cmd_get"])
    note = (
        "throughput and CPU/op from the GET phase only (memaslap's own TPS counts "
        "its warm-up writes)"
    )
    if phase is None:
        # The GET phase ended between two stats samples (a busy machine delays the
        # sampler): fall back to the whole run, warm-up writes included, and say so.
        phase = {"gets": gets, "seconds": seconds, "cpu_s": cpu}
        note = (
            "GET phase too short to sample apart from memaslap's warm-up writes: over the "
            "whole run, throughput is a lower bound and CPU/op an upper one (raise --native-ops)"
        )
    row |= {
        "ops": gets - misses,
        "misses": misses,
        "errors": max(0, n - gets),
        "seconds": round(phase["seconds"], 4),
        "ops_per_s": round(phase["gets"] / phase["seconds"], 1),
        "server_cpu_s": round(phase["cpu_s"], 4),
        "server_cpu_us_per_op": (
            round(phase["cpu_s"] / phase["gets"] * 1e6, 2) if phase["gets"] else None
        ),
        "server_cores": round(phase["cpu_s"] / phase["seconds"], 3),
        "warmup_sets": int(stats_after["cmd_set"]) - int(stats_before["cmd_set"]),
        "note": note,
    }
    return row
