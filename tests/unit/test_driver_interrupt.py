"""A Ctrl-C in the moment the load begins, as the sampler and the watchers start, stops
the generator and, for an interruptible load, still returns what ran. (CI once saw it
leave Locust running on its own for its whole minute, and the run with no run.json.)

The generator here is a real child process waiting at its gate file like Locust's
--start-gate; the Ctrl-C is a KeyboardInterrupt raised by a watcher's start, where the
signal handler would raise it. The last test's generator is a real Locust at its gate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cluster import EarlyEntry
from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan, _EarlyLocust
from harness.load.driver import Load, launch_waiting, run_generator

# Waits for its gate as Locust does, then "loads" until it is stopped (at most 60 s).
GATED = (
    "import os, sys, time\n"
    "while not os.path.exists(sys.argv[1]): time.sleep(0.01)\n"
    "time.sleep(60)\n"
)


class CtrlCAtStart:
    """A watcher whose start is where the Ctrl-C lands; it records whether it was stopped."""

    def __init__(self) -> None:
        self.stopped = False

    def start(self, start_epoch: float) -> None:
        raise KeyboardInterrupt

    def stop(self) -> list[dict[str, Any]]:
        self.stopped = True
        return []


def _gated_load(tmp_path: Path, *, interruptible: bool) -> tuple[Load, Any, CtrlCAtStart]:
    gate = tmp_path / "gate"
    command = [sys.executable, "-c", GATED, str(gate)]
    waiting = launch_waiting(command, tmp_path / "generator.log", gate)
    watcher = CtrlCAtStart()
    load = Load(
        command=command,
        log_path=tmp_path / "generator.log",
        duration_s=60,
        companions=[watcher],
        interruptible=interruptible,
    )
    return load, waiting, watcher


def _left_running(waiting: Any) -> bool:
    """Whether the run left the generator running; if it did, it is ended here."""
    try:
        if psutil.Process(waiting.proc.pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return False
    waiting.proc.kill()
    waiting.proc.wait()
    return True


def test_an_interruptible_load_cut_as_it_begins_stops_its_generator_and_returns(
    tmp_path: Path,
) -> None:
    load, waiting, watcher = _gated_load(tmp_path, interruptible=True)
    try:
        finished = run_generator(load, waiting)
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C escaped an interruptible load: no results would be written")
    finally:
        left_running = _left_running(waiting)
    assert not left_running
    assert finished.interrupted_at_s is not None and finished.interrupted_at_s >= 0
    assert (tmp_path / "gate").exists()  # the load had begun: what ran is a run
    assert watcher.stopped


def test_a_load_that_is_not_interruptible_stops_its_generator_and_raises(
    tmp_path: Path,
) -> None:
    load, waiting, watcher = _gated_load(tmp_path, interruptible=False)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_generator(load, waiting)
    finally:
        left_running = _left_running(waiting)
    assert not left_running
    assert watcher.stopped


def test_an_early_locust_handed_to_a_load_that_never_ran_is_still_stopped(
    tmp_path: Path,
) -> None:
    """A Ctrl-C in the instant between the hand-over (take) and the driver's first step:
    run_bench's last word, abandon(), stops the Locust no load reaped. (A real Locust,
    waiting at its gate; it sends nothing, so no lab is needed.)"""
    plan = BenchPlan(
        profile=load_profile("best-practice"),
        cluster=LabSpec(topology=Topology(net="127.0.241", run_dir=tmp_path / "lab")),
        duration_s=5,
        results_dir=tmp_path / "results",
    )
    early = _EarlyLocust(plan, EarlyEntry("http://127.0.241.10:8080"))
    waiting = early.take()
    early.abandon()
    assert not _left_running(waiting)
    assert early.run_dir.is_dir()  # taken: the load owns the folder, abandon leaves it
