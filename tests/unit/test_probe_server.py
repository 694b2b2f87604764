"""The JvmProbe server's client: replies matched to requests by id, in any order; errors and
a server that dies fail only the requests they concern, naming why; the next request
starts a new server; close() leaves nothing running.

The server here is a stand-in (a Python script speaking JvmProbe --serve's protocol): what
is under test is the client. The real server reads real nodes in
tests/integration/test_jvm.py."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from harness.cluster.probe_server import CLOSE_GRACE_S, ProbeServer, ProbeServerError

STAND_IN = textwrap.dedent(
    """
    import json, sys, time
    held = None  # "later:1" is answered only after the next request, so out of order
    for line in sys.stdin:
        request_id, credentials, target, *options = line.rstrip("\\n").split("\\t")
        if target == "die:1":
            print("JvmProbe: the stand-in was told to die", file=sys.stderr, flush=True)
            sys.exit(3)
        if target == "paused:1":
            time.sleep(60)  # a node stopped by SIGSTOP: the RMI call waits for its timeout
        if target == "error:1":
            reply = {"id": request_id, "error": "java.io.IOException: no node there"}
        else:
            body = {"target": target, "credentials": credentials, "options": options}
            reply = {"id": request_id, "reply": body}
        if target == "later:1":
            held = reply
            continue
        print(json.dumps(reply), flush=True)
        if held is not None:
            print(json.dumps(held), flush=True)
            held = None
    """
)


@pytest.fixture
def server(tmp_path: Path) -> ProbeServer:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return ProbeServer([sys.executable, str(script)])


def test_replies_go_to_their_own_requests_in_any_order(server: ProbeServer) -> None:
    try:
        later = server.submit("user secret", ["later:1", "--vm-flags"])
        now = server.ask("user other", ["now:1", "--invoke", "X:type=Y", "check", ""])
        assert now == {
            "target": "now:1",
            "credentials": "user other",
            "options": ["--invoke", "X:type=Y", "check", ""],  # an empty last argument kept
        }
        assert later.result(timeout=10)["target"] == "later:1"
        with pytest.raises(ProbeServerError, match=r"^JvmProbe error:1: .*no node there"):
            server.ask("user secret", ["error:1"])
    finally:
        server.close()


def test_a_server_that_dies_fails_its_requests_and_the_next_starts_another(
    server: ProbeServer,
) -> None:
    try:
        assert server.ask("u p", ["a:1"])["target"] == "a:1"
        first = _server_pids()
        with pytest.raises(ProbeServerError, match=r"^JvmProbe die:1: ended: .*told to die"):
            server.ask("u p", ["die:1"], timeout_s=10)
        assert server.ask("u p", ["b:1"])["target"] == "b:1"
        assert _server_pids() and _server_pids() != first
    finally:
        server.close()
    assert _server_pids() == []


def test_close_ends_a_server_waiting_on_a_node_that_does_not_answer(
    server: ProbeServer,
) -> None:
    """A lab going down while a reading waits on a paused node: no one wants that reply,
    and waiting for the server to answer it first made every such lab down 10 s slower."""
    assert server.ask("u p", ["a:1"])["target"] == "a:1"
    unanswered = server.submit("u p", ["paused:1"])
    server.close()
    assert _server_pids() == []
    with pytest.raises(ProbeServerError, match=r"^JvmProbe paused:1: closed with no reply in"):
        unanswered.result(timeout=0)


def test_close_does_not_wait_for_a_reply_its_asker_gave_up_on(server: ProbeServer) -> None:
    abandoned = server.submit("u p", ["paused:1"])
    abandoned.cancel()  # the telemetry's stop, on a reading long overdue
    began = time.monotonic()
    server.close()
    assert time.monotonic() - began < CLOSE_GRACE_S
    assert _server_pids() == []


def test_a_field_with_a_tab_is_refused_before_it_is_sent(server: ProbeServer) -> None:
    with pytest.raises(ValueError, match="tab or a newline"):
        server.submit("user pass\tword", ["a:1"])
    assert _server_pids() == []  # nothing was started for it


def _server_pids() -> list[int]:
    return [
        child.pid
        for child in psutil.Process().children()
        if any(part.endswith("stand_in.py") for part in child.cmdline())
    ]


def test_start_runs_the_server_before_any_request_and_the_first_one_uses_it(
    server: ProbeServer,
) -> None:
    """A lab up starts it beside its nodes: the first reading then finds it running
    instead of waiting for its start."""
    try:
        assert not server.alive()
        server.start()
        assert server.alive()
        started = _server_pids()
        assert len(started) == 1
        assert server.ask("user secret", ["now:1"])["target"] == "now:1"
        assert _server_pids() == started  # the request went to the one start() ran
        server.start()  # a second start keeps the one running
        assert _server_pids() == started
    finally:
        server.close()
    assert not server.alive()
