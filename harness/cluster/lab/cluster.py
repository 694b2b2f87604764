"""The embedded lab behind the cluster seam: `LabSpec` says which balancer and session
store on which loopback addresses; `LabCluster` is that lab running."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.cluster import Companion, EarlyEntry, Progress, jvm, touch
from harness.cluster.lab import faults, jvms
from harness.cluster.lab.balancers import balancer
from harness.cluster.lab.cold import without_kept_starts
from harness.cluster.lab.l4hash import Director
from harness.cluster.lab.lab import Lab, LabState
from harness.cluster.lab.pool import LabPool, copy_log_tails, log_offsets
from harness.cluster.lab.topology import Topology
from harness.config.faults import FaultSpec
from harness.config.profile import Profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabSpec:
    """An embedded lab to bring up: its addresses, balancer and session strategy."""

    balancer: str = "nginx-rr"
    sessions: str = "redis"
    topology: Topology = field(default_factory=Topology)
    # With [tls], the balancer also serves plain HTTP on this port (the TLS study's).
    plain_port: int | None = None
    # Set by reusing(): benches borrow one running lab instead of starting their own.
    pool: LabPool | None = field(default=None, compare=False, repr=False)
    # False: the pool's next bench wants another lab, so this one is stopped, not mended.
    wanted_after: bool = field(default=True, compare=False)

    def reusing(self) -> tuple[LabSpec, Callable[[], None]]:
        """A spec whose benches share one running lab while their session strategy is the
        same (the matrix), and what stops that lab at the end."""
        pool = LabPool()
        return replace(self, pool=pool), pool.close

    def node_names(self) -> list[str]:
        return [n.name for n in self.topology.nodes]

    def with_strategy(self, balancer: str, sessions: str, *, wanted_after: bool = True) -> LabSpec:
        return replace(self, balancer=balancer, sessions=sessions, wanted_after=wanted_after)

    def entry_before_up(self, profile: Profile) -> EarlyEntry | None:
        # With [tls] the URL is https and its CA is made at up(): Locust starts after it.
        return None if profile.tls.enabled else EarlyEntry(f"http://{self.topology.balancer}")

    def cold(self) -> AbstractContextManager[None]:
        return without_kept_starts()

    def up(self, profile: Profile, *, progress: Progress) -> LabCluster:
        if self.pool is not None:
            lab = self.pool.lend(self, profile, progress)
            assert lab.state is not None
            return LabCluster(self, lab, lab.state, pool=self.pool)
        lab = Lab(self.topology)
        state = lab.up(
            profile,
            balancer_name=self.balancer,
            sessions=self.sessions,
            progress=progress,
            plain_port=self.plain_port,
        )
        return LabCluster(self, lab, state)


class _DirectorWatch:
    """The L4 director checks no health itself: the harness does, as keepalived would."""

    def __init__(self, lab: Lab, state: LabState) -> None:
        self._lab, self._state = lab, state
        self._director: Director | None = None

    def start(self, start_epoch: float) -> None:
        kind = (self._state.l4_director or {}).get("kind")
        topology = self._lab.topology
        self._director = Director(
            self._state.nft_table or "",
            topology.nodes,
            start_epoch=start_epoch,
            ipvs_service=topology.balancer if kind == "ipvs" else None,
        )
        self._director.start()

    def stop(self) -> list[dict[str, Any]]:
        if self._director is None:
            return []
        self._director.stop()
        return list(self._director.events)


class LabCluster:
    """A running embedded lab, as a bench sees it."""

    def __init__(
        self,
        spec: LabSpec,
        lab: Lab,
        state: LabState,
        *,
        pool: LabPool | None = None,
    ) -> None:
        self.spec, self.lab, self.state = spec, lab, state
        self.pool = pool
        self._deployer_checks: dict[str, int] = {}  # read by in_effect, for a touch's watch
        # Lent by the pool already running (a matrix cell after the first of its strategy).
        self.reused = pool is not None and pool.last_reused
        # A borrowed lab's logs hold earlier cells too: this bench copies from here on.
        self._log_offsets = log_offsets(lab) if pool is not None else None

    @property
    def entry_url(self) -> str:
        return self.lab.entry_url

    @property
    def ca_file(self) -> Path | None:
        return self.lab.ca_file

    @property
    def plain_entry_url(self) -> str | None:
        return self.lab.plain_url

    def node_names(self) -> list[str]:
        return self.spec.node_names()

    def node_urls(self) -> dict[str, str]:
        return {n.name: n.url for n in self.spec.topology.nodes}

    def fault_targets(self) -> list[str]:
        return self.lab.fault_parts()

    def deliver(self, fault: FaultSpec, until: threading.Event | None = None) -> dict[str, float]:
        return faults.inject(self.lab, fault, until, self._deployer_checks)

    def prepare_faults(self, specs: Sequence[FaultSpec]) -> None:
        faults.prepare(self.lab, specs)

    def restore(self, fault: FaultSpec) -> dict[str, float]:
        return faults.restore(self.lab, fault)

    def in_effect(self, profile: Profile) -> dict[str, Any]:
        """Read from each node's own readings (readings.py)."""
        read = self._read_in_effect(profile)
        self._deployer_checks = touch.deployer_checks(read)
        return read

    def _read_in_effect(self, profile: Profile) -> dict[str, Any]:
        if self.pool is not None:
            # Read by the pool as it mended the lab, while the last cell's results were
            # written: the same JVMs this bench now loads.
            early = self.pool.take_in_effect(profile)
            if early is not None:
                return early
        return jvms.lab_in_effect(self.lab, profile)

    def processes(self) -> Mapping[str, int]:
        return {name: rec.pid for name, rec in self.state.processes.items()}

    def jvm_targets(self) -> Mapping[str, jvm.NodeTarget]:
        return jvms.lab_targets(self.lab)

    def companions(self) -> list[Companion]:
        if (self.state.l4_director or {}).get("kind") is None:
            return []
        return [_DirectorWatch(self.lab, self.state)]

    def telemetry_rows(self) -> list[tuple[float, str, float, int]]:
        return []  # every lab process is sampled here (processes())

    def jvm_readings(self) -> list[tuple[str, dict[str, Any]]]:
        return []  # every lab JVM is sampled here (jvm_targets())

    def load_hosts(self) -> None:
        return None  # the lab's load runs here

    def describe(self) -> dict[str, Any]:
        """run.json's "lab": balancer, session manager and its modes (never the password),
        nodes, and how the lab came up."""
        store = self.state.store
        topology = self.spec.topology
        return {
            "kind": "embedded",
            "balancer": balancer(self.spec.balancer).label,
            "balancer_name": self.spec.balancer,
            "session_store": store["kind"],
            "session_manager": {k: v for k, v in store.items() if k != "password"},
            "nodes": [{"name": n.name, "address": str(n.http)} for n in topology.nodes],
            "entry": self.lab.entry_url,
            "tls": self.state.tls,
            "up_s": self.state.timings_s.get("up"),
            "reused": self.reused,
            "l4_director": self.state.l4_director,
            "timings_s": self.state.timings_s,
            "start_cpu_s": self.state.start_cpu_s,
            "start_parts_s": self.state.start_parts_s,
        }

    def versions(self) -> dict[str, str]:
        return dict(self.state.versions)

    def up_s(self) -> float:
        return self.state.timings_s.get("up", 0.0)

    def copy_logs(self, into: Path) -> None:
        """Each part's log from where this bench's lab began it: a lab's logs are appended
        to, and held every earlier lab's lines too."""
        offsets = self._log_offsets
        if offsets is None:
            state = self.lab.state or self.state
            offsets = {name: r.log_from for name, r in state.processes.items()}
        copy_log_tails(self.lab, offsets, into)

    def down(self) -> None:
        if self.pool is not None and self.spec.wanted_after:
            self.pool.give_back(self.lab)  # kept for the next bench, mended meanwhile
            return
        if self.pool is not None:
            self.pool.let_go(self.lab)
            return
        self.lab.down()
