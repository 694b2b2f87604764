"""Each part of one's own cluster, as a fault and a restore reach it over SSH.

A node is found by its pid file (CATALINA_PID, which the harness sets whenever it starts
Tomcat) or else by the `-Dcatalina.base=` of its java process; it is stopped and started
by its systemd unit or by catalina.sh. A store is its systemd unit or a start command
with its pid file. The balancer is reloaded by its own command.
"""

from __future__ import annotations

import re
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from harness.cluster import LANDED_AT, LANDED_BY
from harness.cluster.errors import ClusterError
from harness.cluster.remote.hosts import CommandResult, Host
from harness.config.inventory import InventoryBalancer, InventoryNode, InventoryStore

HEALTH_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20  # a graceful stop longer than this is finished with SIGKILL


def _checked(
    host: Host, argv: list[str], what: str, *, env: dict[str, str] | None = None
) -> CommandResult:
    done = host.run(argv, env=env)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise ClusterError(
            f"{host.name}: {what} failed: {said[-1] if said else f'exit {done.returncode}'}"
        )
    return done


# The host's clock, printed around a fault's command (bracketed).
PRINT_EPOCH = "date +%s.%N"


def bracketed(command: str) -> str:
    """command between two readings of the host's clock: its effect lies between them.
    Why not only the second: printing it takes a date process, 5 ms and more on a loaded
    host, and CI saw replies the kill had moved to node2 arrive before it, judged as lost
    before the fault."""
    return f"{PRINT_EPOCH} && {command} && {PRINT_EPOCH}"


def landing_printed(text: str) -> dict[str, float]:
    """A bracketed fault's two clock readings as deliver()'s steps: LANDED_AT the first
    (the window opens no later than the effect), LANDED_BY the second. Nothing for a date
    with no %N (busybox): the caller's own bounds stand."""
    try:
        before, after = (float(word) for word in text.split())
    except ValueError:
        return {}
    return {LANDED_AT: before, LANDED_BY: after}


def _alive(host: Host, pid: int) -> bool:
    return host.run(["kill", "-0", str(pid)]).returncode == 0


def _pid_in(host: Host, text: str | None) -> int | None:
    if not text or not text.strip().isdigit():
        return None
    pid = int(text.strip())
    return pid if _alive(host, pid) else None


def _signal(host: Host, pid: int | None, name: str, missing: str) -> dict[str, float]:
    """The signal sent, bracketed by the host's clock (landing_printed): over SSH, finding
    the pid and sending it take round trips the fault's window must not include."""
    if pid is None:
        raise ClusterError(f"{missing} to send SIG{name} to")
    done = _checked(
        host,
        ["sh", "-c", bracketed(f'kill -{name} "$1"'), "sh", str(pid)],
        f"kill -{name} {pid}",
    )
    return landing_printed(done.stdout)


def _signal_part(
    host: Host,
    pid_file: PurePosixPath | None,
    name: str,
    find_pid: Callable[[], int | None],
    missing: str,
) -> dict[str, float]:
    """The signal sent to a node's or store's process; when it landed (landing_printed). First to
    the pid its file names, in one round trip; find_pid's search only when the file names
    no process. Three round trips (read the file, check the pid, send) made a kill land
    2.7-4.1 s after it was asked for on the SSH testbed under load, most of a 12 s run."""
    if pid_file is not None:
        script = 'pid=$(cat "$1") && [ -n "$pid" ] && ' + bracketed(f'kill -{name} "$pid"')
        done = host.run(["sh", "-c", script, "sh", str(pid_file)])
        if done.returncode == 0:
            return landing_printed(done.stdout)
    return _signal(host, find_pid(), name, missing)


def _systemd_pid(host: Host, unit: str) -> int | None:
    done = host.run(["systemctl", "show", "--property=MainPID", "--value", unit])
    text = done.stdout.strip()
    return int(text) if done.returncode == 0 and text.isdigit() and int(text) > 0 else None


def wait_until(ready: Callable[[], bool], *, what: str, timeout_s: float) -> float:
    """Seconds until ready() held; ClusterError naming `what` after timeout_s."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if ready():
            return time.monotonic() - began
        time.sleep(0.25)
    raise ClusterError(f"{what}: not ready after {timeout_s:.0f} s")


def answers(url: str, *, below: int = 500) -> bool:
    """Does the URL give a reply with a status below `below` (from this machine)?"""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 (inventory URL)
            return bool(reply.status < below)
    except urllib.error.HTTPError as error:
        return error.code < below
    except OSError:
        return False


@dataclass
class RemoteNode:
    """A Tomcat node on its own host."""

    node: InventoryNode
    host: Host

    @property
    def name(self) -> str:
        return self.node.name

    def _env(self) -> dict[str, str]:
        return {
            "CATALINA_HOME": self.node.catalina_home,
            "CATALINA_BASE": str(self.node.base),
            "CATALINA_PID": str(self.node.pid_file),
        }

    def pid(self) -> int | None:
        if self.node.service:
            return _systemd_pid(self.host, self.node.service)
        found = _pid_in(self.host, self.host.read_text(self.node.pid_file))
        if found is not None:
            return found
        # Started by someone else: its java process names its CATALINA_BASE.
        pattern = f"-Dcatalina\\.base={re.escape(str(self.node.base))}( |$)"
        done = self.host.run(["pgrep", "-f", "--", pattern])
        pids = [int(p) for p in done.stdout.split() if p.isdigit()]
        return pids[0] if len(pids) == 1 else None

    def signal(self, name: str) -> dict[str, float]:
        """Send SIGKILL, SIGSTOP or SIGCONT to the node's JVM; when it landed (as steps)."""
        pid_file = None if self.node.service else self.node.pid_file
        return _signal_part(self.host, pid_file, name, self.pid, f"{self.name}: no running JVM")

    def stop(self) -> None:
        """Graceful: Tomcat's shutdown hooks run; SIGKILL after STOP_TIMEOUT_S."""
        if self.node.service:
            _checked(self.host, ["systemctl", "stop", self.node.service], "systemctl stop")
            return
        if self.pid() is None:
            return
        catalina = f"{self.node.catalina_home}/bin/catalina.sh"
        self.host.run([catalina, "stop", str(STOP_TIMEOUT_S), "-force"], env=self._env())

    def start(self) -> float:
        """Start it (if it is not running) and wait until it answers; seconds taken."""
        began = time.monotonic()
        if self.pid() is None:
            if self.node.service:
                _checked(self.host, ["systemctl", "start", self.node.service], "systemctl start")
            else:
                # A pid file of a JVM that died (SIGKILL) would make catalina.sh refuse.
                self.host.run(["rm", "-f", str(self.node.pid_file)])
                catalina = f"{self.node.catalina_home}/bin/catalina.sh"
                _checked(self.host, [catalina, "start"], "catalina.sh start", env=self._env())
        self.wait_healthy()
        return time.monotonic() - began

    def wait_healthy(self, url: str | None = None) -> None:
        target = url or self.node.url

        def ready() -> bool:
            if self.pid() is None:
                raise ClusterError(f"{self.name}: the JVM exited during start (see catalina.out)")
            return answers(target)

        wait_until(ready, what=f"{self.name} at {target}", timeout_s=HEALTH_TIMEOUT_S)

    def restart(self) -> float:
        self.stop()
        return self.start()


@dataclass
class RemoteStore:
    """A session store on its own host."""

    store: InventoryStore
    host: Host

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def port(self) -> int:
        return int(self.store.address.rpartition(":")[2])

    def pid(self) -> int | None:
        if self.store.pid_file:
            return _pid_in(self.host, self.host.read_text(PurePosixPath(self.store.pid_file)))
        return _systemd_pid(self.host, self.store.unit())

    def signal(self, name: str) -> dict[str, float]:
        pid_file = PurePosixPath(self.store.pid_file) if self.store.pid_file else None
        missing = f"{self.name}: no running {self.store.kind}"
        return _signal_part(self.host, pid_file, name, self.pid, missing)

    def stop(self) -> None:
        if self.store.start is None:
            _checked(self.host, ["systemctl", "stop", self.store.unit()], "systemctl stop")
            return
        pid = self.pid()
        if pid is not None:
            self.host.run(["kill", "-TERM", str(pid)])
            wait_until(
                lambda: not _alive(self.host, pid), what=f"{self.name} stopping", timeout_s=20
            )

    def listening(self) -> bool:
        done = self.host.run(["ss", "-Hltn", f"sport = :{self.port}"])
        return done.returncode == 0 and bool(done.stdout.strip())

    def start(self) -> float:
        began = time.monotonic()
        if self.pid() is None:
            if self.store.start is None:
                _checked(self.host, ["systemctl", "start", self.store.unit()], "systemctl start")
            else:
                _checked(self.host, ["sh", "-c", self.store.start], f"start {self.name}")
        wait_until(self.listening, what=f"{self.name} on port {self.port}", timeout_s=30)
        return time.monotonic() - began


@dataclass
class RemoteBalancer:
    balancer: InventoryBalancer
    host: Host

    @property
    def name(self) -> str:
        return self.balancer.name

    def reload(self) -> None:
        command = self.balancer.reload_command()
        _checked(self.host, ["sh", "-c", command], f"reload ({shlex.quote(command)})")
