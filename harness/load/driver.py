"""The one load driver: run a load generator (wrk, Locust) as a child process, sampled by
telemetry and watched by the cluster's companions and the fault timeline, and count the
CPU it used exactly.

Why wait4 and not only psutil: psutil reads a process's CPU while it lives, so the last
fraction of a second before it exits is lost; the kernel's rusage of the reaped child
(and of the children it reaped, e.g. Locust's workers) is the whole bill.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import psutil

from harness.load.telemetry import Sampler

log = logging.getLogger(__name__)

POLL_S = 0.05
GRACE_S = 30.0  # beyond its own duration, before a generator that hangs is stopped
FIRST_REQUEST_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Finished:
    """One generator run: when it ran, how it ended, what it cost."""

    launched_epoch: float
    ended_epoch: float
    returncode: int
    cpu_s: float  # user + system seconds of the generator and its reaped children
    sampler: Sampler
    # When load began (see run_generator's `mark`): CPU spent and requests done by then.
    mark_cpu_s: float | None = None
    mark_requests: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # from the companions
    interrupted_at_s: float | None = None  # Ctrl-C: the load ended early, by the operator
    flowing_after_s: float | None = None  # launch to the first request (the generator's start)

    def cpu_ms_per_1000(self, requests: int) -> float | None:
        """Generator CPU per 1,000 requests, in milliseconds (None without requests); from
        the mark on when there is one, so a generator's start-up is not billed to load."""
        cpu, done = self.cpu_s, requests
        if self.mark_cpu_s is not None and self.mark_requests is not None:
            cpu, done = cpu - self.mark_cpu_s, requests - self.mark_requests
        return round(cpu * 1000.0 * 1000.0 / done, 3) if done > 0 and cpu >= 0 else None


def _reap(pid: int) -> tuple[int, float] | None:
    """(exit code, CPU seconds) once the child has exited, else None."""
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def _nap(pid: int, seconds: float) -> None:
    """Sleep up to seconds, woken as soon as the child exits (its pidfd turns readable):
    a plain sleep saw the load's end up to POLL_S late."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:  # already reaped, or a kernel without pidfds
        time.sleep(seconds)
        return
    try:
        select.select([fd], [], [], seconds)
    finally:
        os.close(fd)


def _tree_cpu_s(pid: int) -> float | None:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The generator runs in its own session: signal its whole group, never anything else.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return


class Companion(Protocol):
    """Runs beside the load from its launch to its end (the cluster's health checks, JVM
    telemetry, the fault timeline); what it did comes back as fault-log events."""

    def start(self, start_epoch: float) -> None: ...

    def stop(self) -> list[dict[str, Any]]: ...


class Ticking(Companion, Protocol):
    """A companion that acts on the load's clock (the fault timeline), once load flows."""

    def tick(self, elapsed_s: float) -> None: ...


@dataclass
class Load:
    """What runs the load, and what watches it. Only command and log_path are required."""

    command: Sequence[str]
    log_path: Path
    duration_s: float
    servers: Mapping[str, int] = field(default_factory=dict)  # local pids to sample
    generator_cores: int = 1
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    # Polled with the generator's pid until it returns the request count once load flows;
    # the generator's CPU then is kept, so its start-up is not billed to load (load_began).
    mark: Callable[[int], int | None] | None = None
    # Polled until load flows; faults and ticks wait for it, and a generator that exits
    # or stays silent for FIRST_REQUEST_TIMEOUT_S before it fails the run.
    flowing: Callable[[], bool] | None = None
    companions: Sequence[Companion] = ()
    clock: Ticking | None = None
    on_tick: Callable[[float], None] | None = None  # seconds since launch, for progress
    # Ctrl-C ends the load early and is recorded (the caller writes what ran), not raised.
    interruptible: bool = False


@dataclass
class Waiting:
    """A generator launched ahead of its load (see launch_waiting): started up while the
    cluster gets ready, it sends nothing until run_generator creates its gate file."""

    proc: subprocess.Popen[bytes]
    gate: Path
    log: IO[bytes]

    def abandon(self) -> None:
        """Its load will not run, or has run: stopped and reaped unless it already was
        (its pid may be another process's by now), its log closed."""
        if self.proc.returncode is None:
            with contextlib.suppress(ChildProcessError):
                # Reaped by wait4, not by Popen: told, or it warns that its child still runs.
                self.proc.returncode = _stop_and_reap(self.proc)[0]
        self.log.close()


def launch_waiting(
    command: Sequence[str], log_path: Path, gate: Path, *, cwd: Path | None = None
) -> Waiting:
    """Start the generator now; its command must make it wait for gate (Locust's
    --start-gate), so its second of imports overlaps the cluster's start."""
    log_file = log_path.open("wb")
    try:
        proc = _popen(command, log_file, cwd, None)
    except BaseException:
        log_file.close()
        raise
    return Waiting(proc, gate, log_file)


def _popen(
    command: Sequence[str], out: IO[bytes], cwd: Path | None, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        list(command),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        start_new_session=True,
    )


def run_generator(load: Load, waiting: Waiting | None = None) -> Finished:
    """Run the load to its end (at most duration_s + GRACE_S), sampled and watched;
    waiting: the generator launch_waiting started, let go now."""
    with waiting.log if waiting is not None else load.log_path.open("wb") as out:
        if waiting is not None:
            run = _Running(load, waiting.proc)
        else:
            launched = time.time()
            run = _Running(load, _popen(load.command, out, load.cwd, load.env), launched)
        returncode, cpu_s = run.wait(waiting)
        ended = time.time()
    run.proc.returncode = returncode  # reaped here: Popen must not wait for it again
    assert run.launched is not None
    return Finished(
        run.launched,
        ended,
        returncode,
        round(cpu_s, 4),
        run.sampler,
        mark_cpu_s=round(run.marked[0], 4) if run.marked else None,
        mark_requests=run.marked[1] if run.marked else None,
        events=run.events,
        interrupted_at_s=run.interrupted_at_s,
        flowing_after_s=run.flowing_after_s,
    )


class _Running:
    """One generator from the moment the driver owns it: its launch, its sampler and
    watchers, the poll loop that reaps it, marks, ticks and enforces its deadlines."""

    def __init__(
        self, load: Load, proc: subprocess.Popen[bytes], launched: float | None = None
    ) -> None:
        self.load, self.proc, self.launched = load, proc, launched
        self.sampler = Sampler(
            parts={"generator": proc.pid, **load.servers},
            start_epoch=launched or 0.0,  # a waiting generator's: at its gate's opening
            generator_cores=load.generator_cores,
        )
        self.events: list[dict[str, Any]] = []
        self.marked: tuple[float, int] | None = None
        self.interrupted_at_s: float | None = None
        self._flowing = load.flowing is None
        self.flowing_after_s: float | None = 0.0 if self._flowing else None

    def wait(self, waiting: Waiting | None) -> tuple[int, float]:
        """Let the waiting generator go, if there is one, and run the load to its end. A
        Ctrl-C anywhere from here on stops the generator: one that came as the sampler or a
        watcher started, just after the load began, left Locust running on its own and its
        run with no results."""
        watchers = [*self.load.companions, *([self.load.clock] if self.load.clock else [])]
        started: list[Companion] = []
        sampling = False
        try:
            if waiting is not None:
                self._let_go(waiting)
            assert self.launched is not None
            self.sampler.start_epoch = self.launched
            sampling = True
            self.sampler.start()
            for watcher in watchers:
                started.append(watcher)
                watcher.start(self.launched)
            reaped = self._loop()
        except KeyboardInterrupt:
            if not self.load.interruptible or self.launched is None:
                _stop(self.proc)
                self.proc.wait()
                raise
            self.interrupted_at_s = round(time.time() - self.launched, 3)
            log.warning(
                "interrupted at %.1f s: writing the results of what ran", self.interrupted_at_s
            )
            return _stop_and_reap(self.proc)
        except BaseException:
            _stop(self.proc)
            self.proc.wait()
            raise
        finally:
            if sampling:
                self.sampler.stop()
            self.events = [event for watcher in started for event in watcher.stop()]
        if not self._flowing:
            raise RuntimeError(f"{self.load.command[0]} exited early with code {reaped[0]}")
        return reaped

    def _let_go(self, waiting: Waiting) -> None:
        """The load's time zero: its gate's opening."""
        reaped = _reap(self.proc.pid)
        if reaped is not None:
            self.proc.returncode = reaped[0]
            raise RuntimeError(
                f"{self.load.command[0]} exited with code {reaped[0]} while it waited for the "
                "cluster"
            )
        self.launched = time.time()
        waiting.gate.touch()

    def _loop(self) -> tuple[int, float]:
        load = self.load
        deadline = time.monotonic() + load.duration_s + GRACE_S
        first_by = time.monotonic() + FIRST_REQUEST_TIMEOUT_S
        stopped = False
        while (reaped := _reap(self.proc.pid)) is None:
            if not self._flowing:
                self._wait_for_load(first_by)
            else:
                assert self.launched is not None
                elapsed = time.time() - self.launched
                if load.clock is not None:
                    load.clock.tick(elapsed)
                if load.on_tick is not None:
                    load.on_tick(elapsed)
            if load.mark is not None and self.marked is None:
                self.marked = _mark(self.proc.pid, load.mark)
            if not stopped and time.monotonic() > deadline:
                _stop(self.proc)
                stopped = True
            _nap(self.proc.pid, POLL_S)
        if stopped:
            raise RuntimeError(
                f"{load.command[0]} ran past {load.duration_s + GRACE_S:g} s and was stopped"
            )
        return reaped

    def _wait_for_load(self, first_by: float) -> None:
        assert self.load.flowing is not None
        self._flowing = self.load.flowing()
        if self._flowing:
            assert self.launched is not None
            self.flowing_after_s = round(time.time() - self.launched, 3)
        if not self._flowing and time.monotonic() > first_by:
            raise RuntimeError(
                f"{self.load.command[0]} made no request within {FIRST_REQUEST_TIMEOUT_S:.0f} s"
            )


def _stop_and_reap(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGTERM (Locust stops its users and writes their last records), SIGKILL after
    STOP_TIMEOUT_S; the child is reaped either way, so its CPU is still counted."""
    _stop(proc)
    by = time.monotonic() + STOP_TIMEOUT_S
    while (reaped := _reap(proc.pid)) is None:
        if time.monotonic() > by:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime
        _nap(proc.pid, POLL_S)
    return reaped


def _mark(pid: int, mark: Callable[[int], int | None]) -> tuple[float, int] | None:
    """(CPU so far, requests so far) once mark() reports load."""
    requests = mark(pid)
    if requests is None:
        return None
    cpu = _tree_cpu_s(pid)
    return None if cpu is None else (cpu, requests)


def load_began(pid: int) -> int | None:
    """A mark for any generator: 0 requests once its first TCP connection is open.

    Before that it only started up (Locust imports for about a second); from then on its
    CPU is the load's. Its first requests may already be on the way: a few at most."""
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for proc in procs:
            if any(c.status == psutil.CONN_ESTABLISHED for c in proc.net_connections("tcp")):
                return 0
    except psutil.Error:
        return None
    return None
