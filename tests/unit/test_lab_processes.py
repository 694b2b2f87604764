"""The lab knows a server it started by its pid and its start, whatever the wall clock
does: a real process, started and stopped the lab's way."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psutil._pslinux
import pytest

from harness.cluster.lab.processes import ProcessRecord, start, stop


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[ProcessRecord]:
    record = start(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "log"
    )
    try:
        yield record
    finally:
        if psutil.pid_exists(record.pid):
            psutil.Process(record.pid).kill()
            stop(record)


def test_a_stepped_wall_clock_leaves_the_labs_servers_known_and_stopped(
    sleeper: ProcessRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A step of the wall clock moves the boot time psutil adds to each process's start
    # (/proc/stat's btime); here the machine's VM was paused mid-run, and lab down then
    # took every server for gone and left them all running. The clock itself cannot be
    # stepped in a test, so psutil's boot time is moved instead: 2 s, as a step would.
    booted = psutil._pslinux.boot_time()
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: booted + 2.0)
    assert psutil.Process(sleeper.pid).create_time() - sleeper.create_time > 1.9
    assert sleeper.process() is not None
    stop(sleeper, grace=5)
    assert sleeper.process() is None
    assert not psutil.pid_exists(sleeper.pid)


def test_a_lab_recorded_before_start_ticks_were_kept_is_known_by_its_start_time(
    sleeper: ProcessRecord,
) -> None:
    older = sleeper.to_json()
    del older["started_ticks"]
    record = ProcessRecord.from_json(older)
    assert record.started_ticks is None
    assert record.process() is not None
    moved = ProcessRecord.from_json({**older, "create_time": sleeper.create_time - 5})
    assert moved.process() is None  # another start, another process
