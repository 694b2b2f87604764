"""A store that dies in the middle of a storebench (127.0.72): one clear error line, exit
code 1, and a partial results folder marked incomplete, never a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.cluster.endpoints import Endpoint, is_listening
from tests.integration.conftest import repo_root

pytestmark = pytest.mark.integration

NET = "127.0.72"


def _redis_child(proc: subprocess.Popen[str]) -> psutil.Process | None:
    for child in psutil.Process(proc.pid).children(recursive=True):
        if child.name() == "redis-server":
            return child
    return None


def test_redis_killed_mid_bench_leaves_a_partial_marked_folder(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "harness", "storebench", "--net", NET, "--phases", "cells",
            "--sizes", "1k", "--conns", "1", "--cell-seconds", "3", "--cell-ops", "10000000",
            "--results-dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=repo_root(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The first cell (redis SET) is written once done; memcached's SET runs next, 3 s.
        deadline = time.monotonic() + 60
        cells = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(tmp_path.glob("*-storebench/cells.jsonl"))
            if found and found[0].read_text().count("\n") >= 1:
                cells = found[0]
                break
            time.sleep(0.05)
        assert cells is not None, "the first cell never finished"
        victim = _redis_child(proc)
        assert victim is not None
        victim.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    assert "redis" in errors[0] and "died" in errors[0], errors[0]

    run_dir = cells.parent
    run = json.loads((run_dir / "run.json").read_text())
    assert run["complete"] is False
    assert "StoreDied" in run["incomplete"]
    rows = [json.loads(line) for line in cells.read_text().splitlines()]
    assert [(r["store"], r["op"]) for r in rows][:2] == [("redis", "set"), ("memcached", "set")]
    assert (run_dir / "claims.json").exists()
    assert "Incomplete run" in (run_dir / "report.html").read_text()
    for port, last in ((6379, 30), (6380, 30), (11211, 31)):
        assert not is_listening(Endpoint(f"{NET}.{last}", port))
