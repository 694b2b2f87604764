"""One embedded lab lent to bench after bench (the matrix's cells), instead of a lab up and
down for each: the nodes and the store stay up while the session strategy does; between
cells the balancer is started afresh (swapped, if the cell names another), whatever a
fault left down is started again, and the store is emptied. A cell is never handed a lab
whose nodes did not all come back healthy: the pool starts a fresh lab instead."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cluster import Progress, jvm
from harness.cluster.jvm import NodeJvm
from harness.cluster.lab import jvms, stores
from harness.cluster.lab.lab import REDIS_STRATEGIES, START_TIMEOUT_S, Lab
from harness.cluster.lab.processes import LabError, kill, thawed, wait_until
from harness.config.profile import Profile

if TYPE_CHECKING:
    from harness.cluster.lab.cluster import LabSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Key:
    """What must match for a running lab to serve the next cell."""

    sessions: str
    topology: object
    profile: Profile
    plain_port: int | None


class LabPool:
    """Keeps the last lab running between cells; close() stops it."""

    def __init__(self) -> None:
        self._lab: Lab | None = None
        self._key: _Key | None = None
        self._mending: threading.Thread | None = None
        self._mend_error: BaseException | None = None
        self._mend_timings: dict[str, float] = {}  # the last mending's parts, in seconds
        # Set once the mending has every part running again (or has failed).
        self._nodes_healthy = threading.Event()
        self._nodes_healthy.set()
        self.cells_lent = 0
        self.labs_started = 0
        self.last_reused = False  # whether the last lend handed over a lab already running
        # The kept lab's JVMs read (in effect) right after mending, for the next bench.
        self._in_effect: tuple[Profile, dict[str, Any]] | None = None

    def lend(self, spec: LabSpec, profile: Profile, progress: Progress) -> Lab:
        """A running lab for spec: the one kept, made ready, or a fresh one. Its
        timings_s["up"] is what getting it ready took for this cell."""
        began = time.monotonic()
        key = _Key(spec.sessions, spec.topology, profile, spec.plain_port)
        lab = self._lab
        if lab is not None and self._key == key:
            lab = self._made_ready(lab, spec, profile, progress, began)
        else:
            self.close()
            lab = None
        self.last_reused = lab is not None
        if lab is None:
            lab = Lab(spec.topology)
            lab.up(
                profile,
                balancer_name=spec.balancer,
                sessions=spec.sessions,
                progress=progress,
                plain_port=spec.plain_port,
            )
            self.labs_started += 1
            self._lab, self._key = lab, key
        assert lab.state is not None
        lab.state.timings_s["up"] = round(time.monotonic() - began, 3)
        self.cells_lent += 1
        return lab

    def _made_ready(
        self, lab: Lab, spec: LabSpec, profile: Profile, progress: Progress, began: float
    ) -> Lab | None:
        """The kept lab ready for spec, or None (and closed) if it cannot be."""
        progress(f"reusing the lab: {spec.balancer} in front, store emptied")
        # Once its nodes answer again, the front is swapped while the restarted node's
        # settings are still being read.
        self._nodes_healthy.wait()
        parts = {"waited_for_nodes": _since(began)}
        try:
            if self._mend_error is None:
                self._ready_for_next(lab, spec, profile, parts)
        except (LabError, OSError) as error:
            log.warning("the kept lab is not ready (%s): starting a fresh one", error)
            self.close()
            return None
        self._join_mending()  # closes the lab if mending failed
        if self._lab is not lab:
            return None
        assert lab.state is not None
        # This cell's own parts: the lab's first start is not what it waited for.
        lab.state.timings_s = {**self._mend_timings, **parts}
        return lab

    def give_back(self, lab: Lab) -> None:
        """The cell's load is over: start mending what its faults left down, in the
        background, while the cell's results are written."""
        self._in_effect = None
        if lab is not self._lab:
            lab.down()
            return
        self._mend_error = None
        self._mend_timings = {}
        self._nodes_healthy.clear()
        self._mending = threading.Thread(target=self._mend, args=(lab,), daemon=True)
        self._mending.start()

    def let_go(self, lab: Lab) -> None:
        """The cell's load is over and no later cell wants this lab: stopped now, with no
        node started again only to be stopped (the pool's next lend starts another)."""
        self._join_mending()
        self._in_effect = None
        if lab is self._lab:
            self._lab, self._key = None, None
        lab.down()

    def close(self) -> None:
        self._join_mending()
        self._in_effect = None
        if self._lab is not None:
            self._lab.down()
        self._lab, self._key = None, None

    # -- between cells ------------------------------------------------------

    def _join_mending(self) -> None:
        if self._mending is not None:
            self._mending.join()
            self._mending = None
        if self._mend_error is not None:
            error, self._mend_error = self._mend_error, None
            log.warning("mending the kept lab failed (%s): it is started afresh", error)
            self.close()

    def _mend(self, lab: Lab) -> None:
        began = time.monotonic()
        try:
            if self._key is None:
                _mend(lab)
                return
            profile = self._key.profile
            # The nodes still running are read while the ones a fault stopped start again.
            running = set(lab.running())
            with ThreadPoolExecutor(max_workers=1) as reader:
                early = {
                    n.name: reader.submit(jvms.read_lab_node, lab, n.name)
                    for n in lab.topology.nodes
                    if n.name in running
                }
                _mend(lab, timings=self._mend_timings)
                self._nodes_healthy.set()
                readers: dict[str, Callable[[], NodeJvm]] = {
                    n.name: early[n.name].result
                    if n.name in early
                    else partial(jvms.read_lab_node, lab, n.name)
                    for n in lab.topology.nodes
                }
                mended = time.monotonic()
                self._in_effect = (
                    profile,
                    jvm.in_effect(readers, profile.name, profile.effective()),
                )
                self._mend_timings["in_effect_read"] = _since(mended)
        except BaseException as error:  # reported by the next lend
            self._mend_error = error
        finally:
            self._mend_timings["mending"] = _since(began)
            self._nodes_healthy.set()

    def take_in_effect(self, profile: Profile) -> dict[str, Any] | None:
        """What the mending read from the lab's JVMs, once, if read for this profile."""
        read, self._in_effect = self._in_effect, None
        return read[1] if read is not None and read[0] == profile else None

    def _ready_for_next(
        self, lab: Lab, spec: LabSpec, profile: Profile, timings: dict[str, float]
    ) -> None:
        _mend(lab, timings=timings)
        began = time.monotonic()
        _empty_store(lab)
        timings["store_emptied"] = _since(began)
        # Always a fresh front: nginx's passive failure marks (fail_timeout) and haproxy's
        # check state would otherwise carry one cell's kill into the next.
        timings["balancer"] = round(
            lab.swap_balancer(spec.balancer, profile, plain_port=spec.plain_port), 3
        )


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)


def _mend(lab: Lab, *, timings: dict[str, float] | None = None) -> None:
    """Every part running and answering again: stopped ones started, frozen ones
    continued, network faults' table removed. timings gets each restart's seconds."""
    state = lab.state
    assert state is not None
    lab.clear_net_faults()
    for name, record in list(state.processes.items()):
        process = record.process()
        if process is None:
            log.info("starting %s again for the next cell", name)
            restarted = lab.start_again(name)
            if timings is not None:
                timings[f"restart_{name}"] = round(restarted, 3)
            continue
        if not thawed(process):
            kill(record, signal.SIGCONT)
        wait_until(record, lab.readiness(name), timeout=START_TIMEOUT_S, what=f"{name} healthy")


def _empty_store(lab: Lab) -> None:
    """The previous cell's sessions gone from the store (in-memory and replicated sessions
    stay in their JVMs until they expire: the next cell's users never present their ids)."""
    state = lab.state
    assert state is not None
    kind = state.store["kind"]
    if kind in REDIS_STRATEGIES:
        password = state.store["password"]
        master = lab.topology.redis
        if kind == "redis-sentinel":
            master = stores.sentinel_master(lab.topology.sentinel, password) or master
        stores.client(master, password).flushall()
    elif kind.startswith("memcached"):
        for endpoint in lab.topology.memcached.values():
            _memcached_flush(endpoint.address, endpoint.port)


def _memcached_flush(address: str, port: int) -> None:
    with socket.create_connection((address, port), timeout=2) as conn:
        conn.sendall(b"flush_all\r\n")
        if not conn.recv(64).startswith(b"OK"):
            raise LabError(f"memcached {address}:{port}: flush_all refused")


def copy_log_tails(lab: Lab, offsets: dict[str, int], into: Path) -> None:
    """Each part's log from where it stood when the cell began: one cell's lines only."""
    assert lab.state is not None
    into.mkdir(exist_ok=True)
    for name, record in lab.state.processes.items():
        source = Path(record.log)
        if not source.exists():
            continue
        start = offsets.get(name, 0)
        if start > source.stat().st_size:
            start = 0  # the log was started afresh with its process
        with source.open("rb") as log_file:
            log_file.seek(start)
            (into / f"{name}.log").write_bytes(log_file.read())


def log_offsets(lab: Lab) -> dict[str, int]:
    assert lab.state is not None
    return {
        name: Path(record.log).stat().st_size if Path(record.log).exists() else 0
        for name, record in lab.state.processes.items()
    }
