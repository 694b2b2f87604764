"""The locustfile's row for a request Locust cut off at its stop: written for a request
killed in flight, and for nothing else. Locust's user in a process of its own, since
gevent must patch the standard library before anything imports it; no request leaves
the machine (the client's get is replaced)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import repo_root

SCRIPT = """
import sys
from gevent import monkey

monkey.patch_all()
import gevent
from locust.env import Environment
from session_records import RecordWriter

import session_stability as ss

ss.SessionUser.host = "http://127.0.0.1:9"  # never asked: the client's get is replaced
user = ss.SessionUser(Environment(user_classes=[ss.SessionUser]))
user.on_start()
ss._writer = RecordWriter(sys.argv[1])


def unreadable(*args, **kwargs):
    raise UnicodeDecodeError("utf-8", b"\\xff", 0, 1, "an odd reply")


user.client.get = unreadable
try:
    user.session_page()
except UnicodeDecodeError:
    pass  # Locust logs it and goes on to the user's pause
gevent.sleep(0.4)
user.on_stop()  # stopped in that pause: nothing was in flight


def hangs(*args, **kwargs):
    gevent.sleep(60)


user.client.get = hangs
task = gevent.spawn(user.session_page)
gevent.sleep(0.3)
task.kill()  # as Locust kills a user past its stop timeout
user.on_stop()
ss._writer.close()
"""


def test_only_a_request_killed_in_flight_gets_an_unfinished_row(tmp_path: Path) -> None:
    """Before, a request that raised left the user 'in flight' through its pause, and a
    stop there wrote the pause as a wait."""
    records = tmp_path / "records.csv"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(records)],
        cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
        env={"PYTHONPATH": f"{repo_root()}:{repo_root() / 'locustfiles'}", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with records.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["outcome"] for row in rows] == ["unfinished"]
    assert 250 <= float(rows[0]["latency_ms"]) < 5000  # killed 0.3 s after its send


def test_a_run_that_never_answered_starts_when_its_requests_were_sent(tmp_path: Path) -> None:
    """A web UI run whose every request hung: its only rows are the ones cut off at the
    stop. Its start was that stop (sent_s -9.5 s, a run of 0 s) before."""
    from session_records import RecordWriter  # noqa: PLC0415

    from harness.results.raw_records import first_epoch  # noqa: PLC0415
    from harness.results.session_run import read_raw  # noqa: PLC0415

    raw = tmp_path / "requests.raw.csv"
    writer = RecordWriter(str(raw))
    for user, waited_ms in ((1, 9500.0), (2, 9000.0)):
        writer.add((1010.0, user, None, "unfinished", waited_ms, 0, None, None, True, None))
    writer.close()
    start = first_epoch([raw])
    assert start == 1000.5
    run = read_raw([raw], start)
    assert len(run.requests) == 0
    assert [(u.user, u.sent_s, u.stopped_s) for u in run.unfinished] == [
        (1, 0.0, 9.5),
        (2, 0.5, 9.5),
    ]
