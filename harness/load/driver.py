"""Run a load generator (wrk, Locust) as a child process, sampled by telemetry, and count
the CPU it used exactly.

Why wait4 and not only psutil: psutil reads a process's CPU while it lives, so the last
fraction of a second before it exits is lost; the kernel's rusage of the reaped child
(and of the children it reaped, e.g. Locust's workers) is the whole bill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.load.telemetry import Sampler

POLL_S = 0.05
GRACE_S = 30.0  # beyond its own duration, before a generator that hangs is stopped


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


def run_generator(
    command: Sequence[str],
    *,
    log_path: Path,
    duration_s: float,
    servers: Mapping[str, int],
    generator_cores: int = 1,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    mark: Callable[[int], int | None] | None = None,
) -> Finished:
    """Run command to its end (at most duration_s + GRACE_S), sampling it and the servers.

    mark, if given, is polled with the generator's pid until it returns the generator's
    request count once load flows; the generator's CPU at that moment is kept, to leave
    its start-up out (see load_began)."""
    with log_path.open("wb") as out:
        launched = time.time()
        proc = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            start_new_session=True,
        )
        sampler = Sampler(
            parts={"generator": proc.pid, **servers},
            start_epoch=launched,
            generator_cores=generator_cores,
        )
        sampler.start()
        deadline = time.monotonic() + duration_s + GRACE_S
        stopped = False
        marked: tuple[float, int] | None = None
        try:
            while (reaped := _reap(proc.pid)) is None:
                if mark is not None and marked is None:
                    marked = _mark(proc.pid, mark)
                if not stopped and time.monotonic() > deadline:
                    _stop(proc)
                    stopped = True
                time.sleep(POLL_S)
        except BaseException:
            _stop(proc)
            proc.wait()
            raise
        finally:
            sampler.stop()
        ended = time.time()
    returncode, cpu_s = reaped
    proc.returncode = returncode  # reaped here: Popen must not wait for it again
    if stopped:
        raise RuntimeError(f"{command[0]} ran past {duration_s + GRACE_S:g} s and was stopped")
    return Finished(
        launched,
        ended,
        returncode,
        round(cpu_s, 4),
        sampler,
        mark_cpu_s=round(marked[0], 4) if marked else None,
        mark_requests=marked[1] if marked else None,
    )


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
