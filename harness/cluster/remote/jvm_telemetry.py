"""Each node's pool, heap and GC while the load runs, read on the node's own host.

The lab's JvmSampler runs one streaming JvmProbe per node here; on one's own cluster the
same probe runs on the node (over SSH, on a connection of its own, so faults and CPU
readings on that host never wait behind it) and prints one reading a second until it is
stopped. A node restarted by a fault loses its probe with its JVM; the next probe starts
on the new pid. Readings keep the node's own clock (t_ms): hosts kept in time by NTP
agree to milliseconds, well inside a one-second reading.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.cluster.jvm import JvmReadError, probe_command
from harness.cluster.remote import jvm as remote_jvm
from harness.cluster.remote.hosts import Host, HostError
from harness.cluster.remote.parts import RemoteNode
from harness.config.inventory import InventoryNode

log = logging.getLogger(__name__)

EVERY_MS = 1000
MAX_READINGS = 24 * 3600
RETRY_S = 2.0
READY_TIMEOUT_S = 20.0
STOP_ROUNDS = 10
Reading = tuple[str, dict[str, Any]]  # (node, one JvmProbe reading)


class RemoteJvmSampler:
    """The companion: one streaming probe per node, on the node's host."""

    def __init__(
        self,
        nodes: list[InventoryNode],
        host: Callable[[InventoryNode], Host],
        own_host: Callable[[InventoryNode], Host],
    ) -> None:
        # host(node): the cluster's shared connection; own_host(node): a new one.
        self.nodes, self._host, self._own_host = nodes, host, own_host
        self.readings: list[Reading] = []
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready: dict[str, threading.Event] = {}
        self._since_ms = 0.0  # the load's launch, on the nodes' clocks (kept by NTP)

    def _pid_file(self, node: InventoryNode) -> str:
        return str(remote_jvm.node_jmx(node).folder / "probe.pid")

    def before_load(self) -> None:
        """Every node's probe started and its first reading in (or its attempt over: a node
        down, a JMX error), so the readings cover the load from its first second. Begun
        with the load, a probe over SSH gave its first reading 3-5 s into it: the node's
        pid, its JMX agent checked, a JVM started on its host."""
        self._begin()
        deadline = time.monotonic() + READY_TIMEOUT_S
        for name, ready in self._ready.items():
            if not ready.wait(max(0.0, deadline - time.monotonic())):
                log.warning("%s: no JVM reading in %.0f s; the load starts", name, READY_TIMEOUT_S)

    def start(self, start_epoch: float) -> None:
        """Readings from the load's launch until stop(), begun now unless before_load did."""
        self._since_ms = start_epoch * 1000
        if not self._threads:
            self._begin()

    def _begin(self) -> None:
        self.readings, self._threads, self._stop = [], [], threading.Event()
        self._ready = {node.name: threading.Event() for node in self.nodes}
        for node in self.nodes:
            thread = threading.Thread(
                target=self._sample, args=(node,), name=f"jvm-{node.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _sample(self, node: InventoryNode) -> None:
        connection = self._own_host(node)
        try:
            while not self._stop.is_set():
                try:
                    self._stream(node, connection)
                except (HostError, JvmReadError) as error:
                    self.errors[node.name] = str(error)
                    log.debug("%s: JVM telemetry: %s", node.name, error)
                finally:
                    self._ready[node.name].set()  # this attempt is over
                self._stop.wait(RETRY_S)
        finally:
            connection.close()

    def _stream(self, node: InventoryNode, connection: Host) -> None:
        """One probe's readings, until it is stopped or its JVM goes (a fault)."""
        pid = RemoteNode(node, self._host(node)).pid()
        if pid is None:
            return  # down: its gap in the readings is the signal
        jmx = remote_jvm.node_jmx(node)
        credentials = remote_jvm.prepare_probe(self._host(node), pid, jmx)
        argv = probe_command(
            jmx.address, jmx.port, every_ms=EVERY_MS, count=MAX_READINGS, classes=jmx.classes
        )
        # Its pid in a file, so stop() can end it from the cluster's own connection.
        script = f"echo $$ > {shlex.quote(self._pid_file(node))} && exec {shlex.join(argv)}"
        if self._stop.is_set():
            return
        taken = 0

        def take(line: str) -> None:
            nonlocal taken
            try:
                reading = json.loads(line)
            except json.JSONDecodeError:
                return
            if isinstance(reading, dict) and "t_ms" in reading:
                with self._lock:
                    self.readings.append((node.name, reading))
                taken += 1
                self._ready[node.name].set()

        status = connection.stream(["sh", "-c", script], stdin=credentials + "\n", on_line=take)
        if taken == 0 and not self._stop.is_set():
            raise JvmReadError(f"{node.name}: JvmProbe ended ({status}) before its first reading")

    def _end_probes(self) -> None:
        for node in self.nodes:
            pid_file = shlex.quote(self._pid_file(node))
            try:
                self._host(node).run(
                    ["sh", "-c", f"[ -s {pid_file} ] && kill $(cat {pid_file}); rm -f {pid_file}"]
                )
            except HostError as error:
                log.warning("%s: cannot end its JVM probe: %s", node.name, error)

    def stop(self) -> list[dict[str, Any]]:
        """The probes ended; readings taken before the load's launch dropped (idempotent:
        the cluster's down() calls it too, in case the load never began)."""
        if not self._threads:
            return []
        self._stop.set()
        # Again while any thread runs: a probe that was starting as the run ended wrote
        # its pid file only after the first round.
        for _ in range(STOP_ROUNDS):
            self._end_probes()
            for thread in self._threads:
                thread.join(timeout=1.0)
            if not any(t.is_alive() for t in self._threads):
                break
        else:
            log.warning("JVM probes still running after %d s", STOP_ROUNDS)
        self._threads = []
        with self._lock:
            self.readings = [r for r in self.readings if r[1]["t_ms"] >= self._since_ms]
        return []
