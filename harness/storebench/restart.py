"""Restart and loss: put sessions into a store, restart or kill it, count what is left.

Each case starts a fresh server in its own folder, writes N sessions the way the
session managers do (Redis: one hash per session, as Redisson; memcached: one value
per session, as msm), stops the server as the case says, starts it again the same way
and counts the sessions that came back with their exact content.

Cases: Redis without persistence, with RDB (a save point set, so a SIGTERM writes a
snapshot) and with AOF (appendfsync everysec), each after a graceful stop; RDB and AOF
after a SIGKILL; a Redis replica promoted after its master is SIGKILLed (the guide's
"master-slave backup"); memcached after a graceful stop, and after a warm restart
(-e memory file in /dev/shm, stopped with SIGUSR1; memcached >= 1.5.18).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster.endpoints import Endpoint
from harness.cluster.lab.processes import LabError
from harness.storebench.memory import (
    batches,
    plain_value,
    session_attributes,
    session_key,
    write_sessions,
)
from harness.storebench.servers import MemcachedServer, RedisServer, Running, Server

REPLICA_SYNC_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Case:
    name: str
    store: str
    how: str  # what happened to the server, in words for the report


CASES = (
    Case("redis-none", "redis", "SIGTERM and start again, no persistence (the lab's config)"),
    Case("redis-rdb", "redis", "SIGTERM (writes an RDB snapshot) and start again"),
    Case("redis-aof", "redis", "SIGTERM and start again, appendonly yes, fsync everysec"),
    Case("redis-rdb-sigkill", "redis", "SIGKILL and start again, RDB save point only"),
    Case("redis-aof-sigkill", "redis", "SIGKILL and start again, appendonly yes"),
    Case("redis-replica", "redis", "master SIGKILLed; its replica promoted (REPLICAOF NO ONE)"),
    Case("memcached", "memcached", "SIGTERM and start again"),
    Case("memcached-warm", "memcached", "SIGUSR1 with -e memory file, start again (warm restart)"),
)


def write(server: Server, n: int) -> None:
    """As the session managers store sessions: Redisson a hash, msm one value."""
    write_sessions(server, "redis-hash" if isinstance(server, RedisServer) else "plain", n)


def count_intact(server: Server, n: int) -> int:
    """Sessions present with exactly the content written."""
    intact = 0
    if isinstance(server, RedisServer):
        with server.client(timeout=60) as conn:
            for batch in batches(n):
                pipe = conn.pipeline(transaction=False)
                for i in batch:
                    pipe.hgetall(session_key(i))
                for i, got in zip(batch, pipe.execute(), strict=True):
                    # redis-py returns field names as bytes.
                    intact += got == {k.encode(): v for k, v in session_attributes(i).items()}
        return intact
    client = server.client(timeout=60)
    try:
        for batch in batches(n):
            got = client.get_many([session_key(i) for i in batch])
            intact += sum(
                got.get(session_key(i)) == plain_value(session_attributes(i)) for i in batch
            )
    finally:
        client.close()
    return intact


def _wait_replica(master: RedisServer, replica: RedisServer) -> None:
    deadline = time.monotonic() + REPLICA_SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        offset = int(master.info("replication")["master_repl_offset"])
        info = replica.info("replication")
        if info.get("master_link_status") == "up" and int(info["slave_repl_offset"]) >= offset:
            return
        time.sleep(0.1)
    raise LabError(f"{replica.name} did not catch up with {master.name} within 15 s")


def _replica_case(case: Case, directory: Path, at: Endpoint, n: int, running: Running) -> int:
    master = RedisServer("redis-master", directory / "master", at)
    running.start(master)
    replica_at = Endpoint(at.address, at.port + 1)
    replica = RedisServer(
        "redis-replica",
        directory / "replica",
        replica_at,
        password=master.password,
        extra_config=(f"replicaof {at.address} {at.port}", f"masterauth {master.password}"),
    )
    running.start(replica)
    write(master, n)
    _wait_replica(master, replica)
    master.kill()
    running.stop(master)
    with replica.client() as conn:
        conn.execute_command("REPLICAOF", "NO", "ONE")
    survived = count_intact(replica, n)
    running.stop(replica)
    return survived


def _memcached_file(case: Case) -> Path | None:
    if case.name != "memcached-warm":
        return None
    # A tmpfs file, as memcached's docs advise; memcached (user nobody) must write it.
    return Path("/dev/shm") / f"tomcat-bench-storebench-{os.getpid()}.mem"  # noqa: S108


def run_case(case: Case, directory: Path, at: Endpoint, n: int, running: Running) -> dict[str, Any]:
    folder = directory / case.name
    if case.name == "redis-replica":
        survived = _replica_case(case, folder, at, n, running)
        return _row(case, n, survived)
    server: Server
    if case.store == "redis":
        persistence = case.name.split("-")[1]
        server = RedisServer(case.name, folder, at, persistence=persistence)
    else:
        memory_file = _memcached_file(case)
        server = MemcachedServer(case.name, folder, at, memory_mb=256, memory_file=memory_file)
    running.start(server)
    try:
        write(server, n)
        before = count_intact(server, n)
        _take_down(case, server)
        server.start()
        survived = count_intact(server, n)
    finally:
        running.stop(server)
        memory_file = getattr(server, "memory_file", None)
        if memory_file is not None:
            memory_file.unlink(missing_ok=True)
    row = _row(case, n, survived)
    row["present_before"] = before
    if isinstance(server, MemcachedServer) and server.memory_file is not None:
        # memcached says in its log why a warm restart did or did not restore items.
        log_text = (folder / f"{case.name}.log").read_text(errors="replace")
        row["server_says"] = [line for line in log_text.splitlines() if "[restart]" in line]
    return row


def _take_down(case: Case, server: Server) -> None:
    if case.name.endswith("sigkill"):
        server.kill()
    elif isinstance(server, MemcachedServer) and server.memory_file is not None:
        server.stop_warm()
    else:
        server.stop()


def _row(case: Case, n: int, survived: int) -> dict[str, Any]:
    return {
        "case": case.name,
        "store": case.store,
        "how": case.how,
        "sessions": n,
        "survived": survived,
        "survived_share": round(survived / n, 4) if n else None,
    }
