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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.telemetry import Sampler

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

    def cpu_ms_per_1000(self, requests: int) -> float | None:
        """Generator CPU per 1,000 requests, in milliseconds (None without requests)."""
        return round(self.cpu_s * 1000.0 * 1000.0 / requests, 3) if requests else None


def _reap(pid: int) -> tuple[int, float] | None:
    """(exit code, CPU seconds) once the child has exited, else None."""
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


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
) -> Finished:
    """Run command to its end (at most duration_s + GRACE_S), sampling it and the servers."""
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
        try:
            while (reaped := _reap(proc.pid)) is None:
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
    return Finished(launched, ended, returncode, round(cpu_s, 4), sampler)
