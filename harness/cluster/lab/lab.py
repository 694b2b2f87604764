"""The embedded lab: session store, Tomcat nodes and balancer on loopback, started as one.

Everything the lab starts is written to <run_dir>/lab.json the moment it starts,
so `lab down` (or the `finally` of a bench) can stop it by pid even after the
harness that started it crashed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import secrets
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import commands
from harness.cluster import https, jvm, probe_server
from harness.cluster.artifacts import Artifacts, catalina_home, find_artifacts, version_of
from harness.cluster.endpoints import Endpoint, get_json, is_listening
from harness.cluster.lab import (
    class_archive,
    compiled_jsps,
    haproxy,
    ipvs,
    l4hash,
    nginx,
    stores,
    tomcat,
)
from harness.cluster.lab.balancers import Balancer, balancer
from harness.cluster.lab.netfaults import (
    LabGroups,
    NetFaults,
    Side,
    member_of,
    remove_table,
    rules,
)
from harness.cluster.lab.node_start import start_cpu, start_parts
from harness.cluster.lab.processes import (
    LabError,
    ProcessRecord,
    ensure_free,
    grouped,
    kill,
    stop,
    thawed,
    wait_until,
)
from harness.cluster.lab.processes import start_again as start_process_again
from harness.cluster.lab.topology import Topology
from harness.config.faults import FaultSpec
from harness.config.profile import Profile
from harness.files import write_atomically

log = logging.getLogger(__name__)

STATE_FILE = "lab.json"
START_TIMEOUT_S = 90.0

# Stop order: the front first, so no request reaches a half-stopped back end.
_STOP_ORDER = ("nginx", "haproxy", "node", "sentinel", "redis", "mem")
SESSION_STORES = (
    "redis",
    "none",
    "memcached-sticky",
    "memcached-nonsticky",
    "replication",
    "redis-sentinel",
)
REDIS_STRATEGIES = ("redis", "redis-sentinel")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class LabState:
    """What lab.json holds: enough to stop, inspect and fault the running lab."""

    topology: dict[str, Any]
    profile: str
    balancer: str
    store: dict[str, Any]
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    # Each node's CPU to its first answer, and its JIT's part (node_start.py): what bounds
    # timings_s on a machine with few cores.
    start_cpu_s: dict[str, dict[str, float]] = field(default_factory=dict)
    # And the parts of each node's start, from its JVM's creation to its first page.
    start_parts_s: dict[str, dict[str, float]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    nft_table: str | None = None  # the L4 director's table, removed by down()
    groups: str | None = None  # the lab's cgroup folder (network faults), removed by down()
    net_table: str | None = None  # the network faults' nft table, removed by down()
    l4_director: dict[str, str] | None = None  # which L4 director ran (IPVS or nftables), why
    tls: dict[str, Any] | None = None  # HTTPS at the balancer: its settings and CA file

    def to_json(self) -> dict[str, Any]:
        return {
            "topology": self.topology,
            "profile": self.profile,
            "balancer": self.balancer,
            "store": self.store,
            "processes": {name: rec.to_json() for name, rec in self.processes.items()},
            "timings_s": self.timings_s,
            "start_cpu_s": self.start_cpu_s,
            "start_parts_s": self.start_parts_s,
            "versions": self.versions,
            "nft_table": self.nft_table,
            "l4_director": self.l4_director,
            "groups": self.groups,
            "net_table": self.net_table,
            "tls": self.tls,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        return cls(
            topology=data["topology"],
            profile=data["profile"],
            balancer=data.get("balancer", "nginx-rr"),
            store=data["store"],
            processes={
                name: ProcessRecord.from_json(rec) for name, rec in data["processes"].items()
            },
            timings_s=data.get("timings_s", {}),
            start_cpu_s=data.get("start_cpu_s", {}),
            start_parts_s=data.get("start_parts_s", {}),
            versions=data.get("versions", {}),
            nft_table=data.get("nft_table"),
            l4_director=data.get("l4_director"),
            groups=data.get("groups"),
            net_table=data.get("net_table"),
            tls=data.get("tls"),
        )


def _topology_json(topology: Topology) -> dict[str, Any]:
    return {
        "net": topology.net,
        "port": topology.port,
        "node_count": topology.node_count,
        "redis_port": topology.redis_port,
        "run_dir": str(topology.run_dir),
    }


def _class_archive(
    home: Path, artifacts: Artifacts, store: dict[str, Any], profile: Profile
) -> Path:
    classpath = tomcat.SystemClassPath.of(home, store, artifacts)
    return class_archive.archive_for(
        classpath.seen_by_jvm(), tomcat.profile_context(profile)["jvm_flags"]
    )


def starts_kept(topo: Topology, profile: Profile, sessions: str) -> bool:
    """Whether a lab of this profile and session store starts from what earlier labs kept:
    its class archive and the compiled JSPs (see warm.py)."""
    artifacts = find_artifacts()
    home = catalina_home(artifacts)
    archive = _class_archive(home, artifacts, _store_settings(sessions, topo, profile), profile)
    return archive.exists() and compiled_jsps.cache_for(home).exists()


def _store_settings(sessions: str, topo: Topology, profile: Profile) -> dict[str, Any]:
    """The session manager's settings, as rendered into the configs and kept in the
    manifest: the strategy's, with what the profile's [sessions.*] sets for its manager."""
    if sessions.startswith("memcached"):
        msm = profile.sessions.msm
        return stores.msm_settings(
            sticky=sessions == "memcached-sticky",
            memcached=topo.memcached,
            nodes=topo.nodes,
            locking_mode=msm.lockingMode,
            backup_async=msm.sessionBackupAsync,
        )
    if sessions == "replication":
        wanted = profile.sessions.replication
        return tomcat.replication_settings(
            topo.nodes, manager=wanted.manager, send_options=wanted.channelSendOptions
        )
    if sessions == "none":
        return {
            "kind": "none",
            "manager": "org.apache.catalina.session.StandardManager",
            "sticky": None,
            "persistent": False,
        }
    settings = {
        "kind": sessions,  # redis or redis-sentinel
        "manager": "org.redisson.tomcat.RedissonSessionManager",
        "read_mode": profile.sessions.redisson.readMode or "REDIS",
        "update_mode": profile.sessions.redisson.updateMode or "DEFAULT",
        "sticky": False,
        "key_prefix": "tomcat-bench",
        "address": topo.redis.address,
        "port": topo.redis.port,
        # Generated per lab, kept only in 0600 files under the run folder.
        "password": secrets.token_urlsafe(24),
        "sentinel": None,
    }
    if sessions == "redis-sentinel":
        # A master, its replica and one Sentinel that promotes the replica when the
        # master dies; Redisson finds the master through it.
        settings["replica"] = {"address": topo.redis_replica.address, "port": topo.redis_port}
        settings["sentinel"] = {
            "address": topo.sentinel.address,
            "port": topo.sentinel.port,
            "master_name": stores.SENTINEL_MASTER,
        }
    return settings


def _uses_memcached(store: dict[str, Any]) -> bool:
    return str(store["kind"]).startswith("memcached")


def _require_commands(lb: Balancer, sessions: str) -> None:
    """Before anything starts: a missing server is one line naming its package."""
    commands.require("java")
    if lb.kind == "nginx":
        commands.require("nginx")
    elif lb.kind == "haproxy":
        commands.require("haproxy")
    if sessions in REDIS_STRATEGIES:
        commands.require("redis-server")
    elif sessions.startswith("memcached"):
        commands.require("memcached")


def _sort_key(name: str) -> int:
    for rank, prefix in enumerate(_STOP_ORDER):
        if name.startswith(prefix):
            return rank
    return len(_STOP_ORDER)


class Lab:
    """One embedded lab in one run folder."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.run_dir = topology.run_dir
        self.state: LabState | None = None
        self._net: NetFaults | None = None

    # -- state -------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    def _save(self) -> None:
        assert self.state is not None
        write_atomically(self.state_path, json.dumps(self.state.to_json(), indent=2), mode=0o600)

    def record_profile(self, name: str) -> None:
        """`apply` changed the running nodes' profile: lab status and benches say so."""
        assert self.state is not None
        self.state.profile = name
        self._save()

    @classmethod
    def attach(cls, run_dir: Path) -> Lab:
        """The lab described by run_dir/lab.json (running or not)."""
        path = run_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabError(f"{path}: no lab was started here (run `lab up` first)") from None
        except json.JSONDecodeError as error:
            raise LabError(f"{path}: unreadable lab state: {error}") from None
        topo = data["topology"]
        lab = cls(
            Topology(
                net=topo["net"],
                port=topo["port"],
                node_count=topo["node_count"],
                redis_port=topo["redis_port"],
                run_dir=Path(topo["run_dir"]),
            )
        )
        lab.state = LabState.from_json(data)
        return lab

    @property
    def jmx_secrets_dir(self) -> Path:
        """The nodes' JMX password and access files (0600, generated per lab folder)."""
        return self.run_dir / "jmx"

    @property
    def entry_url(self) -> str:
        """Where users go: the balancer, over HTTPS when the profile's [tls] is on."""
        scheme = "https" if self.state is not None and self.state.tls else "http"
        return f"{scheme}://{self.topology.balancer}"

    @property
    def ca_file(self) -> Path | None:
        """The throwaway CA the balancer's certificate is verified against, if any."""
        if self.state is None or not self.state.tls:
            return None
        return Path(self.state.tls["ca_file"])

    @property
    def plain_url(self) -> str | None:
        """The balancer's plain-HTTP listener beside its HTTPS one (the TLS study's)."""
        if self.state is None or not self.state.tls or not self.state.tls.get("plain_port"):
            return None
        return f"http://{self.topology.balancer.address}:{self.state.tls['plain_port']}"

    def clear_net_faults(self) -> bool:
        """Remove every network fault's rules (their table); True if there was one."""
        assert self.state is not None
        removed = bool(self.state.net_table and remove_table(self.state.net_table))
        self.state.net_table = None
        self._net = None
        return removed

    def running(self) -> list[str]:
        if self.state is None:
            return []
        return [name for name, rec in self.state.processes.items() if rec.process() is not None]

    # -- up ----------------------------------------------------------------

    def up(
        self,
        profile: Profile,
        *,
        balancer_name: str = "nginx-rr",
        sessions: str = "redis",
        progress: Progress = _quiet,
        plain_port: int | None = None,
    ) -> LabState:
        """Start everything and wait until each part answers; on any failure stop it all.
        plain_port: with [tls], the balancer also serves plain HTTP there (the TLS study)."""
        lb = balancer(balancer_name)
        if sessions not in SESSION_STORES:
            raise ValueError(f"SESSIONS={sessions}: one of {', '.join(SESSION_STORES)}")
        if profile.tls.enabled and lb.kind not in ("nginx", "haproxy"):
            raise ValueError(
                f"profile {profile.name}: [tls] enabled: {lb.name} passes TCP through to the "
                "nodes' plain HTTP; TLS is terminated by nginx or haproxy (nginx-*, haproxy-*)"
            )
        self._refuse_if_running()
        _require_commands(lb, sessions)
        groups = LabGroups.for_net(self.topology.net)
        try:
            # Each server in a cgroup of its own, so a network fault can name its sockets.
            with grouped(groups.procs_file if groups else None):
                state = self._up(profile, lb, sessions, progress, plain_port)
            state.groups = str(groups.root) if groups else None
            self._save()
            return state
        except BaseException:
            self.down()
            if groups is not None:
                groups.remove()
            raise

    def _refuse_if_running(self) -> None:
        if not self.state_path.exists():
            return
        previous = Lab.attach(self.run_dir)
        alive = previous.running()
        if alive:
            raise LabError(
                f"{self.state_path}: a lab is already running here ({', '.join(alive)}); "
                "run `lab down` first"
            )

    def _up(
        self,
        profile: Profile,
        lb: Balancer,
        sessions: str,
        progress: Progress,
        plain_port: int | None,
    ) -> LabState:
        began = time.monotonic()
        topo = self.topology
        artifacts = find_artifacts()
        progress("unpacking Tomcat")
        home = catalina_home(artifacts)
        store = _store_settings(sessions, topo, profile)
        self.state = LabState(
            topology=_topology_json(topo), profile=profile.name, balancer=lb.name, store=store
        )
        self._check_ports_free(store["kind"])

        progress("rendering configs")
        redis_dir = self.run_dir / "redis"
        if sessions in REDIS_STRATEGIES:
            redis_configs = self._prepare_redis(redis_dir, sessions, store["password"])
        archive = _class_archive(home, artifacts, store, profile)
        jsps = compiled_jsps.cache_for(home)
        for node in topo.nodes:
            base = self.run_dir / node.name
            tomcat.prepare_base(
                node,
                base,
                home=home,
                artifacts=artifacts,
                profile=profile,
                store=store,
                shutdown_command=secrets.token_hex(16),
                # The last node records the archive: faults aim at node1 unless told.
                extra_flags=class_archive.node_flags(
                    archive, base, records=node.name == topo.nodes[-1].name
                ),
            )
            pages_kept = compiled_jsps.restore(jsps, base) > 0
        front_dir = self.run_dir / lb.kind
        front_config = self._prepare_front(lb, front_dir, profile, plain_port)

        progress("starting the session store and Tomcat nodes")
        if sessions in REDIS_STRATEGIES:
            self._start_redis(redis_dir, redis_configs)
        if _uses_memcached(store):
            for name, endpoint in topo.memcached.items():
                self._track(stores.start_memcached(name, self.run_dir / "memcached", endpoint))
        clustered = sessions == "replication"
        for i, node in enumerate(topo.nodes):
            record = tomcat.start_node(node, self.run_dir / node.name, home, clustered=clustered)
            self._track(record)
            if clustered and i == 0:
                # A member starting asks the first member for its sessions and waits
                # stateTransferTimeout (10 s) if that one's manager is not up yet: two
                # started at once made every replication lab 10 s slower. The others
                # start once the first answers.
                self.state.timings_s[node.name] = round(self._wait_node(node.name, node.http), 3)
                if not pages_kept:
                    self._share_compiled_pages()
        if sessions in REDIS_STRATEGIES:
            self._wait_redis(store["password"])
        if _uses_memcached(store):
            self._wait_memcached()
        progress("waiting for Tomcat nodes")
        self._wait_nodes(first_alone=not pages_kept and not clustered)
        compiled_jsps.keep(jsps, self.run_dir / topo.nodes[0].name)
        if clustered:
            progress("waiting for the cluster members to replicate to each other")
            self._wait_replication()

        progress(f"starting {lb.kind}")
        self._start_front(lb, front_dir, front_config)
        if self.state.tls:
            self._read_back_tls(self.state.tls)
        self.state.versions = self._versions(store, artifacts, lb)
        self.state.timings_s["up"] = round(time.monotonic() - began, 3)
        self._save()
        return self.state

    def swap_balancer(
        self, balancer_name: str, profile: Profile, *, plain_port: int | None = None
    ) -> float:
        """Put another balancer in front of the running nodes and store: the old front
        stopped, the new one rendered, started and seen reaching the nodes. Seconds taken."""
        assert self.state is not None
        began = time.monotonic()
        lb = balancer(balancer_name)
        _require_commands(lb, "none")
        if profile.tls.enabled and lb.kind not in ("nginx", "haproxy"):
            raise ValueError(f"profile {profile.name}: [tls] enabled: {lb.name} cannot run it")
        self._stop_front()
        self.state.balancer = lb.name
        self.state.tls = None
        ensure_free(self.topology.balancer, "balancer")
        groups = LabGroups(Path(self.state.groups)) if self.state.groups else None
        with grouped(groups.procs_file if groups else None):
            config = self._prepare_front(lb, self.run_dir / lb.kind, profile, plain_port)
            self._start_front(lb, self.run_dir / lb.kind, config)
        if self.state.tls:
            self._read_back_tls(self.state.tls)
        self._save()
        return time.monotonic() - began

    def _stop_front(self) -> None:
        """Stop the balancer (its process, or the L4 director's table or IPVS service)."""
        assert self.state is not None
        if self.state.nft_table:
            l4hash.remove(self.state.nft_table)
            self.state.nft_table = None
        if (self.state.l4_director or {}).get("kind") == "ipvs":
            ipvs.remove(self.topology.balancer)
        self.state.l4_director = None
        for kind in ("nginx", "haproxy"):
            record = self.state.processes.pop(kind, None)
            if record is not None and record.process() is not None:
                stop(record)
        self._save()

    def _prepare_front(
        self, lb: Balancer, directory: Path, profile: Profile, plain_port: int | None
    ) -> Path | None:
        """Render (and syntax-check) the balancer's config; the L4 table is made at start."""
        topo = self.topology
        https = self._prepare_tls(profile, plain_port)
        if lb.kind == "nginx":
            wanted = profile.balancer.nginx.model_dump()
            return nginx.prepare(
                directory, topo.balancer, topo.nodes, lb.nginx_balance, wanted,
                tls=https, plain_port=plain_port,
            )  # fmt: skip
        if lb.kind == "haproxy":
            wanted = profile.balancer.haproxy.model_dump()
            return haproxy.prepare(
                directory, topo.balancer, topo.nodes, lb, wanted, tls=https, plain_port=plain_port
            )
        return None

    def _prepare_tls(self, profile: Profile, plain_port: int | None) -> dict[str, Any] | None:
        """With [tls]: a throwaway CA and the balancer's certificate, recorded in the state."""
        assert self.state is not None
        if not profile.tls.enabled:
            return None
        # Imported here: cryptography costs 0.02 s at every lab command's start, and only a
        # lab with [tls] makes certificates.
        from harness.cluster.lab import tls  # noqa: PLC0415

        files = tls.make_certificates(self.run_dir / "tls", self.topology.balancer.address)
        settings = profile.tls.settings()
        self.state.tls = settings | {"ca_file": str(files.ca), "plain_port": plain_port}
        return settings | {
            "certificate": files.certificate,
            "key": files.key,
            "bundle": files.bundle,
        }

    def _start_front(self, lb: Balancer, directory: Path, config: Path | None) -> None:
        assert self.state is not None
        if config is None:
            self._start_l4_director(directory)
            return
        start_front = nginx.start_nginx if lb.kind == "nginx" else haproxy.start_haproxy
        self._track(start_front(directory, config, self.topology.balancer))
        wait_until(
            self.state.processes[lb.kind],
            self._all_nodes_behind_balancer,
            timeout=30,
            what=f"GET {self.entry_url}/health.jsp reaching every node",
        )

    def _start_l4_director(self, directory: Path) -> None:
        assert self.state is not None
        reason = ipvs.unavailable_reason()
        if reason is None:
            # LVS itself; recorded first, so a crash right after still lets down() remove it.
            self.state.l4_director = {"kind": "ipvs", "how": "ipvsadm -s sh -b sh-fallback, NAT"}
            self._save()
            ipvs.install(self.topology.balancer, self.topology.nodes)
            return
        self.state.l4_director = {
            "kind": "nftables",
            "how": f"nft DNAT to jhash ip saddr, seed {l4hash.SEED}, map of buckets",
            "why": f"no IPVS in this kernel (ipvsadm: {reason})",
        }
        table = l4hash.table_name(self.topology.net)
        # Recorded before it exists, so a crash right after still lets down() remove it.
        self.state.nft_table = table
        self._save()
        l4hash.install(directory, table, self.topology.balancer, self.topology.nodes)
        deadline = time.monotonic() + 10
        while self._front_health() is None:
            if time.monotonic() > deadline:
                raise LabError(f"nft table {table}: {self.topology.balancer} reaches no node")
            time.sleep(0.1)

    def _all_nodes_behind_balancer(self) -> bool:
        """haproxy marks servers up only after `rise` checks: wait until it routes to all."""
        seen = set()
        for _ in range(4 * self.topology.node_count):
            reply = self._front_health()
            if reply is None:
                return False
            seen.add(reply.get("node"))
        return len(seen) == self.topology.node_count or self._balancer_pins_by_source()

    def _read_back_tls(self, wanted: dict[str, Any]) -> None:
        """What the balancer's HTTPS offers, handshaken with, kept beside what was asked."""
        seen = https.read_back(self.entry_url, self.ca_file)
        wrong = https.mismatches(wanted, seen)
        for line in wrong:
            log.warning("the balancer's HTTPS is not what the profile asks: %s", line)
        wanted.update(in_effect=seen, mismatches=wrong)

    def _front_health(self) -> dict[str, Any] | None:
        """health.jsp through the balancer (its certificate verified), None while it fails."""
        try:
            return get_json(f"{self.entry_url}/health.jsp", ca_file=self.ca_file)
        except (OSError, ValueError):
            return None

    def _balancer_pins_by_source(self) -> bool:
        # A source-hash balancer sends all of this process's checks to one node.
        assert self.state is not None
        return balancer(self.state.balancer).sticky == "source address"

    def _check_ports_free(self, kind: str) -> None:
        topo = self.topology
        if kind.startswith("redis"):
            ensure_free(topo.redis, "redis")
            if kind == "redis-sentinel":
                ensure_free(topo.redis_replica, "redis-replica")
                ensure_free(topo.sentinel, "sentinel")
        if kind.startswith("memcached"):
            for name, endpoint in topo.memcached.items():
                ensure_free(endpoint, name)
        ensure_free(topo.balancer, "balancer")
        for node in topo.nodes:
            ensure_free(node.http, node.name)
            ensure_free(node.shutdown, f"{node.name} shutdown port")
            if kind == "replication":
                ensure_free(node.cluster, f"{node.name} cluster receiver")

    def _track(self, record: ProcessRecord) -> None:
        assert self.state is not None
        earlier = self.state.processes.get(record.name)
        if earlier is not None and earlier.log == record.log:  # started again: one log
            record = record.model_copy(update={"log_from": earlier.log_from})
        self.state.processes[record.name] = record
        self._save()

    def _prepare_redis(self, directory: Path, sessions: str, password: str) -> dict[str, Path]:
        """Each Redis server's config by its part name (redis; with Sentinel, its replica
        and the Sentinel too), each in a folder of its own: Sentinel rewrites its file."""
        topo = self.topology
        if sessions == "redis":
            return {"redis": stores.prepare_redis(directory, topo.redis, password)}
        return {
            "redis": stores.prepare_redis(directory, topo.redis, password, replicated=True),
            "redis-replica": stores.prepare_redis(
                directory / "replica",
                topo.redis_replica,
                password,
                replicated=True,
                replica_of=topo.redis,
            ),
            "sentinel": stores.prepare_sentinel(
                directory / "sentinel", topo.sentinel, topo.redis, password, topo.redis_replica
            ),
        }

    def _start_redis(self, directory: Path, configs: dict[str, Path]) -> None:
        topo = self.topology
        endpoints = {"redis": topo.redis, "redis-replica": topo.redis_replica}
        for name, config in configs.items():
            if name == "sentinel":
                self._track(stores.start_sentinel(config.parent, config, topo.sentinel))
            else:
                self._track(stores.start_redis(config.parent, config, endpoints[name], name))

    def _wait_redis(self, password: str) -> None:
        assert self.state is not None
        topo = self.topology
        began = time.monotonic()
        processes = self.state.processes
        checks = [
            ("redis", lambda: stores.redis_ready(topo.redis, password), f"PING {topo.redis}"),
        ]
        if "sentinel" in processes:
            checks += [
                (
                    "redis-replica",
                    lambda: stores.replica_in_sync(topo.redis_replica, password),
                    f"{topo.redis_replica} in sync with {topo.redis}",
                ),
                (
                    "sentinel",
                    lambda: stores.sentinel_ready(topo.sentinel, topo.redis_replica, password),
                    f"Sentinel {topo.sentinel} watching {topo.redis} and its replica",
                ),
            ]
        for name, ready, what in checks:
            wait_until(processes[name], ready, timeout=20, what=what)
        self.state.timings_s["redis"] = round(time.monotonic() - began, 3)

    def _wait_memcached(self) -> None:
        assert self.state is not None
        for name, endpoint in self.topology.memcached.items():
            waited = wait_until(
                self.state.processes[name],
                functools.partial(stores.memcached_ready, endpoint),
                timeout=20,
                what=f"`version` on {endpoint}",
            )
            self.state.timings_s[name] = round(waited, 3)

    def _wait_replication(self) -> None:
        """Until a session made on node1 is read on every other node: the members see
        each other, so the first bench requests don't race the cluster's membership."""
        assert self.state is not None
        first, *others = self.topology.nodes
        began = time.monotonic()
        for other in others:
            wait_until(
                self.state.processes[other.name],
                functools.partial(tomcat.replicates, first, other),
                timeout=60,
                what=f"a session from {first.name} replicated to {other.name}",
            )
        self.state.timings_s["cluster"] = round(time.monotonic() - began, 3)

    def _wait_node(self, name: str, endpoint: Endpoint) -> float:
        assert self.state is not None
        waited = wait_until(
            self.state.processes[name],
            lambda: tomcat.health(endpoint) is not None,
            timeout=START_TIMEOUT_S,
            what=f"GET http://{endpoint}/health.jsp",
        )
        answered_at, began = time.time(), time.monotonic()
        # The first request compiles session.jsp; pay that here, not in the bench.
        get_json(f"http://{endpoint}/session.jsp", timeout=30)
        self._note_start(name, answered_at, time.monotonic() - began)
        return waited

    def _note_start(self, name: str, answered_at: float, first_page_s: float) -> None:
        """Where the node's start went (node_start.py), read as it first answers."""
        assert self.state is not None
        record = self.state.processes[name]
        cpu = start_cpu(record.pid)
        if cpu is not None:
            self.state.start_cpu_s[name] = cpu
        text = ""
        # A measurement never fails a lab up.
        with contextlib.suppress(OSError), Path(record.log).open("rb") as log:
            log.seek(record.log_from)
            text = log.read().decode(errors="replace")
        self.state.start_parts_s[name] = start_parts(record.pid, text, answered_at, first_page_s)

    def _wait_nodes(self, *, first_alone: bool) -> None:
        """Until every node not waited for yet answers its pages. first_alone: no compiled
        pages were kept, so the first compiles them and the others get its classes."""
        assert self.state is not None
        nodes = [n for n in self.topology.nodes if n.name not in self.state.timings_s]
        if first_alone and len(nodes) > 1:
            first, *nodes = nodes
            self.state.timings_s[first.name] = round(self._wait_node(first.name, first.http), 3)
            self._share_compiled_pages()
        with ThreadPoolExecutor(max_workers=max(len(nodes), 1)) as pool:
            waits = pool.map(lambda n: self._wait_node(n.name, n.http), nodes)
            for node, waited in zip(nodes, waits, strict=True):
                self.state.timings_s[node.name] = round(waited, 3)

    def _share_compiled_pages(self) -> None:
        """The first node's compiled pages into the others' work folders: each node
        compiling its own took Jasper's compiler twice at once on two cores (0.8-0.9 s
        for health.jsp on each node of a lab with none kept). A node not asked for a page
        yet reads the class instead (compiled_jsps.restore: Jasper checks its time)."""
        first, *others = self.topology.nodes
        compiled = self.run_dir / first.name / compiled_jsps.WORK
        for node in others:
            compiled_jsps.restore(compiled, self.run_dir / node.name)

    def _versions(
        self, store: dict[str, Any], artifacts: Artifacts, lb: Balancer
    ) -> dict[str, str]:
        first = tomcat.health(self.topology.nodes[0].http) or {}
        versions = {
            "tomcat": str(first.get("server", "unknown")),
            "java": str(first.get("java", "unknown")),
            lb.kind: {
                "nginx": nginx.version,
                "haproxy": haproxy.version,
                "nftables": l4hash.version,
            }[lb.kind](),
        }
        if store["kind"].startswith("redis"):
            versions["redis"] = stores.redis_version(self.topology.redis, store["password"])
            versions["redisson"] = artifacts.redisson_version
        if _uses_memcached(store):
            mem = next(iter(self.topology.memcached.values()))
            versions["memcached"] = stores.memcached_version(mem) or "unknown"
            versions["memcached-session-manager"] = version_of(artifacts.msm_jars[0])
        return versions

    # -- down, status, faults ---------------------------------------------

    def down(self) -> list[str]:
        """Stop every process this lab started, front to back. Returns their names."""
        # The nodes' JMX agents first (each made its JVM's exit 0.3 s slower), then the
        # JMX reader of this process, which ends with the lab it reads (another starts on
        # the next reading): no JVM is left behind.
        if self.state is not None:
            jvm.stop_agents(self._running_nodes(), self.jmx_secrets_dir)
        probe_server.close_shared()
        if self.state is None:
            if not self.state_path.exists():
                return []
            self.state = Lab.attach(self.run_dir).state
        assert self.state is not None
        stopped = []
        if self.state.nft_table and l4hash.remove(self.state.nft_table):
            stopped.append(f"nft table {self.state.nft_table}")
        director = self.state.l4_director or {}
        if director.get("kind") == "ipvs" and ipvs.remove(self.topology.balancer):
            stopped.append(f"ipvs service {self.topology.balancer}")
        table = self.state.net_table
        if self.clear_net_faults():
            stopped.append(f"nft table {table} (network faults)")
        stopped += self._stop_processes()
        if self.state.groups:
            LabGroups(Path(self.state.groups)).remove()
        for node in self.topology.nodes:
            class_archive.keep_recorded(self.run_dir / node.name)
        self._save()
        return stopped

    def _running_nodes(self) -> dict[str, int]:
        """Each running Tomcat node's address and pid; not one a fault left stopped
        (SIGSTOP): it could not answer an attach, which would wait out its timeout."""
        assert self.state is not None
        running = {}
        for node in self.topology.nodes:
            record = self.state.processes.get(node.name)
            proc = record.process() if record is not None else None
            if proc is not None and thawed(proc):
                running[node.address] = proc.pid
        return running

    def _stop_processes(self) -> list[str]:
        """Front to back, so nothing in front sends to a part going down; the parts of one
        rank (the nodes) side by side: a Tomcat takes 0.1-0.4 s to stop, mostly waiting."""
        assert self.state is not None
        ranks: dict[int, list[ProcessRecord]] = {}
        for name in sorted(self.state.processes, key=_sort_key):
            record = self.state.processes[name]
            if record.process() is not None:
                ranks.setdefault(_sort_key(name), []).append(record)
        # Every part a fault left paused runs again first, so each stops as it would live:
        # a node's session manager waited 2 s on a paused Redis while stopping.
        for record in (r for records in ranks.values() for r in records):
            proc = record.process()
            if proc is not None and not thawed(proc):
                with contextlib.suppress(LabError):  # gone meanwhile: stop() reaps it
                    kill(record, signal.SIGCONT)
        for records in ranks.values():
            with ThreadPoolExecutor(max_workers=len(records)) as pool:
                list(pool.map(stop, records))
        return [record.name for records in ranks.values() for record in records]

    def status(self) -> list[dict[str, Any]]:
        if self.state is None:
            return []
        rows = []
        for name, record in self.state.processes.items():
            rows.append(
                {
                    "name": name,
                    "pid": record.pid,
                    "running": record.process() is not None,
                    "endpoints": [
                        {"endpoint": f"{a}:{p}", "listening": is_listening(Endpoint(a, p))}
                        for a, p in record.endpoints
                    ],
                }
            )
        if self.state.nft_table:
            rows.append(
                {
                    "name": f"nft table {self.state.nft_table}",
                    "pid": "-",
                    "running": l4hash.exists(self.state.nft_table),
                    "endpoints": [],
                }
            )
        return rows

    def readiness(self, name: str) -> Callable[[], bool]:
        """How to tell that the named part answers again."""
        assert self.state is not None
        topo, store = self.topology, self.state.store
        nodes = {node.name: node for node in topo.nodes}
        if name in nodes:
            return lambda: tomcat.health(nodes[name].http) is not None
        if name == "redis":
            return lambda: stores.redis_ready(topo.redis, store["password"])
        if name == "redis-replica":
            return lambda: stores.redis_ready(topo.redis_replica, store["password"])
        if name == "sentinel":
            return lambda: stores.sentinel_master(topo.sentinel, store["password"]) is not None
        if name in topo.memcached:
            return lambda: stores.memcached_ready(topo.memcached[name])
        return lambda: self._front_health() is not None

    def _record(self, name: str) -> ProcessRecord:
        if self.state is None or name not in self.state.processes:
            raise LabError(f"no lab process named {name!r}")
        return self.state.processes[name]

    def start_again(self, name: str) -> float:
        """Restore a stopped part: start it as before and wait until it answers."""
        record = self._record(name)
        if record.process() is not None:
            raise LabError(f"{name} is still running (pid {record.pid})")
        fresh = start_process_again(record)
        self._track(fresh)
        return wait_until(fresh, self.readiness(name), timeout=START_TIMEOUT_S, what="restart")

    def shutdown(self, name: str) -> None:
        """A graceful stop (SIGTERM: Tomcat runs its shutdown hooks, nginx finishes requests)."""
        stop(self._record(name))

    def restart(self, name: str) -> float:
        self.shutdown(name)
        return self.start_again(name)

    def reload(self, name: str) -> None:
        """The balancer re-reads its config: nginx on SIGHUP; haproxy (not in master-worker
        mode here) by a restart."""
        if name == "nginx":
            kill(self._record(name), signal.SIGHUP)
        else:
            self.restart(name)

    def signal(self, name: str, sig: signal.Signals) -> float:
        """Deliver a fault: the named server's group receives sig; the epoch it was seen
        to have taken effect at."""
        return kill(self._record(name), sig)

    # -- network faults ------------------------------------------------------

    def balancer_process(self) -> str:
        """The balancer's process; the kernel's L4 director has none to signal."""
        running = [n for n in ("nginx", "haproxy") if self.state and n in self.state.processes]
        if not running:
            raise LabError("balancer: the L4 director runs in the kernel, no process to fault")
        return running[0]

    def fault_parts(self) -> list[str]:
        """What a fault may name: every server, and "balancer" for whichever runs."""
        return [*(self.state.processes if self.state else {}), "balancer"]

    def _side(self, part: str, groups: LabGroups) -> Side:
        """A part's servers (their cgroups) and the addresses it serves on."""
        assert self.state is not None
        topo = self.topology
        nodes = {n.name: n for n in topo.nodes}
        names: list[str]
        if part == "balancer":
            names = [n for n in ("nginx", "haproxy") if n in self.state.processes]  # none: L4
            addresses = [topo.balancer.address]
        elif part in nodes:
            names, addresses = [part], [nodes[part].address]
        elif part in ("redis", "redis-replica", "sentinel"):
            where = {"redis": topo.redis, "redis-replica": topo.redis_replica}
            names, addresses = [part], [where.get(part, topo.sentinel).address]
        elif part in topo.memcached:
            names, addresses = [part], [topo.memcached[part].address]
        elif part in ("nginx", "haproxy"):
            names, addresses = [part], [topo.balancer.address]
        else:
            raise LabError(f"{part}: not a part of this lab ({', '.join(self.fault_parts())})")
        for name in names:
            # A rule on a group the server is not in would match nothing: a fault that
            # changes nothing must not read as delivered (and then as survived).
            if not member_of(self.state.processes[name].pid, groups.root / name):
                raise LabError(f"{name} runs in no cgroup of its own: cannot single it out")
        return Side(tuple(groups.nft_name(n) for n in names), tuple(addresses))

    def net_fault(self, spec: FaultSpec) -> None:
        """Put a partition or a packet drop in place (see netfaults)."""
        assert self.state is not None
        if not self.state.groups:
            raise LabError(
                f"{spec}: network faults need cgroup v2 under /sys/fs/cgroup; this "
                "machine has none, so the lab's servers run in no group of their own"
            )
        groups = LabGroups(Path(self.state.groups))
        sides = {p: self._side(p, groups) for p in spec.parts}
        if self._net is None:
            self.state.net_table = "tomcat_bench_net_" + self.topology.net.replace(".", "_")
            self._save()
            self._net = NetFaults(self.state.net_table)
        self._net.add(spec, rules(spec, sides, groups.level))

    def heal(self, spec: FaultSpec) -> None:
        if self._net is None:
            raise LabError(f"{spec}: no network fault is in place")
        self._net.remove(spec)
