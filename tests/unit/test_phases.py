"""A bench's phases: the command's own start is counted in the wall, and in no phase after."""

from __future__ import annotations

import time

import psutil

from harness.cli.bench import command_age_s
from harness.load.bench import Phases


def test_the_wait_before_a_bench_is_its_start_phase_and_in_its_wall() -> None:
    phases = Phases(waited_before_s=1.5)
    time.sleep(0.05)
    phases.end("lab_up")
    assert phases.seconds["start"] == 1.5
    assert 0.05 <= phases.seconds["lab_up"] < 1.0  # not the start again
    assert phases.wall_s() >= 1.55


def test_a_bench_after_the_first_has_no_start_phase() -> None:
    phases = Phases()
    phases.end("lab_up")
    assert "start" not in phases.seconds
    assert phases.wall_s() < 1.0


def test_the_command_age_is_this_process_age() -> None:
    # psutil's reading is right to within its boot time, rounded to the second.
    by_psutil = time.time() - psutil.Process().create_time()
    age = command_age_s()
    assert age > 0
    assert abs(age - by_psutil) < 1.5
