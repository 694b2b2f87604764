"""A request still in flight when the load stops: real Locust against the session.jsp
stand-in on loopback, holding every request after the 20th (as a node stopped with
SIGSTOP does). Its users were answered, then waited until the stop; Locust writes no
record for such a request, and the run read "stable", nobody having waited. Now they
were never answered again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results.session_run import finish_session_run, read_raw
from tests.integration.conftest import repo_root
from tests.integration.session_server import session_server

pytestmark = pytest.mark.integration
NET = "127.0.84"


def test_a_request_hung_until_the_stop_counts_in_the_users_wait(tmp_path: Path) -> None:
    raw = tmp_path / "requests.raw.csv"
    with session_server(f"{NET}.1", hang_after=20):
        done = subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", "locustfiles/session_stability.py",
                "--headless", "--host", f"http://{NET}.1:8080", "-u", "2", "-r", "2",
                "-t", "3s", "--stop-timeout", "1", "--only-summary", "--loglevel", "WARNING",
                "--session-records", str(raw),
            ],
            cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    run = read_raw([raw], start_epoch=0.0)
    assert {o for o in run.requests.outcome.values()} == {"new", "kept"}  # no other row
    assert len(run.requests) == 20
    # Each user's request hung from its send until Locust gave up, past its stop timeout.
    assert sorted(u.user for u in run.unfinished) == [1, 2]
    last_reply = float(run.requests.t_s.max())
    for u in run.unfinished:
        assert u.sent_s >= last_reply - 0.2
        assert u.stopped_s - u.sent_s > 2.0

    folder = tmp_path / "run"
    folder.mkdir()
    finished = finish_session_run(
        folder, run, start_epoch=0.0, end_epoch=0.0, faults=[], balancer="stub",
        sessions="stub", sections={}, files={}, hdr_from_records=True,
    )  # fmt: skip
    # Never answered again: from its last reply to the stop, as after a timeout's error.
    hung_s = max(u.stopped_s - u.sent_s for u in run.unfinished)
    assert finished.summary["longest_wait_s"] >= round(hung_s, 3)
    assert (finished.summary["unanswered"], finished.summary["unfinished"]["requests"]) == (2, 2)
    assert finished.verdict["verdict"].startswith("100% of users never answered again")
    kept = json.loads((folder / "run.json").read_text())["unfinished_requests"]
    assert [(u["user"], u["sent_s"]) for u in kept] == [(u.user, u.sent_s) for u in run.unfinished]
