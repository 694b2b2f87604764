"""Session stores: redis-server (address and password) and memcached (address only)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster.endpoints import Endpoint
from harness.cluster.lab.processes import ProcessRecord, start
from harness.cluster.lab.render import render_to
from harness.cluster.lab.topology import NodeSpec

if TYPE_CHECKING:
    import redis

REDIS_SERVER = "/usr/bin/redis-server"
MEMCACHED = "/usr/bin/memcached"
MSM_MANAGER = "de.javakaffee.web.msm.MemcachedBackupSessionManager"
# Non-sticky requests to the counter page lock their session in memcached, so two
# nodes never load and write back the same session at once (health.jsp has none).
MSM_LOCKING_MODE = r"uriPattern:/session\.jsp.*"


SENTINEL_MASTER = "tomcat-bench"


def prepare_redis(
    directory: Path,
    endpoint: Endpoint,
    password: str,
    *,
    replicated: bool = False,
    replica_of: Endpoint | None = None,
) -> Path:
    """redis.conf in directory; replicated: one of a Sentinel's pair (replica_of: the
    master this one starts as a replica of)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "redis.conf"
    render_to(
        config,
        "redis.conf.j2",
        mode=0o600,
        redis={
            "address": endpoint.address,
            "port": endpoint.port,
            "password": password,
            "dir": directory,
            "replicated": replicated,
            "replica_of": replica_of,
        },
    )
    return config


def start_redis(
    directory: Path, config: Path, endpoint: Endpoint, name: str = "redis"
) -> ProcessRecord:
    return start(
        name,
        [REDIS_SERVER, str(config)],
        log_path=directory / f"{name}.log",
        endpoints=(endpoint,),
    )


def prepare_sentinel(
    directory: Path, endpoint: Endpoint, master: Endpoint, password: str, replica: Endpoint
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sentinel.conf"
    render_to(
        config,
        "sentinel.conf.j2",
        mode=0o600,
        sentinel={
            "address": endpoint.address,
            "port": endpoint.port,
            "password": password,
            "dir": directory,
            "master_name": SENTINEL_MASTER,
            "master": master,
            "replica": replica,
        },
    )
    return config


def start_sentinel(directory: Path, config: Path, endpoint: Endpoint) -> ProcessRecord:
    # redis-server in Sentinel mode: Debian's redis-sentinel is this same binary.
    return start(
        "sentinel",
        [REDIS_SERVER, str(config), "--sentinel"],
        log_path=directory / "sentinel.log",
        endpoints=(endpoint,),
    )


def sentinel_master(endpoint: Endpoint, password: str) -> Endpoint | None:
    """The master Sentinel names now (None if it does not answer)."""
    reply = _ask(endpoint, password, lambda c: c.sentinel_get_master_addr_by_name(SENTINEL_MASTER))
    if not isinstance(reply, tuple):
        return None
    host, port = reply
    return Endpoint(host.decode() if isinstance(host, bytes) else str(host), int(port))


def sentinel_ready(sentinel: Endpoint, replica: Endpoint, password: str) -> bool:
    """Sentinel names a master and knows the replica it would promote: before that, a
    killed master would have no successor."""
    if sentinel_master(sentinel, password) is None:
        return False
    replicas = _ask(sentinel, password, lambda c: c.sentinel_slaves(SENTINEL_MASTER)) or []
    return any(
        r.get("ip") == replica.address and not r.get("is_sdown") and not r.get("is_disconnected")
        for r in replicas
        if isinstance(r, dict)
    )


def replica_in_sync(endpoint: Endpoint, password: str) -> bool:
    """The replica has its master's data and follows it (master_link_status:up)."""
    info = _ask(endpoint, password, lambda c: c.info("replication")) or {}
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def client(endpoint: Endpoint, password: str) -> redis.Redis:
    # Imported here: redis-py costs 0.06 s at every lab command's start, and only a lab
    # with Redis asks it anything.
    import redis  # noqa: PLC0415

    return redis.Redis(
        host=endpoint.address, port=endpoint.port, password=password, socket_timeout=2
    )


def _ask(endpoint: Endpoint, password: str, question: Callable[[redis.Redis], Any]) -> Any:
    """The store's reply to one question; None when it does not answer."""
    import redis  # noqa: PLC0415 (see client)

    try:
        return question(client(endpoint, password))
    except redis.RedisError:
        return None


def redis_ready(endpoint: Endpoint, password: str) -> bool:
    return bool(_ask(endpoint, password, lambda c: c.ping()))


def redis_version(endpoint: Endpoint, password: str) -> str:
    return str(client(endpoint, password).info("server")["redis_version"])


def start_memcached(
    name: str,
    directory: Path,
    endpoint: Endpoint,
    *,
    memory_mb: int = 64,
    threads: int = 2,
    item_size: str | None = None,
    extra: tuple[str, ...] = (),
) -> ProcessRecord:
    """memcached in the foreground, TCP on one loopback address only (-U 0: no UDP).

    item_size raises the largest item (-I, e.g. "2m"; memcached's default is 1 MB
    including the item's header, so a 1 MB value needs more)."""
    argv = [MEMCACHED, "-l", endpoint.address, "-p", str(endpoint.port), "-U", "0"]
    # Two worker threads are plenty for the lab and leave the 2 cores to the JVMs.
    argv += ["-m", str(memory_mb), "-t", str(threads)]
    if item_size:
        argv += ["-I", item_size]
    argv += list(extra)
    if os.geteuid() == 0:
        # memcached refuses to run as root; it drops to nobody after binding.
        argv += ["-u", "nobody"]
    return start(name, argv, log_path=directory / f"{name}.log", endpoints=(endpoint,))


def memcached_ready(endpoint: Endpoint) -> bool:
    return memcached_version(endpoint) is not None


def memcached_version(endpoint: Endpoint) -> str | None:
    """The server's version from the text protocol, or None while it cannot answer."""
    try:
        with socket.create_connection((endpoint.address, endpoint.port), timeout=1) as conn:
            conn.sendall(b"version\r\n")
            reply = conn.recv(128).decode("ascii", errors="replace")
    except OSError:
        return None
    # "VERSION 1.6.18\r\n"
    if not reply.startswith("VERSION "):
        return None
    return reply.split()[1]


def msm_settings(
    *,
    sticky: bool,
    memcached: dict[str, Endpoint],
    nodes: list[NodeSpec],
    locking_mode: str | None = None,
    backup_async: bool | None = None,
) -> dict[str, Any]:
    """memcached-session-manager's settings, rendered into context.xml and the manifest;
    locking_mode and backup_async: a profile's [sessions.msm], None for the lab's own."""
    names = list(memcached)
    settings: dict[str, Any] = {
        "kind": "memcached-sticky" if sticky else "memcached-nonsticky",
        "manager": MSM_MANAGER,
        "sticky": sticky,
        # msm's syntax: id:host:port, comma separated.
        "memcached_nodes": ",".join(f"{name}:{ep}" for name, ep in memcached.items()),
        "transcoder": "java serialization (msm default)",
        # Written before the reply leaves, so an acknowledged update survives a kill.
        "session_backup_async": bool(backup_async),
        "request_uri_ignore_pattern": r".*\.(ico|png|gif|jpg|css|js)$",
        # msm locks only non-sticky sessions: a sticky one lives on its node.
        "locking_mode": None if sticky else locking_mode or MSM_LOCKING_MODE,
        "failover_nodes": {},
    }
    if sticky:
        # node1 sits beside memA, node2 beside memB. msm's guide: a Tomcat stores its
        # sessions primarily in the memcached on the OTHER machine and names its
        # neighbour as failoverNode, used only while the others are down; so a machine
        # failure (Tomcat + its memcached) never takes both copies of a session.
        settings["failover_nodes"] = {
            node.name: names[i % len(names)] for i, node in enumerate(nodes)
        }
    return settings
