"""One storebench: every phase in order, each phase's raw rows written as soon as taken.

results/<UTC>-storebench/
  run.json          manifest; "complete": false (and "incomplete": why) if a phase failed
  cells.jsonl       Python-client cells, one JSON object each, with its HDR histogram
  native.jsonl      redis-benchmark and memaslap cells
  memory.json       bytes per session by layout
  restart.json      what survived each restart or kill
  e2e.json, e2e/    end-to-end rows and each bench's own results folder
  servers/          the stores' configs and logs (no password: it lives only in 0600 files)
  claims.json       the guide's claims, judged
  report.html       plotly, self-contained

A store that dies mid-run stops the run with one line naming it; what was measured
until then stays, run.json says "complete": false, and the report shows the rest.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

from harness import commands
from harness.cluster.endpoints import Endpoint
from harness.cluster.lab import stores
from harness.cluster.lab.processes import LabError
from harness.cluster.lab.topology import check_net
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.run_folder import STOREBENCH_SCHEMA, manifest, write_manifest
from harness.storebench import cells, e2e, memory, native, restart
from harness.storebench.claims import CLAIMS_FILE, CONTROL, judge
from harness.storebench.servers import MemcachedServer, RedisServer, Running, Server, StoreDied

log = logging.getLogger(__name__)

KB, MB = 1024, 1024 * 1024
DEFAULT_SIZES = (KB, 10 * KB, 100 * KB, 500 * KB, MB)
DEFAULT_CONNS = (1, 8, 32)
PHASES = ("cells", "native", "memory", "restart", "e2e")
WINDOW_BYTES = 64 * MB  # per size and op: the keys a raw cell cycles through
# Largest item: a 1 MB value plus its key and item header exceeds memcached's 1 MB default.
MEMCACHED_ITEM_SIZE = "2m"
MEMCACHED_MEMORY_MB = 2048


@dataclass(frozen=True)
class StorebenchPlan:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    conns: tuple[int, ...] = DEFAULT_CONNS
    cell_ops: int = 20_000
    cell_seconds: float = 1.2
    native_ops: int = 20_000
    native_bytes: int = 200 * MB  # a native cell moves at most this much: big values, fewer ops
    sessions: int = 100_000
    restart_sessions: int = 10_000
    redis_instances: int = 2  # the native cells also run on two instances: the remedy
    memcached_threads: int = 4  # memcached's own default
    e2e_strategies: tuple[str, ...] = tuple(e2e.STRATEGIES)
    e2e_sizes: tuple[int, ...] = (KB, 10 * KB, 100 * KB)
    e2e_duration_s: float = 6.0
    e2e_users: int = 10
    phases: tuple[str, ...] = PHASES
    net: str = "127.0.70"
    results_dir: Path = RESULTS_DIR

    def __post_init__(self) -> None:
        check_net(self.net)
        for name in ("sizes", "conns", "e2e_sizes"):
            values = getattr(self, name)
            if any(v < 1 for v in values):
                raise ValueError(f"--{name.replace('_', '-')}: every value must be >= 1")
        if max(self.sizes, default=0) > MB:
            raise ValueError("--sizes: at most 1 MB (memcached's item limit here is 2 MB)")
        if max(self.e2e_sizes, default=0) > MB:
            raise ValueError("--e2e-sizes: session.jsp keeps at most 1 MB")
        unknown = set(self.phases) - set(PHASES)
        if unknown:
            raise ValueError(f"--phases: unknown {', '.join(sorted(unknown))}; one of {PHASES}")
        unknown = set(self.e2e_strategies) - set(e2e.STRATEGIES)
        if unknown:
            raise ValueError(f"--e2e-strategies: unknown {', '.join(sorted(unknown))}")
        if not 1 <= self.redis_instances <= 8:
            raise ValueError("--redis-instances: 1 to 8")
        if self.cell_ops < 1 or self.cell_seconds <= 0 or self.sessions < 1:
            raise ValueError("--cell-ops, --cell-seconds and --sessions must be positive")
        if self.restart_sessions < 1:
            # 0 of 0 intact would "prove" every restart claim.
            raise ValueError("--restart-sessions: at least 1")

    def native_n(self, size: int) -> int:
        return max(200, min(self.native_ops, self.native_bytes // size))

    def steps(self) -> int:
        """Units of progress: one per raw cell, memory layout, restart case, e2e bench."""
        raw = len(self.sizes) * len(self.conns) * 2
        counts = {
            "cells": raw * 2,
            "native": raw * 2 + (self.redis_instances > 1) * len(self.sizes) * 2 * 2,
            "memory": len(memory.LAYOUTS),
            "restart": len(restart.CASES),
            "e2e": len(self.e2e_strategies) * len(self.e2e_sizes),
        }
        return sum(counts[p] for p in self.phases)

    def addresses(self) -> dict[str, Endpoint]:
        return {
            "redis": Endpoint(f"{self.net}.30", 6379),
            "memcached": Endpoint(f"{self.net}.31", 11211),
            "restart-redis": Endpoint(f"{self.net}.32", 6379),
            "restart-memcached": Endpoint(f"{self.net}.33", 11211),
        }


class ProgressCounter:
    """Progress: a description and one tick per finished unit of work."""

    def __init__(self, show: Callable[[str, int], None]) -> None:
        self._show = show
        self.done = 0

    def text(self, text: str) -> None:
        self._show(text, self.done)

    def tick(self, text: str) -> None:
        self.done += 1
        self._show(text, self.done)


@dataclass
class Outcome:
    run_dir: Path
    complete: bool
    error: str | None
    verdicts: list[dict[str, Any]]
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as out:
        out.write(json.dumps(row) + "\n")


def _write_json(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps(rows, indent=2) + "\n")


def _raw_servers(plan: StorebenchPlan, folder: Path) -> tuple[list[RedisServer], MemcachedServer]:
    at = plan.addresses()
    redis_servers = [
        RedisServer(
            f"redis{i or ''}",
            folder / f"redis{i or ''}",
            Endpoint(at["redis"].address, at["redis"].port + i),
        )
        for i in range(plan.redis_instances)
    ]
    mem = MemcachedServer(
        "memcached",
        folder / "memcached",
        at["memcached"],
        memory_mb=MEMCACHED_MEMORY_MB,
        threads=plan.memcached_threads,
        item_size=MEMCACHED_ITEM_SIZE,
    )
    return redis_servers, mem


def _flush(servers: Sequence[Server]) -> None:
    """Between sizes, so memory holds one size's keys at a time (not timed)."""
    for server in servers:
        if isinstance(server, RedisServer):
            with server.client() as conn:
                conn.flushall()
        else:
            client = server.client()
            try:
                client.flush_all(noreply=False)
            finally:
                client.close()


@dataclass
class _Context:
    """What every phase needs: the plan, the folder, progress, the servers and the rows."""

    plan: StorebenchPlan
    run_dir: Path
    step: ProgressCounter
    running: Running
    data: dict[str, list[dict[str, Any]]]
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def add(self, phase: str, row: dict[str, Any]) -> None:
        """Keep the row and write it out at once, so a failure later loses nothing."""
        self.data[phase].append(row)
        if phase in ("cells", "native"):
            _append_jsonl(self.run_dir / f"{phase}.jsonl", row)
        else:
            _write_json(self.run_dir / f"{phase}.json", self.data[phase])


def _phase_cells(ctx: _Context, redis_servers: list[RedisServer], mem: MemcachedServer) -> None:
    plan, first = ctx.plan, redis_servers[0]
    for size in plan.sizes:
        value = cells.payload(size)
        window = cells.window_keys(size, WINDOW_BYTES)
        cells.prewrite([first, mem], size, window, value)
        for conns in plan.conns:
            for op in ("set", "get"):
                for store, server in (("redis", first), ("memcached", mem)):
                    spec = cells.CellSpec(
                        store, op, size, conns, plan.cell_ops, plan.cell_seconds, window
                    )
                    ctx.step.text(f"Python clients: {spec.label}")
                    ctx.add("cells", cells.run_cell(spec, [server], value))
                    ctx.step.tick(f"Python clients: {spec.label}")
        _flush([first, mem])


def _phase_native(ctx: _Context, redis_servers: list[RedisServer], mem: MemcachedServer) -> None:
    k = len(redis_servers)
    for size in ctx.plan.sizes:
        value = cells.payload(size)
        keyspace = cells.window_keys(size, WINDOW_BYTES)
        n = ctx.plan.native_n(size)
        for conns in ctx.plan.conns:
            for op in ("set", "get"):
                label = f"{op.upper()} {cells.human_size(size)} x{conns}"
                shape = native.Shape(op=op, size=size, conns=conns, n=n)
                ctx.step.text(f"redis-benchmark {label}")
                ctx.add(
                    "native",
                    native.run_redis_benchmark(
                        redis_servers[:1], keyspace=keyspace, value=value, **shape
                    ),
                )
                ctx.step.tick(f"redis-benchmark {label}")
                if k > 1 and conns == max(ctx.plan.conns):
                    # The remedy, and its control: k tool processes against one instance.
                    for servers, store in (
                        (redis_servers[:1], CONTROL),
                        (redis_servers, f"redis-x{k}"),
                    ):
                        ctx.add(
                            "native",
                            native.run_redis_benchmark(
                                servers,
                                keyspace=keyspace,
                                value=value,
                                store=store,
                                processes=k,
                                **shape,
                            ),
                        )
                        ctx.step.tick(f"redis-benchmark {store} {label}")
                ctx.step.text(f"memaslap {label}")
                ctx.add(
                    "native", native.run_memaslap(mem, work_dir=ctx.run_dir / "servers", **shape)
                )
                ctx.step.tick(f"memaslap {label}")
        _flush([*redis_servers, mem])


def _phase_raw(ctx: _Context) -> None:
    redis_servers, mem = _raw_servers(ctx.plan, ctx.run_dir / "servers")
    every: list[Server] = [*redis_servers, mem]
    for server in every:
        ctx.step.text(f"starting {server.name} on {server.endpoint}")
        ctx.running.start(server)
    ctx.settings = {
        "redis": redis_servers[0].settings(),
        "memcached": mem.settings(),
        "redis_instances": [str(s.endpoint) for s in redis_servers],
    }
    ctx.versions |= {"redis": redis_servers[0].version(), "memcached": mem.version()}
    if "cells" in ctx.plan.phases:
        _phase_cells(ctx, redis_servers, mem)
    if "native" in ctx.plan.phases:
        _phase_native(ctx, redis_servers, mem)
    ctx.running.stop_all()


def _phase_memory(ctx: _Context) -> None:
    at = ctx.plan.addresses()
    ctx.step.text(f"memory: {ctx.plan.sessions} sessions per layout")
    rows = memory.run_memory(
        ctx.run_dir / "memory",
        at["redis"],
        at["memcached"],
        ctx.plan.sessions,
        memcached_threads=ctx.plan.memcached_threads,
        running=ctx.running,
    )
    for row in rows:
        ctx.add("memory", row)
        ctx.step.tick("memory")


def _phase_restart(ctx: _Context) -> None:
    at = ctx.plan.addresses()
    for case in restart.CASES:
        ctx.step.text(f"restart: {case.name}")
        where = at["restart-redis"] if case.store == "redis" else at["restart-memcached"]
        ctx.add(
            "restart",
            restart.run_case(
                case, ctx.run_dir / "restart", where, ctx.plan.restart_sessions, ctx.running
            ),
        )
        ctx.step.tick(f"restart: {case.name}")


def _phase_e2e(ctx: _Context) -> None:
    plan = ctx.plan
    for strategy in plan.e2e_strategies:
        for size in plan.e2e_sizes:
            for row in e2e.run_e2e(
                net=plan.net,
                directory=ctx.run_dir / "e2e",
                strategies=[strategy],
                sizes=[size],
                duration_s=plan.e2e_duration_s,
                users=plan.e2e_users,
                progress=ctx.step.text,
            ):
                ctx.add("e2e", row)
                if row.get("stopped"):
                    raise KeyboardInterrupt  # the run's documents keep the rows so far
            ctx.step.tick(f"end to end: {strategy}")


def _check_commands(plan: StorebenchPlan) -> None:
    """The servers are needed; a missing native tool costs only its cells, which say so."""
    commands.require(stores.REDIS_SERVER)
    commands.require(stores.MEMCACHED)
    if "native" in plan.phases:
        for message in commands.missing([native.REDIS_BENCHMARK, native.MEMASLAP]):
            log.warning("%s; its native cells are not measured", message)


def _tool_versions() -> dict[str, str]:
    versions = {}
    try:
        versions["redis-benchmark"] = subprocess.run(
            [native.REDIS_BENCHMARK, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        versions["redis-benchmark"] = "missing"
    tool = native.memaslap_path()
    if tool:
        done = subprocess.run([tool, "-V"], capture_output=True, text=True, check=False)
        versions["memaslap"] = f"{Path(tool).name} {done.stdout.strip()}"
    versions |= {
        "redis-py": version("redis"),
        "hiredis": version("hiredis"),
        "pymemcache": version("pymemcache"),
    }
    return versions


def run_storebench(plan: StorebenchPlan, step: ProgressCounter) -> Outcome:
    run_dir = new_run_dir("storebench", plan.results_dir)
    started = time.time()
    ctx = _Context(plan, run_dir, step, Running(), {phase: [] for phase in PHASES})
    error: str | None = None
    _write_manifest(ctx, started, complete=False, error="running (or interrupted)")
    try:
        _check_commands(plan)
        ctx.versions = _tool_versions()
        if {"cells", "native"} & set(plan.phases):
            _phase_raw(ctx)
        if "memory" in plan.phases:
            _phase_memory(ctx)
        if "restart" in plan.phases:
            _phase_restart(ctx)
        if "e2e" in plan.phases:
            _phase_e2e(ctx)
    except (StoreDied, LabError, RuntimeError, OSError) as failure:
        error = f"{type(failure).__name__}: {failure}".splitlines()[0]
        log.debug("storebench stopped: %s", error, exc_info=True)
    except KeyboardInterrupt:
        error = "interrupted"
        raise
    finally:
        ctx.running.stop_all()
        _clean(run_dir)
        verdicts = judge(**ctx.data, redis_instances=plan.redis_instances)
        (run_dir / CLAIMS_FILE).write_text(json.dumps(verdicts, indent=2) + "\n")
        _write_manifest(ctx, started, complete=error is None, error=error, verdicts=verdicts)
    return Outcome(run_dir, error is None, error, verdicts, ctx.data)


def _clean(run_dir: Path) -> None:
    """redis.conf holds the run's password: results keep no copy of it. The e2e labs'
    Tomcat bases and the restart cases' data files are bulk; their logs are kept."""
    shutil.rmtree(run_dir / "e2e" / "lab", ignore_errors=True)
    for pattern in ("redis.conf", "lab.json", "*.rdb"):
        for path in run_dir.rglob(pattern):
            path.unlink(missing_ok=True)
    for aof in run_dir.rglob("aof"):
        shutil.rmtree(aof, ignore_errors=True)


def _plan_json(plan: StorebenchPlan) -> dict[str, Any]:
    data = asdict(plan)
    data["results_dir"] = str(plan.results_dir)
    data["native_ops_by_size"] = {str(s): plan.native_n(s) for s in plan.sizes}
    return data


def _write_manifest(
    ctx: _Context,
    started: float,
    *,
    complete: bool,
    error: str | None,
    verdicts: list[dict[str, Any]] | None = None,
) -> None:
    plan, run_dir = ctx.plan, ctx.run_dir
    data = manifest(
        run_id=run_dir.name,
        start_epoch=started,
        end_epoch=time.time(),
        # Its own document, not a bench run: readers of runs refuse it by its schema.
        schema=STOREBENCH_SCHEMA,
        schema_version=1,
        kind="storebench",
        complete=complete,
        incomplete=error,
        plan=_plan_json(plan),
        servers=ctx.settings,
        versions=ctx.versions,
        fairness=[
            "each raw cell runs Redis and memcached back to back, same size, op, concurrency",
            "server CPU per op from the server process (psutil user+system), both stores",
            "native tools single-threaded (redis-benchmark default, memaslap -T 1)",
            f"memcached -I {MEMCACHED_ITEM_SIZE} (default 1 MB would refuse a 1 MB value), "
            f"-m {MEMCACHED_MEMORY_MB}, -t {plan.memcached_threads}",
            "GET keys written before timing; a miss is counted, never timed",
            f"machine shared: {os.cpu_count()} cores; load average at start "
            f"{os.getloadavg()[0]:.2f}",
        ],
        files={
            "cells": "cells.jsonl",
            "native": "native.jsonl",
            "memory": "memory.json",
            "restart": "restart.json",
            "e2e": "e2e.json",
            "claims": CLAIMS_FILE,
            "report": "report.html",
        },
        verdicts=verdicts or [],
    )
    write_manifest(run_dir, data)


def load_data(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The raw rows of a storebench folder (missing files: phases not run)."""

    def jsonl(name: str) -> list[dict[str, Any]]:
        path = run_dir / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def whole(name: str) -> list[dict[str, Any]]:
        path = run_dir / name
        return cast(list[dict[str, Any]], json.loads(path.read_text())) if path.exists() else []

    return {
        "cells": jsonl("cells.jsonl"),
        "native": jsonl("native.jsonl"),
        "memory": whole("memory.json"),
        "restart": whole("restart.json"),
        "e2e": whole("e2e.json"),
    }
