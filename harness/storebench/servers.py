"""The two stores under test, started by the storebench on its own loopback addresses.

Redis is set up as the lab's stores.py does (protected-mode, one loopback address, a
password generated per run and never written to results); persistence is an option
here, because "Redis persists" is one of the claims. memcached gets a larger memory
and item size than the lab's, so 1 MB values fit (-I) and key windows are not evicted.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from pymemcache.client.base import Client as MemcacheClient

from harness.cluster.endpoints import Endpoint
from harness.cluster.lab import stores
from harness.cluster.lab.processes import (
    LabError,
    ProcessRecord,
    kill,
    start,
    stop,
    wait_until,
)

log = logging.getLogger(__name__)

PERSISTENCE = ("none", "rdb", "aof")
# Appended to the lab's redis.conf: a later directive overrides an earlier one.
_PERSISTENCE_LINES = {
    "none": [],
    # With a save point configured, Redis writes an RDB snapshot when it shuts down.
    "rdb": ['save "3600 1"', "dbfilename sessions.rdb"],
    "aof": ["appendonly yes", "appendfsync everysec", 'appenddirname "aof"'],
}
START_TIMEOUT_S = 20.0


class StoreDied(RuntimeError):
    """A store's process is gone in the middle of a measurement."""


def cpu_seconds(record: ProcessRecord) -> float:
    """User + system CPU of the server process, of its running children, and of the
    children it has already reaped (Redis's BGSAVE and AOF-rewrite forks end quickly: the
    kernel adds their CPU to the parent's children_user/children_system)."""
    proc = record.process()
    if proc is None:
        raise StoreDied(f"{record.name} (pid {record.pid}) died: no longer running")
    total = 0.0
    for member in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def rss_bytes(record: ProcessRecord) -> int:
    proc = record.process()
    if proc is None:
        raise StoreDied(f"{record.name} (pid {record.pid}) died: no longer running")
    return int(proc.memory_info().rss)


class _StoreProcess:
    """Running, stopping and killing a store's process, from its record once started."""

    record: ProcessRecord | None

    def running(self) -> bool:
        return self.record is not None and self.record.process() is not None

    def stop(self) -> None:
        """SIGTERM, then up to 30 s: Redis saves an RDB (if a save point is set) or fsyncs
        its AOF first."""
        if self.record is not None:
            stop(self.record, grace=30)

    def kill(self) -> None:
        if self.record is not None and self.running():
            kill(self.record, signal.SIGKILL)


@dataclass
class RedisServer(_StoreProcess):
    name: str
    directory: Path
    endpoint: Endpoint
    persistence: str = "none"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    # More redis.conf lines (a replica's replicaof/masterauth); never recorded in results.
    extra_config: tuple[str, ...] = field(default=(), repr=False)
    record: ProcessRecord | None = None

    def __post_init__(self) -> None:
        if self.persistence not in PERSISTENCE:
            raise ValueError(f"persistence {self.persistence!r}: one of {', '.join(PERSISTENCE)}")

    @property
    def kind(self) -> str:
        return "redis"

    def start(self) -> RedisServer:
        config = stores.prepare_redis(self.directory, self.endpoint, self.password)
        with config.open("a") as out:
            out.write("# storebench: persistence " + self.persistence + "\n")
            out.writelines(line + "\n" for line in _PERSISTENCE_LINES[self.persistence])
            out.writelines(line + "\n" for line in self.extra_config)
        self.record = start(
            self.name,
            [stores.REDIS_SERVER, str(config)],
            log_path=self.directory / f"{self.name}.log",
            endpoints=(self.endpoint,),
        )
        wait_until(
            self.record,
            lambda: stores.redis_ready(self.endpoint, self.password),
            timeout=START_TIMEOUT_S,
            what=f"PING {self.endpoint}",
        )
        return self

    def client(self, timeout: float = 10.0) -> redis.Redis:
        # One connection per client object is what a "connection" means in a cell.
        return redis.Redis(
            host=self.endpoint.address,
            port=self.endpoint.port,
            password=self.password,
            socket_timeout=timeout,
            single_connection_client=True,
        )

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as conn:
            return dict(conn.info(section))

    def version(self) -> str:
        return str(self.info("server")["redis_version"])

    def settings(self) -> dict[str, Any]:
        return {
            "address": str(self.endpoint),
            "persistence": self.persistence,
            "config_added": _PERSISTENCE_LINES[self.persistence],
            "protected_mode": True,
            "requirepass": "generated per run, not recorded",
        }


@dataclass
class MemcachedServer(_StoreProcess):
    name: str
    directory: Path
    endpoint: Endpoint
    memory_mb: int = 2048
    threads: int = 2
    item_size: str = "2m"
    # memcached >= 1.5.18 keeps its items across a restart when given a memory file
    # (-e) and stopped with SIGUSR1: the "warm restart".
    memory_file: Path | None = None
    record: ProcessRecord | None = None

    @property
    def kind(self) -> str:
        return "memcached"

    def start(self) -> MemcachedServer:
        extra = ("-e", str(self.memory_file)) if self.memory_file else ()
        self.record = stores.start_memcached(
            self.name,
            self.directory,
            self.endpoint,
            memory_mb=self.memory_mb,
            threads=self.threads,
            item_size=self.item_size,
            extra=extra,
        )
        wait_until(
            self.record,
            lambda: stores.memcached_ready(self.endpoint),
            timeout=START_TIMEOUT_S,
            what=f"`version` on {self.endpoint}",
        )
        return self

    def client(self, timeout: float = 10.0) -> MemcacheClient:
        # no_delay: without TCP_NODELAY a large SET waits on Nagle + delayed ACK (~40 ms).
        return MemcacheClient(
            (self.endpoint.address, self.endpoint.port),
            no_delay=True,
            connect_timeout=timeout,
            timeout=timeout,
        )

    def stats(self, *args: str) -> dict[str, str]:
        """`stats` (or `stats slabs`) over the text protocol, values as the server wrote them."""
        command = " ".join(("stats", *args)).encode() + b"\r\n"
        with socket.create_connection(
            (self.endpoint.address, self.endpoint.port), timeout=5
        ) as conn:
            conn.sendall(command)
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    raise StoreDied(f"{self.name}: connection closed during {command!r}")
                data += chunk
        result = {}
        for line in data.decode().splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                result[parts[1]] = parts[2]
        return result

    def version(self) -> str:
        return stores.memcached_version(self.endpoint) or "unknown"

    def stop_warm(self) -> None:
        """SIGUSR1: memcached writes its memory file's metadata and exits (warm restart)."""
        if self.record is None or self.memory_file is None:
            raise LabError(f"{self.name}: a warm restart needs a memory file (-e)")
        proc = self.record.process()
        if proc is None:
            return
        proc.send_signal(signal.SIGUSR1)
        psutil.wait_procs([proc], timeout=30)
        stop(self.record)  # reaps it; a no-op if it already exited

    def settings(self) -> dict[str, Any]:
        return {
            "address": str(self.endpoint),
            "memory_mb": self.memory_mb,
            "threads": self.threads,
            "item_size_limit": self.item_size,
            "why_item_size": "-I raised from memcached's 1 MB default so a 1 MB value "
            "(plus its item header) fits",
            "memory_file": str(self.memory_file) if self.memory_file else None,
        }


Server = RedisServer | MemcachedServer


def check_alive(server: Server, doing: str) -> None:
    if not server.running():
        raise StoreDied(f"{server.name} at {server.endpoint} died during {doing}")


@dataclass
class Running:
    """Every store this run started, so an error or Ctrl-C anywhere stops them all."""

    servers: list[Server] = field(default_factory=list)

    def start(self, server: Server) -> Server:
        self.servers.append(server)
        server.start()
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
