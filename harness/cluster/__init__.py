"""What is under test, behind one seam.

A bench needs five things from what it measures: where to send load (the entry URL),
what runs there (nodes, stores, balancer: for faults and the manifest), faults delivered
and restored, what is in effect before the load, and telemetry (local pids, JVM targets)
while it runs. `ClusterSpec` says what to bring up; `Cluster` is it running.

The embedded lab (`harness.cluster.lab.LabSpec`) is the first implementation. Nothing in
`harness.load` imports `harness.cluster.lab`: the commands choose the cluster and hand
its spec to the load, so hosts from an inventory can be a second implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.cluster.errors import ClusterError

if TYPE_CHECKING:  # types only: the seam itself imports no implementation
    import threading

    from harness.cluster.jvm import NodeTarget
    from harness.config.faults import FaultSpec
    from harness.config.profile import Profile

__all__ = [
    "LANDED_AT",
    "LANDED_BY",
    "Cluster",
    "ClusterError",
    "ClusterSpec",
    "Companion",
    "EarlyCompanion",
    "LoadHosts",
    "Progress",
]

Progress = Callable[[str], None]

# A step deliver() may return: the epoch at which a fault took effect on its host, where
# that came measurably after it was asked for (a signal sent over SSH).
LANDED_AT = "landed_at"
# When the host saw the fault in place, where it can only bracket its effect (over SSH):
# LANDED_AT then is its clock just before, so no reply the fault changed counts before it.
LANDED_BY = "landed_by"


@dataclass(frozen=True)
class EarlyEntry:
    """The balancer's URL and what its certificate is verified against (None: the
    system's CAs), known before the cluster is up."""

    url: str
    ca_file: Path | None = None


class Companion(Protocol):
    """Something the cluster runs beside the load (e.g. the L4 director's health checks,
    which keepalived would run in production): started with the load, stopped after it.
    What it did is returned as fault-log events."""

    def start(self, start_epoch: float) -> None: ...

    def stop(self) -> list[dict[str, Any]]: ...


@runtime_checkable
class EarlyCompanion(Companion, Protocol):
    """A companion too slow to start with the load (a JVM reader started over SSH took
    3-5 s to its first reading): before_load starts it and returns once it is ready, so
    it watches the load from its first request."""

    def before_load(self) -> None: ...


class LoadHosts(Protocol):
    """Hosts that run the load generator's workers (Locust's own master/worker mode): the
    master runs here, the workers there, started over SSH with the load."""

    @property
    def master_address(self) -> str:
        """This machine's address as the load hosts reach it (the master binds it)."""
        ...

    @property
    def processes(self) -> int:
        """Worker processes in all (the master waits for every one)."""
        ...

    def workers(self, master_port: int) -> Companion:
        """Starts the workers when the load starts; stops them (and reads their CPU) after."""
        ...

    def flowing(self) -> bool:
        """Has any worker written a record yet?"""
        ...

    def fetch_records(self, into: Path) -> list[Path]:
        """Each worker's records, copied into the run folder; their folders removed there."""
        ...

    def usage(self) -> dict[str, dict[str, Any]]:
        """Per load host: worker processes, CPU seconds and cores, and whether it was the
        bottleneck (generator-bound)."""
        ...


class Cluster(Protocol):
    """A running cluster a bench measures."""

    @property
    def entry_url(self) -> str:
        """Where the load goes: the balancer's URL."""
        ...

    @property
    def ca_file(self) -> Path | None:
        """What an https entry's certificate is verified against; None: the system's CAs."""
        ...

    @property
    def plain_entry_url(self) -> str | None:
        """The balancer's plain-HTTP listener beside its HTTPS one, if it has one."""
        ...

    def node_names(self) -> list[str]: ...

    def node_urls(self) -> dict[str, str]:
        """Each Tomcat node's own URL, past the balancer (to measure a node alone)."""
        ...

    def fault_targets(self) -> list[str]:
        """Every part a fault may name (nodes, stores, the balancer)."""
        ...

    def deliver(self, fault: FaultSpec, until: threading.Event | None = None) -> dict[str, float]:
        """Deliver the fault now; returns the epoch times of its steps where it has several
        (LANDED_AT: when it took effect, where the host could tell). A fault that watches
        for what it caused (touch: does Tomcat reload?) stops once until is set: the load
        has ended, and what comes after is no user's."""
        ...

    def restore(self, fault: FaultSpec) -> dict[str, float]: ...

    def prepare_faults(self, faults: Sequence[FaultSpec]) -> None:
        """Whatever these faults need that can be made ready before the load, so that
        nothing of it starts under load (the lab: the JMX agent an MBean operation uses)."""
        ...

    def in_effect(self, profile: Profile) -> dict[str, Any]:
        """What each node runs with, read back before the load, and how it differs from
        what the profile asked for (a node that cannot be read is named, not fatal)."""
        ...

    def processes(self) -> Mapping[str, int]:
        """Local pids by part, for CPU and memory telemetry (empty where none is local)."""
        ...

    def jvm_targets(self) -> Mapping[str, NodeTarget]:
        """The Tomcat JVMs to sample, as they are now (a restarted node has a new pid)."""
        ...

    def companions(self) -> list[Companion]: ...

    def telemetry_rows(self) -> list[tuple[float, str, float, int]]:
        """Samples of parts not on this machine (t_s, part, CPU cores, RSS bytes), taken
        by a companion while the load ran; empty where every part is sampled here."""
        ...

    def jvm_readings(self) -> list[tuple[str, dict[str, Any]]]:
        """JvmProbe readings (node, reading) of nodes not sampled from here, taken by a
        companion while the load ran; empty where jvm_targets() covers every node."""
        ...

    def load_hosts(self) -> LoadHosts | None:
        """Where the load runs when not only here (None: one Locust process here)."""
        ...

    def describe(self) -> dict[str, Any]:
        """run.json's "lab" section: what ran (never a password), timings, versions."""
        ...

    def versions(self) -> dict[str, str]: ...

    def up_s(self) -> float:
        """Seconds it took to bring the cluster up (0 when it was already up)."""
        ...

    def copy_logs(self, into: Path) -> None: ...

    def down(self) -> None: ...


class ClusterSpec(Protocol):
    """What to bring up: enough to validate a plan before anything starts."""

    @property
    def balancer(self) -> str: ...

    @property
    def sessions(self) -> str: ...

    def node_names(self) -> list[str]: ...

    def with_strategy(
        self, balancer: str, sessions: str, *, wanted_after: bool = True
    ) -> ClusterSpec:
        """The same cluster with another balancer and session strategy (a matrix cell).
        wanted_after=False: no later bench of a reusing() series will share what this one
        runs on (the next cell needs another strategy), so it need not be kept."""
        ...

    def reusing(self) -> tuple[ClusterSpec, Callable[[], None]]:
        """The same cluster for a series of benches that may share what runs between
        them (the matrix's cells), and what ends that sharing."""
        ...

    def entry_before_up(self, profile: Profile) -> EarlyEntry | None:
        """Where users will load, when it is known before up() (the load generator then
        starts up meanwhile); None when only the running cluster can tell."""
        ...

    def cold(self) -> AbstractContextManager[None]:
        """Inside it, up() starts as on a clean clone: nothing kept by earlier starts (the
        timing benchmark's first lab up)."""
        ...

    def up(self, profile: Profile, *, progress: Progress) -> Cluster:
        """Bring it up and wait until every part answers; on failure leave nothing behind."""
        ...
