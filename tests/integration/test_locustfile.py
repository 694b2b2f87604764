"""The locustfile alone, as an operator runs it against a running lab: headless and web UI."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from session_tracking import fixed_reply, parse_reply

from harness.cluster.lab import Lab
from tests.integration.conftest import healthy_replies, repo_root

pytestmark = pytest.mark.integration
LAB_NET = "127.0.26"
LOCUSTFILE = "locustfiles/session_stability.py"


def test_headless_run_counts_sessions_in_locusts_stats(lab: Lab, tmp_path: Path) -> None:
    records = tmp_path / "records.csv"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless",
            "--host", lab.topology.balancer_url, "-u", "5", "-r", "5", "-t", "4s",
            "--csv", str(tmp_path / "run"), "--session-records", str(records),
        ],
        cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "run_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    page = rows["/session.jsp"]
    assert int(page["Request Count"]) > 20
    assert int(page["Failure Count"]) == 0
    rows_written = healthy_replies(records)
    # Locust writes its CSV once a second and not again at exit, so it may miss the last
    # second; the per-request records are complete.
    assert len(rows_written) >= int(page["Request Count"])
    assert {r["outcome"] for r in rows_written} == {"new", "kept"}
    assert sum(r["outcome"] == "new" for r in rows_written) == 5
    assert {r["node"] for r in rows_written} == {"node1", "node2"}


def test_real_session_jsp_replies_take_the_parsers_fast_path(lab: Lab) -> None:
    # The json.loads fallback reads them too, at about 12 us a request more on the
    # generator (make perf): a reply shape drifting off the fast path must show here.
    for node in lab.topology.nodes:
        with urllib.request.urlopen(f"{node.url}/session.jsp", timeout=5) as reply:
            body = reply.read()
        # parse_reply never returns None: equal means the fast path read it, and alike.
        assert fixed_reply(body) == parse_reply(body), body


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        data: dict[str, object] = json.loads(reply.read())
        return data


def test_web_ui_swarm_shows_session_requests(lab: Lab) -> None:
    port = _free_port()
    web = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--host", lab.topology.balancer_url,
            "--web-host", "127.0.0.1", "--web-port", str(port),
        ],
        cwd=repo_root(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get_json(f"{web}/stats/requests")
                break
            except OSError:
                assert time.monotonic() < deadline, "Locust's web UI did not start"
                time.sleep(0.2)
        form = urllib.parse.urlencode(
            {"user_count": 4, "spawn_rate": 4, "host": lab.topology.balancer_url}
        ).encode()
        with urllib.request.urlopen(f"{web}/swarm", data=form, timeout=5) as reply:
            assert json.loads(reply.read())["success"] is True
        # Locust's stats move every 2 s: wait for more than 10 requests, 15 s at most.
        deadline = time.monotonic() + 15
        while True:
            stats = _get_json(f"{web}/stats/requests")
            entries = {e["name"]: e for e in stats["stats"]}  # type: ignore[attr-defined]
            session = entries.get("/session.jsp", {"num_requests": 0})
            if session["num_requests"] > 10 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert entries["/session.jsp"]["num_requests"] > 10
        assert entries["/session.jsp"]["num_failures"] == 0
        urllib.request.urlopen(f"{web}/stop", data=b"", timeout=5).close()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
