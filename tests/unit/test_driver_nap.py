"""The driver's poll loop wakes when its generator exits, not at the end of its nap."""

from __future__ import annotations

import subprocess
import sys
import time

from harness.load.driver import _nap, _reap


def test_a_nap_ends_when_the_child_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    began = time.monotonic()
    _nap(child.pid, 30.0)
    # Not a speed target: a nap that slept its 30 s through did not see the exit.
    assert time.monotonic() - began < 30.0
    reaped = _reap(child.pid)
    assert reaped is not None and reaped[0] == 0
    child.returncode = reaped[0]  # reaped here, as the driver does


def test_a_nap_after_the_child_was_reaped_still_sleeps_without_error() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    _nap(child.pid, 0.01)  # its pidfd cannot be opened any more: a plain sleep
