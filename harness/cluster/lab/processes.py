"""Start, watch and stop the lab's server processes, by pid and only our own.

Each server runs in its own session (process group), so stopping it also stops
the workers it forked (nginx) and a Ctrl-C in the terminal reaches only the
harness, which then stops the servers in order. A pid is trusted only together
with the process's start time: a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field

from harness import commands
from harness.cluster.endpoints import Endpoint
from harness.cluster.errors import ClusterError

log = logging.getLogger(__name__)

# How often wait_until asks whether a part is ready. Every lab up waits through several such
# polls (each node, then the balancer): at 0.1 s they cost 0.1-0.15 s of every start; a
# health check on loopback costs about a millisecond.
READY_POLL_S = 0.02
SIGNAL_SETTLE_S = 5.0

# Servers started by this harness process, by pid: holding the Popen keeps Python
# from warning about a running child and lets stop() collect its exit status.
_children: dict[int, subprocess.Popen[bytes]] = {}


class LabError(ClusterError):
    """The lab could not be brought to the state asked for; the message says why."""


class ProcessRecord(BaseModel):
    """What the lab remembers of a server it started (kept in lab.json): enough to stop
    it by pid, and to start it again the same way after a fault."""

    model_config = ConfigDict(frozen=True)

    name: str
    pid: int
    create_time: float
    log: str
    # The log's size when this lab first started the part: the lines before it are an
    # earlier lab's (a log is appended to, so a restart's lines follow its first start's).
    log_from: int = 0
    # When it started, in clock ticks since boot: what tells it from a later process with
    # its pid. None in a lab.json written before it was kept (create_time is checked then).
    started_ticks: int | None = None
    endpoints: tuple[tuple[str, int], ...] = ()
    argv: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)  # only what the lab adds, no secrets
    cwd: str | None = None
    group: str | None = None  # the cgroup.procs file it was started in (network faults)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls.model_validate(data)

    def process(self) -> psutil.Process | None:
        """The live process, or None if it is gone or the pid now belongs to another."""
        try:
            proc = psutil.Process(self.pid)
            if self.started_ticks is not None:
                if started_ticks(self.pid) != self.started_ticks:
                    return None
            elif abs(proc.create_time() - self.create_time) > 0.05:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            return None


def started_ticks(pid: int) -> int:
    """When the process started, in clock ticks since boot (/proc/PID/stat, field 22).
    psutil's create_time adds the boot time in epoch seconds, which moves whenever the
    wall clock is stepped (NTP, a VM paused and resumed): compared with a recorded one,
    every server looked gone, and lab down left them all running."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The name (field 2) is in parentheses and may hold spaces: count from its end.
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def who_listens(endpoint: Endpoint) -> str:
    """A short description of the process holding an address, if we may see it."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if (
                conn.status == psutil.CONN_LISTEN
                and conn.laddr
                and conn.laddr.port == endpoint.port
                and conn.laddr.ip in (endpoint.address, "0.0.0.0", "::")  # noqa: S104
            ):
                if conn.pid:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return "another process"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return "another process"


def ensure_free(endpoint: Endpoint, what: str) -> None:
    """Fail with a clear message if something already listens where a server must."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Without SO_REUSEADDR a closed server's TIME_WAIT sockets don't count as taken,
        # matching what Tomcat, nginx and Redis themselves do when they bind.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((endpoint.address, endpoint.port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise LabError(
                    f"{what}: {endpoint} is already in use by {who_listens(endpoint)}; "
                    "stop it or choose another address (--net)"
                ) from None
            raise LabError(f"{what}: cannot bind {endpoint}: {error.strerror}") from None


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# Set while a lab comes up: where each server it starts gets a cgroup of its own (a
# function of the server's name giving its cgroup.procs file), for network faults.
_GROUPS: ContextVar[Callable[[str], Path] | None] = ContextVar("lab_groups", default=None)


@contextmanager
def grouped(place: Callable[[str], Path] | None) -> Iterator[None]:
    """Servers started inside this block start in their own cgroups (place(name))."""
    token = _GROUPS.set(place)
    try:
        yield
    finally:
        _GROUPS.reset(token)


def in_group(argv: Sequence[str], procs_file: Path) -> list[str]:
    """argv started inside a cgroup: the shell joins it, then becomes the server (same
    pid), so every socket and child the server makes belongs to the group. A group that
    cannot be joined (no permission) does not stop the server: a network fault checks
    membership before it relies on it (see netfaults.member_of)."""
    return ["sh", "-c", '{ echo $$ > "$0"; } 2>/dev/null; exec "$@"', str(procs_file), *argv]


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    endpoints: Sequence[Endpoint] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    group: Path | None = None,
) -> ProcessRecord:
    """Start a server in its own session, its output appended to log_path (and in its own
    cgroup, when one is given or the lab coming up places its servers in groups)."""
    for endpoint in endpoints:
        ensure_free(endpoint, name)
    place = _GROUPS.get()
    group = group if group is not None else (place(name) if place else None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        log_from = out.tell()
        try:
            proc = subprocess.Popen(
                in_group(argv, group) if group else list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise commands.not_found(argv[0]) from None
    _children[proc.pid] = proc
    record = ProcessRecord(
        name=name,
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        started_ticks=started_ticks(proc.pid),
        log=str(log_path),
        log_from=log_from,
        endpoints=tuple((e.address, e.port) for e in endpoints),
        argv=tuple(argv),
        env=dict(env or {}),
        cwd=str(cwd) if cwd else None,
        group=str(group) if group else None,
    )
    log.debug("started %s pid %d: %s", name, proc.pid, " ".join(argv))
    return record


def wait_until(
    record: ProcessRecord,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
) -> float:
    """Poll ready() until it holds; fail early if the process dies. Returns seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if record.process() is None:
            raise LabError(
                f"{record.name} exited while starting ({what}); last lines of {record.log}:\n"
                + tail(Path(record.log))
            )
        if ready():
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise LabError(
                f"{record.name} did not become ready within {timeout:.0f} s ({what}); "
                f"last lines of {record.log}:\n" + tail(Path(record.log))
            )
        time.sleep(READY_POLL_S)


def _signal_group(proc: psutil.Process, sig: signal.Signals) -> None:
    try:
        # Our servers lead their own session, so the group is theirs alone.
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, psutil.NoSuchProcess):
        pass


_STOPPED = frozenset("tT")  # a thread's state: stopped by a signal, or by a tracer


def frozen(proc: psutil.Process) -> bool:
    """Stopped by SIGSTOP (a fault), every thread of it: it cannot act on anything until
    SIGCONT. The process's own status is its first thread's only: a JVM's first thread
    waits in a join and stops at once, while a worker on the other core may still write a
    reply (seen once in the suite, 1.6 ms after the stop was asked)."""
    states = _thread_states(proc)
    return bool(states) and all(s in _STOPPED for s in states)


def thawed(proc: psutil.Process) -> bool:
    """No thread of it stopped: it runs (or is gone)."""
    return not any(s in _STOPPED for s in _thread_states(proc))


def _thread_states(proc: psutil.Process) -> list[str]:
    """The state letter of each live thread (/proc/PID/task/TID/stat): psutil reads a
    process's status from its first thread only."""
    states = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                stat = (task / "stat").read_text()
                state = stat[stat.rindex(")") + 2]
                if state not in "ZX":  # a thread on its way out acts on nothing
                    states.append(state)
    return states


def _group_members(proc: psutil.Process) -> list[psutil.Process]:
    members = [proc]
    with contextlib.suppress(psutil.NoSuchProcess):
        members += proc.children(recursive=True)
    return members


def stop(record: ProcessRecord, *, grace: float = 10.0) -> None:
    """SIGTERM the server's group, then SIGKILL whatever is left after grace seconds."""
    proc = record.process()
    if proc is None:
        _reap(record.pid)  # stopped by someone else (another harness process): collect it
        return
    members = _group_members(proc)
    _signal_group(proc, signal.SIGTERM)
    # A server a fault left stopped (SIGSTOP) cannot act on SIGTERM until it runs again.
    _signal_group(proc, signal.SIGCONT)
    alive = _wait_gone(members, grace)
    if alive:
        log.warning("%s did not stop within %.0f s; killing it", record.name, grace)
        _signal_group(proc, signal.SIGKILL)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=5)
    _reap(record.pid)


def _wait_gone(members: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The members still running after timeout. A zombie counts as gone: a server started
    by another harness process (`lab up`, then `lab down`) is no child of this one, and
    psutil.wait_procs waited until init reaped it, about 2 s per server."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [m for m in members if _running(m)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our child, so no zombie is left."""
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def start_again(record: ProcessRecord) -> ProcessRecord:
    """Start a stopped server exactly as it was started before (a fault's restore)."""
    if not record.argv:
        raise LabError(f"{record.name}: no command recorded to start it again")
    return start(
        record.name,
        record.argv,
        log_path=Path(record.log),
        endpoints=[Endpoint(a, p) for a, p in record.endpoints],
        env=record.env,
        cwd=Path(record.cwd) if record.cwd else None,
        group=Path(record.group) if record.group else None,
    )


def kill(record: ProcessRecord, sig: signal.Signals = signal.SIGKILL) -> float:
    """Send a fault signal to the server's whole group (a SIGKILL takes workers along);
    the epoch it was seen to have taken effect at."""
    proc = record.process()
    if proc is None:
        raise LabError(f"{record.name} (pid {record.pid}) is not running")
    _signal_group(proc, sig)
    if sig == signal.SIGKILL:
        # No thread runs again once the call returns; the process is gone only once the
        # kernel has freed its memory (0.16 s for 3 GB here), and a request that failed
        # meanwhile failed by this kill: its window opens now.
        landed = time.time()
        psutil.wait_procs([proc], timeout=5)
        _reap(record.pid)
        return landed
    if sig in (signal.SIGSTOP, signal.SIGCONT):
        # Both take effect a little after the call, once every thread has acted on them
        # (a JVM has dozens): the fault is delivered when the server is seen so.
        _await_frozen(record, proc, sig == signal.SIGSTOP)
    return time.time()


def _await_frozen(record: ProcessRecord, proc: psutil.Process, wanted: bool) -> None:
    deadline = time.monotonic() + SIGNAL_SETTLE_S
    while not (frozen(proc) if wanted else thawed(proc)):
        if not proc.is_running():
            return  # gone meanwhile: nothing left to stop or run
        if time.monotonic() > deadline:
            state = "stopped" if wanted else "running again"
            raise LabError(
                f"{record.name} (pid {record.pid}) not {state} after {SIGNAL_SETTLE_S:.0f} s"
            )
        time.sleep(0.001)
