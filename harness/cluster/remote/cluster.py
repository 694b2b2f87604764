"""One's own cluster behind the seam: `InventorySpec` is what an inventory file describes,
`RemoteCluster` that cluster checked and ready for a bench.

Nothing is brought up or torn down: the cluster is the operator's. "Up" checks that every
host answers over SSH, every node serves the probe and the balancer reaches it; "down"
puts back what a fault took away (a killed node or store started again, a stopped JVM
continued, a network rule removed) whatever happened during the run, and closes the
connections.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from harness.cluster import Companion, EarlyEntry, Progress, jvm, touch
from harness.cluster.endpoints import get_json
from harness.cluster.errors import ClusterError
from harness.cluster.remote import jvm as remote_jvm
from harness.cluster.remote import netfaults, probe
from harness.cluster.remote.hosts import HostError, SshHost, ssh_host
from harness.cluster.remote.jvm_telemetry import RemoteJvmSampler
from harness.cluster.remote.load import RemoteLoad
from harness.cluster.remote.parts import (
    RemoteBalancer,
    RemoteNode,
    RemoteStore,
    bracketed,
    landing_printed,
)
from harness.cluster.remote.telemetry import RemoteSampler
from harness.cluster.touch import watch_for_reload
from harness.config.faults import ACTIONS, NETWORK, FaultSpec
from harness.config.inventory import Inventory, InventoryNode, Part
from harness.config.profile import Profile

log = logging.getLogger(__name__)

# What a fault does to each kind of part over SSH (the rest is the lab's only, for now).
NODE_ACTIONS = frozenset({"sigkill", "sigstop", "shutdown", "restart", "touch"}) | NETWORK
STORE_ACTIONS = frozenset({"sigkill", "sigstop", "shutdown"}) | NETWORK
BALANCER_ACTIONS = frozenset({"reload"}) | NETWORK


class InventorySpec:
    """The cluster an inventory describes: its balancer and the nodes' own session manager."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        apply: Callable[[Profile, Progress], None] | None = None,
    ) -> None:
        """apply: puts a profile on the nodes before each bench (the commands pass
        fleet's apply with its backups and rollback); None: the nodes run what they run."""
        if not inventory.balancers:
            raise ClusterError(f"{inventory.path}: a bench needs a [[balancers]] entry")
        self.inventory = inventory
        self.apply = apply
        self.timings_applied_s: float | None = None

    @property
    def balancer(self) -> str:
        return self.inventory.balancers[0].kind

    @property
    def entry_url(self) -> str:
        """Where the load goes: the probe's pages through the balancer."""
        return f"{self.inventory.balancers[0].url.rstrip('/')}/{probe.CONTEXT}"

    @cached_property
    def session_managers(self) -> dict[str, dict[str, Any]]:
        """Each node's session manager, read from its config over SSH."""
        out = {}
        for node in self.inventory.nodes:
            host = ssh_host(self.inventory, node)
            try:
                out[node.name] = probe.session_manager(host, node)
            except HostError as error:
                raise ClusterError(str(error)) from None
            finally:
                host.close()
        return out

    @property
    def sessions(self) -> str:
        kinds = sorted({m["kind"] for m in self.session_managers.values()})
        return kinds[0] if len(kinds) == 1 else "mixed:" + "+".join(kinds)

    def node_names(self) -> list[str]:
        return [n.name for n in self.inventory.nodes]

    def with_strategy(
        self, balancer: str, sessions: str, *, wanted_after: bool = True
    ) -> InventorySpec:
        if (balancer, sessions) != (self.balancer, self.sessions):
            raise ClusterError(
                f"{self.inventory.path}: the cluster runs {self.balancer} with "
                f"{self.sessions} sessions; it cannot be switched to {balancer} with {sessions}"
            )
        return self

    def entry_before_up(self, profile: Profile) -> EarlyEntry | None:
        """The balancer's URL and CA file, so Locust starts up while the cluster is checked
        (its start was 1-4 s of the SSH testbed's wait beyond the load). Not with load
        hosts, whose workers start with the load."""
        if self.inventory.load:
            return None
        return EarlyEntry(self.entry_url, self.inventory.balancers[0].ca_file)

    def cold(self) -> AbstractContextManager[None]:
        return nullcontext()  # one's own nodes: what they keep is theirs

    def reusing(self) -> tuple[InventorySpec, Callable[[], None]]:
        return self, lambda: None  # one's own cluster runs anyway: nothing to share

    def check_faults(self, faults: tuple[FaultSpec, ...]) -> None:
        """Before anything runs: every fault reaches only parts marked for faults, with an
        action that works over SSH. One line naming the file and the fault otherwise."""
        for spec in faults:
            parts = self.inventory.check_fault(spec)
            allowed = _actions_for(self.inventory, parts[0])
            if spec.action not in allowed:
                raise ClusterError(
                    f"{self.inventory.path}: fault {spec}: {spec.action} does not reach "
                    f"{parts[0].name} over SSH (it takes {', '.join(sorted(allowed))})"
                )

    def up(self, profile: Profile, *, progress: Progress) -> RemoteCluster:
        began = time.monotonic()
        if self.apply is not None:
            progress(f"applying profile {profile.name} to the nodes")
            self.apply(profile, progress)
            self.timings_applied_s = round(time.monotonic() - began, 3)
        cluster = RemoteCluster(self, profile)
        try:
            cluster.check(progress)
        except BaseException:
            cluster.down()
            raise
        cluster.timings_s["up"] = round(time.monotonic() - began, 3)
        return cluster


# Tomcat's own words when it reloads the probe's context (StandardContext.reload).
RELOADED = f"Reloading Context with name [/{probe.CONTEXT}] is completed"


def touch_probe(
    node: RemoteNode, notice_s: float, *, until: threading.Event | None = None
) -> dict[str, float]:
    """Touch the probe's web.xml on the node, as an operator editing it, and nothing else:
    Tomcat decides (its Host's deployer watches web.xml only with autoDeploy). Returns
    when Tomcat logged the reload, or after notice_s without one (no "reloaded_at")."""
    log_file = node.node.base / "logs" / "catalina.out"
    sized = node.host.run(["stat", "-c", "%s", str(log_file)])
    if sized.returncode != 0 or not sized.stdout.strip().isdigit():
        # Without Tomcat's log, "did not reload" could not be told from "did not say".
        raise ClusterError(f"{node.name}: touch needs {log_file} to see whether Tomcat reloaded")
    start = int(sized.stdout) + 1
    web_xml = probe.folder(node.node) / "WEB-INF" / "web.xml"
    touched = node.host.run(["touch", "--", str(web_xml)])
    if touched.returncode != 0:
        raise ClusterError(f"{node.name}: touch {web_xml}: {touched.stderr.strip()[-200:]}")
    touched_at = time.time()

    def reloaded() -> bool:
        seen = node.host.run(["sh", "-c", f"tail -c +{start} {shlex.quote(str(log_file))}"])
        return RELOADED in seen.stdout

    return watch_for_reload(touched_at, reloaded, notice_s, until, poll_s=0.5)


def _actions_for(inventory: Inventory, part: Part) -> frozenset[str]:
    if part in inventory.nodes:
        return NODE_ACTIONS
    if part in inventory.stores:
        return STORE_ACTIONS
    return BALANCER_ACTIONS


class RemoteCluster:
    """The inventory's cluster during one bench."""

    def __init__(self, spec: InventorySpec, profile: Profile) -> None:
        self.spec = spec
        self.inventory = spec.inventory
        self.profile = profile
        self.hosts: dict[str, SshHost] = {}
        self.timings_s: dict[str, float] = {}
        self.health: dict[str, dict[str, Any]] = {}
        # What down() must put back, by fault: a restore the run did not reach.
        self._pending: dict[str, Callable[[], object]] = {}
        self.restored_at_end: list[dict[str, Any]] = []
        self._tables = 0
        self._deployer_checks: dict[str, int] = {}  # read by in_effect, for a touch's watch
        self._load = RemoteLoad(self.inventory, self._host) if self.inventory.load else None
        self._sampler = RemoteSampler(self.inventory, self._host)
        self._jvm_sampler = RemoteJvmSampler(
            self.inventory.nodes, self._host, lambda node: ssh_host(self.inventory, node)
        )
        self._secrets = Path(tempfile.mkdtemp(prefix="tomcat-bench-jmx-"))

    def _host(self, part: Part) -> SshHost:
        if part.name not in self.hosts:
            self.hosts[part.name] = ssh_host(self.inventory, part)
        return self.hosts[part.name]

    def _node(self, name: str) -> RemoteNode:
        node = next(n for n in self.inventory.nodes if n.name == name)
        return RemoteNode(node, self._host(node))

    def _store(self, name: str) -> RemoteStore:
        store = next(s for s in self.inventory.stores if s.name == name)
        return RemoteStore(store, self._host(store))

    def _balancer(self) -> RemoteBalancer:
        balancer = self.inventory.balancers[0]
        return RemoteBalancer(balancer, self._host(balancer))

    # -- up --------------------------------------------------------------------------

    def check(self, progress: Progress) -> None:
        """Every host over SSH, the probe on every node, the balancer in front of them."""
        for part in self.inventory.parts():
            progress(f"connecting to {part.name} ({part.host})")
            try:
                self._host(part).connect()
            except HostError as error:
                raise ClusterError(str(error)) from None
        for node in self.inventory.nodes:
            progress(f"checking the probe on {node.name}")
            self.health[node.name] = _health(node)
        for store in self.inventory.stores:
            if self._store(store.name).pid() is None:
                raise ClusterError(f"{store.name}: no running {store.kind} on {store.host}")
        progress(f"checking the balancer at {self.entry_url}")
        try:
            get_json(f"{self.entry_url}/health.jsp", timeout=5, ca_file=self.ca_file)
        except (OSError, ValueError) as error:
            raise ClusterError(f"the balancer at {self.entry_url}: {error}") from None

    # -- the seam --------------------------------------------------------------------

    @property
    def entry_url(self) -> str:
        return self.spec.entry_url

    @property
    def ca_file(self) -> Path | None:
        return self.inventory.balancers[0].ca_file

    plain_entry_url = None  # one's own cluster is measured as its users reach it

    def node_names(self) -> list[str]:
        return self.spec.node_names()

    def node_urls(self) -> dict[str, str]:
        return {n.name: probe.url(n) for n in self.inventory.nodes}

    def fault_targets(self) -> list[str]:
        names = [p.name for p in self.inventory.parts() if p.faults]
        # "balancer" names the front whatever its name, as in the lab and the plan.
        front = self.inventory.balancers[:1]
        return [*names, "balancer"] if front and front[0].faults else names

    def prepare_faults(self, faults: Sequence[FaultSpec]) -> None:
        del faults  # a fault over SSH needs nothing started ahead

    def deliver(self, fault: FaultSpec, until: threading.Event | None = None) -> dict[str, float]:
        if fault.action in NETWORK:
            return self._net_fault(fault)
        part = self.inventory.part(fault.target)
        if part in self.inventory.nodes and fault.action == "touch":
            check_s = self._deployer_checks.get(part.name)
            return touch_probe(self._node(part.name), touch.notice_s(check_s), until=until)
        if part in self.inventory.nodes:
            return self._deliver_to(self._node(part.name), fault)
        if part in self.inventory.stores:
            return self._deliver_to(self._store(part.name), fault)
        if fault.action == "reload":
            self._balancer().reload()
        else:
            raise ClusterError(f"fault {fault}: not deliverable to {part.name} over SSH")
        return {}

    def _deliver_to(self, part: RemoteNode | RemoteStore, fault: FaultSpec) -> dict[str, float]:
        """The fault delivered; a signal's landing time (LANDED_AT), where the host told it."""
        key = str(fault)
        landed: dict[str, float] = {}
        if fault.action == "sigkill":
            landed = part.signal("KILL")
            self._pending[key] = part.start
        elif fault.action == "sigstop":
            landed = part.signal("STOP")
            self._pending[key] = partial(part.signal, "CONT")
        elif fault.action == "shutdown":
            self._pending[key] = part.start
            part.stop()
        elif fault.action == "restart" and isinstance(part, RemoteNode):
            self._pending[key] = part.start
            part.restart()
            self._pending.pop(key)
        else:
            raise ClusterError(f"fault {fault}: not deliverable to {part.name} over SSH")
        return landed

    def _net_fault(self, fault: FaultSpec) -> dict[str, float]:
        """The rules in place on the part's host; the host's clock around it (as steps)."""
        self._tables += 1
        table = netfaults.table_name(self._tables)
        part = self.inventory.part(fault.parts[0])
        ssh_port = part.ssh_port or self.inventory.ssh.port
        where, script = netfaults.rules(self.inventory, fault, table, ssh_port)
        host = self._host(where)
        done = host.run(["sh", "-c", bracketed("nft -f -")], stdin=script)
        if done.returncode != 0:
            raise ClusterError(f"{where.name}: nft: {done.stderr.strip()[-200:]}")
        self._pending[str(fault)] = partial(_remove_table, host, table)
        return landing_printed(done.stdout)

    def restore(self, fault: FaultSpec) -> dict[str, float]:
        undo = self._pending.get(str(fault))
        if undo is None and ACTIONS.get(fault.action) is not None:
            raise ClusterError(f"fault {fault}: nothing to restore (it was not delivered)")
        if undo is not None:
            undo()  # a restore that fails stays pending: down() tries it again
            del self._pending[str(fault)]
        return {}

    def in_effect(self, profile: Profile) -> dict[str, Any]:
        readers = {n.name: partial(self._read_jvm, n) for n in self.inventory.nodes}
        read = jvm.in_effect(readers, profile.name, profile.effective())
        self._deployer_checks = touch.deployer_checks(read)
        return read

    def _read_jvm(self, node: InventoryNode) -> jvm.NodeJvm:
        remote = self._node(node.name)
        pid = remote.pid()
        if pid is None:
            raise jvm.JvmReadError(f"{node.name}: no running JVM")
        access = remote_jvm.node_jmx(node)
        log_file = node.base / "logs" / "catalina.out"
        return remote_jvm.read_node(remote.host, node.name, pid, access, log_file)

    def processes(self) -> Mapping[str, int]:
        return {}  # none runs here

    def jvm_targets(self) -> Mapping[str, jvm.NodeTarget]:
        return {}  # the JVMs are read over SSH, not sampled from here

    def companions(self) -> list[Companion]:
        return [self._sampler, self._jvm_sampler]

    def telemetry_rows(self) -> list[tuple[float, str, float, int]]:
        return list(self._sampler.rows)

    def jvm_readings(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self._jvm_sampler.readings)

    def load_hosts(self) -> RemoteLoad | None:
        return self._load

    def describe(self) -> dict[str, Any]:
        managers = self.spec.session_managers
        first = managers[self.inventory.nodes[0].name]
        balancer = self.inventory.balancers[0]
        return {
            "kind": "inventory",
            "inventory": str(self.inventory.path),
            "balancer": balancer.kind,
            "balancer_name": balancer.name,
            "session_store": first["kind"],
            "session_manager": first,
            "session_managers": managers,
            "nodes": [{"name": n.name, "address": n.url} for n in self.inventory.nodes],
            "stores": [{"name": s.name, "address": s.address} for s in self.inventory.stores],
            "entry": self.entry_url,
            "up_s": self.timings_s.get("up"),
            "timings_s": self.timings_s,
            "profile_applied": self.spec.apply is not None,
            "apply_s": self.spec.timings_applied_s,
            "restored_at_end": self.restored_at_end,
        }

    def versions(self) -> dict[str, str]:
        servers = {h.get("server") for h in self.health.values() if h.get("server")}
        return {"tomcat": " / ".join(sorted(str(s) for s in servers))} if servers else {}

    def up_s(self) -> float:
        return self.timings_s.get("up", 0.0)

    def copy_logs(self, into: Path) -> None:
        """The end of each node's catalina.out (what the run did to it)."""
        into.mkdir(exist_ok=True)
        for node in self.inventory.nodes:
            log_file = node.base / "logs" / "catalina.out"
            try:
                done = self._host(node).run(["tail", "-c", "1000000", str(log_file)])
            except HostError as error:
                log.warning("%s: cannot read its log: %s", node.name, error)
                continue
            if done.returncode == 0:
                (into / f"{node.name}.log").write_text(done.stdout)
        self._close_hosts()  # called after down(): close what it opened again

    def down(self) -> None:
        """Put back what a fault took away, whatever happened; then close the connections."""
        self._jvm_sampler.stop()  # begun before a load that never ran
        for key, undo in list(self._pending.items()):
            began = time.time()
            try:
                undo()
                self.restored_at_end.append({"fault": key, "at_epoch": began, "ok": True})
                log.info("restored after the run: %s", key)
            except (ClusterError, HostError) as error:
                self.restored_at_end.append({"fault": key, "ok": False, "error": str(error)})
                log.error("could not restore %s after the run: %s", key, error)
            del self._pending[key]
        self._close_hosts()
        shutil.rmtree(self._secrets, ignore_errors=True)

    def _close_hosts(self) -> None:
        for host in self.hosts.values():
            host.close()
        self.hosts.clear()


def _remove_table(host: SshHost, table: str) -> None:
    done = host.run(["nft", "delete", "table", "inet", table])
    if done.returncode != 0:
        raise ClusterError(f"{host.name}: nft delete table {table}: {done.stderr.strip()}")


def _health(node: InventoryNode) -> dict[str, Any]:
    url = f"{probe.url(node)}/health.jsp"
    try:
        return get_json(url)
    except (OSError, ValueError) as error:
        raise ClusterError(
            f"{node.name}: the probe does not answer at {url} ({error}); put it there with "
            "`python -m harness probe install --inventory FILE`"
        ) from None
