"""A fault's signal over SSH is bracketed by the host's clock, and its window opens at the
bracket's start: no reply the fault changed can be counted before it. Only the second
reading was kept before, and printing it takes a date process (5 ms and more on a loaded
host): CI saw two users whose requests the kill had moved to node2 judged as having lost
their session before the fault, and "kept" after it.

Run on this machine through LocalHost, the same script the SSH host runs: a real child
process notes when the signal reached it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

from harness.cluster import LANDED_AT, LANDED_BY
from harness.cluster.remote.hosts import LocalHost
from harness.cluster.remote.parts import _signal, _signal_part, landing_printed

# Notes the time SIGTERM reached it, then exits.
NOTES_SIGTERM = (
    "import signal, sys, time\n"
    "def noted(*_):\n"
    "    open(sys.argv[1], 'w').write(repr(time.time())); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, noted)\n"
    "open(sys.argv[2], 'w').write('ready')\n"
    "time.sleep(30)\n"
)


def _child(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    noted, ready = tmp_path / "noted", tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", NOTES_SIGTERM, str(noted), str(ready)])
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return child, noted


def _check(landed: dict[str, float], child: subprocess.Popen[bytes], noted: Path) -> None:
    assert child.wait(timeout=10) == 0
    reached = float(noted.read_text())
    assert landed[LANDED_AT] <= reached, (landed, reached)
    assert landed[LANDED_AT] <= landed[LANDED_BY] < landed[LANDED_AT] + 5


def test_a_signal_through_the_pid_file_lands_after_the_window_opens(tmp_path: Path) -> None:
    child, noted = _child(tmp_path)
    pid_file = tmp_path / "app.pid"
    pid_file.write_text(str(child.pid))
    landed = _signal_part(LocalHost(), PurePosixPath(pid_file), "TERM", lambda: None, "no process")
    _check(landed, child, noted)


def test_a_signal_to_a_found_pid_lands_after_the_window_opens(tmp_path: Path) -> None:
    child, noted = _child(tmp_path)
    _check(_signal(LocalHost(), child.pid, "TERM", "no process"), child, noted)


def test_a_clock_with_no_nanoseconds_leaves_the_callers_bounds() -> None:
    assert landing_printed("1796536427.222087\n1796536427.229000\n") == {
        LANDED_AT: 1796536427.222087,
        LANDED_BY: 1796536427.229,
    }
    assert landing_printed("1796536427.%N\n1796536427.%N\n") == {}  # busybox's date
    assert landing_printed("") == {}
