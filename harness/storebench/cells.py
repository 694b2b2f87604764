"""Raw cells with the Python clients: SET or GET of one size at one concurrency.

Each connection is a thread with its own client (redis-py with hiredis, or pymemcache
with no_delay and replies awaited) and its own HDR histogram in microseconds; they are
merged at the end. A GET that finds nothing is a miss: counted, never timed. An
exception is an error: counted, and if the server process is gone the cell stops with
StoreDied. Every cell is bounded both in operations and in seconds.

The server's CPU per operation comes from the server process (psutil, before and
after); the client's from this process. Python's GIL makes 32 threads one core at
most, so client-side throughput at high concurrency measures the client library.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psutil
from hdrh.histogram import HdrHistogram

from harness.storebench.servers import (
    MemcachedServer,
    RedisServer,
    Server,
    check_alive,
    cpu_seconds,
)

# 1 us to 60 s at 3 significant digits.
HDR_RANGE = (1, 60_000_000, 3)
PERCENTILES = ((50.0, "p50_us"), (90.0, "p90_us"), (99.0, "p99_us"), (99.9, "p999_us"))
# A cell gives up after this many errors in a row (a dead or wedged server).
MAX_CONSECUTIVE_ERRORS = 20
CLIENTS = {"redis": "redis-py + hiredis", "memcached": "pymemcache (no_delay, noreply=False)"}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(*HDR_RANGE)


def window_keys(size: int, window_bytes: int) -> int:
    """How many distinct keys a cell cycles through: enough to avoid one hot key, few
    enough that the whole window stays in the server's memory (no eviction misses)."""
    return max(16, min(1000, window_bytes // size))


@dataclass(frozen=True)
class CellSpec:
    store: str  # "redis", "memcached", or "redis-x2" for several Redis instances
    op: str  # "set" or "get"
    size: int
    conns: int
    max_ops: int
    max_seconds: float
    window: int

    @property
    def label(self) -> str:
        return f"{self.store} {self.op.upper()} {human_size(self.size)} x{self.conns}"


def human_size(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KB"
    return f"{size} B"


# An operation returns True for a hit (or a stored SET), False for a miss.
Operation = Callable[[bytes], bool]


def _redis_ops(
    server: RedisServer, value: bytes
) -> tuple[Operation, Operation, Callable[[], None]]:
    conn = server.client()

    def do_set(key: bytes) -> bool:
        return bool(conn.set(key, value))

    def do_get(key: bytes) -> bool:
        got = cast(bytes | None, conn.get(key))
        if got is None:
            return False
        if len(got) != len(value):
            raise ValueError(f"GET returned {len(got)} bytes, expected {len(value)}")
        return True

    return do_set, do_get, conn.close


def _memcached_ops(
    server: MemcachedServer, value: bytes
) -> tuple[Operation, Operation, Callable[[], None]]:
    conn = server.client()

    def do_set(key: bytes) -> bool:
        # noreply=False: wait for STORED, as redis-py waits for +OK.
        return bool(conn.set(key, value, noreply=False))

    def do_get(key: bytes) -> bool:
        got = conn.get(key)
        if got is None:
            return False
        if len(got) != len(value):
            raise ValueError(f"GET returned {len(got)} bytes, expected {len(value)}")
        return True

    return do_set, do_get, conn.close


def operations(server: Server, value: bytes) -> tuple[Operation, Operation, Callable[[], None]]:
    if isinstance(server, RedisServer):
        return _redis_ops(server, value)
    return _memcached_ops(server, value)


def key(spec: CellSpec, i: int) -> bytes:
    return f"sb:{spec.op}:{spec.size}:{i % spec.window}".encode()


def prewrite(servers: Sequence[Server], size: int, window: int, value: bytes) -> None:
    """Write every key a GET cell will read, on every instance, before it is timed."""
    keys = [f"sb:get:{size}:{i}".encode() for i in range(window)]
    for server in servers:
        if isinstance(server, RedisServer):
            with server.client() as conn:
                for start in range(0, window, 64):
                    pipe = conn.pipeline(transaction=False)
                    for k in keys[start : start + 64]:
                        pipe.set(k, value)
                    pipe.execute()
        else:
            client = server.client()
            try:
                for start in range(0, window, 64):
                    failed = client.set_many(
                        dict.fromkeys(keys[start : start + 64], value), noreply=False
                    )
                    if failed:
                        raise RuntimeError(f"{server.name}: prewrite failed for {len(failed)} keys")
            finally:
                client.close()


@dataclass
class _Worker:
    histogram: HdrHistogram
    misses: int = 0
    errors: int = 0
    first_error: str | None = None
    gave_up: bool = False


def _work(
    spec: CellSpec,
    server: Server,
    *,
    value: bytes,
    quota: int,
    offset: int,
    start: threading.Barrier,
    deadline: list[float],
    worker: _Worker,
) -> None:
    do_set, do_get, close = operations(server, value)
    op = do_set if spec.op == "set" else do_get
    record = worker.histogram.record_value
    consecutive = 0
    try:
        start.wait()
        end = deadline[0]
        for i in range(offset, offset + quota):
            k = key(spec, i)
            began = time.perf_counter_ns()
            try:
                hit = op(k)
            except Exception as error:  # every failure is counted
                worker.errors += 1
                worker.first_error = worker.first_error or f"{type(error).__name__}: {error}"
                consecutive += 1
                if consecutive >= MAX_CONSECUTIVE_ERRORS or not server.running():
                    worker.gave_up = True
                    return
                continue
            elapsed_us = (time.perf_counter_ns() - began) // 1000
            consecutive = 0
            if hit:
                record(max(1, elapsed_us))
            else:
                worker.misses += 1
            if time.monotonic() > end:
                return
    finally:
        close()


def _client_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def run_cell(spec: CellSpec, servers: Sequence[Server], value: bytes) -> dict[str, Any]:
    """Measure one cell; connection i talks to servers[i % len(servers)]."""
    for server in servers:
        check_alive(server, spec.label)
    workers = [_Worker(new_histogram()) for _ in range(spec.conns)]
    start = threading.Barrier(spec.conns + 1)
    deadline = [0.0]
    quotas = [
        spec.max_ops // spec.conns + (i < spec.max_ops % spec.conns) for i in range(spec.conns)
    ]
    threads = [
        threading.Thread(
            target=_work,
            args=(spec, servers[i % len(servers)]),
            kwargs={
                "value": value,
                "quota": quotas[i],
                "offset": i * 7919,
                "start": start,
                "deadline": deadline,
                "worker": w,
            },
            name=f"cell-{i}",
            daemon=True,
        )
        for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    server_before = sum(cpu_seconds(s.record) for s in servers if s.record)
    client_before = _client_cpu()
    deadline[0] = time.monotonic() + spec.max_seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(timeout=spec.max_seconds + 60)
    seconds = time.perf_counter() - began
    client_cpu = _client_cpu() - client_before
    for server in servers:
        check_alive(server, spec.label)
    server_cpu = sum(cpu_seconds(s.record) for s in servers if s.record) - server_before
    return summarize(spec, workers, seconds, server_cpu, client_cpu)


def summarize(
    spec: CellSpec, workers: Sequence[_Worker], seconds: float, server_cpu: float, client_cpu: float
) -> dict[str, Any]:
    merged = new_histogram()
    for worker in workers:
        merged.add(worker.histogram)
    hits = merged.get_total_count()
    done = hits + sum(w.misses for w in workers)  # operations answered by the server
    row: dict[str, Any] = {
        "store": spec.store,
        "client": CLIENTS["redis" if spec.store.startswith("redis") else "memcached"],
        "op": spec.op,
        "size": spec.size,
        "conns": spec.conns,
        "window_keys": spec.window,
        "ops": hits,
        "misses": sum(w.misses for w in workers),
        "errors": sum(w.errors for w in workers),
        "first_error": next((w.first_error for w in workers if w.first_error), None),
        "seconds": round(seconds, 4),
        "ops_per_s": round(hits / seconds, 1) if seconds > 0 else 0.0,
        "mb_per_s": round(hits * spec.size / seconds / 1e6, 2) if seconds > 0 else 0.0,
        "mean_us": round(merged.get_mean_value(), 1) if hits else None,
        "max_us": merged.get_max_value() if hits else None,
        "server_cpu_s": round(server_cpu, 4),
        "server_cpu_us_per_op": round(server_cpu / done * 1e6, 2) if done else None,
        "client_cpu_s": round(client_cpu, 4),
        "client_cpu_us_per_op": round(client_cpu / done * 1e6, 2) if done else None,
        # HdrHistogram's own compressed base64 form: HdrHistogram.decode() reads it back.
        "hdr": merged.encode().decode("ascii") if hits else None,
    }
    for p, name in PERCENTILES:
        row[name] = merged.get_value_at_percentile(p) if hits else None
    return row


def payload(size: int) -> bytes:
    # Random bytes: neither store compresses, but a client library might.
    return os.urandom(size)
