"""The harness as a user runs it: `python -m harness ...` in a subprocess."""

from __future__ import annotations

import html.parser
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.cluster.lab import Lab, LabError, Topology
from harness.config.profile import load_profile
from harness.results.run_folder import FIELDS, REQUESTS_FILE, load_records, read_manifest
from tests.integration.conftest import assert_lab_gone, best_practice_with, repo_root

pytestmark = pytest.mark.integration


def harness(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bench_writes_a_results_folder_with_report_and_manifest(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = harness(
        "bench",
        "--duration", "14",
        "--users", "10",
        "--net", "127.0.22",
        "--run-dir", str(tmp_path / "lab"),
        "--results-dir", str(results),
        "--check", "sessions_lost == 0",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check held: sessions_lost == 0 (value 0)" in done.stdout
    assert "MonkeyPatchWarning" not in done.stderr
    (run_dir,) = results.iterdir()

    manifest = read_manifest(run_dir)
    summary = manifest["summary"]
    for key in ("requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "users"):
        assert summary[key] > 0 or key == "failures", key
    assert summary["users"] == 10
    # The profile as the JVMs ran it, read back before the load (best-practice: 1 GiB).
    for node in ("node1", "node2"):
        assert manifest["lab"]["in_effect"][node]["max_heap_bytes"] == 1024**3
        assert manifest["lab"]["in_effect"][node]["mismatches"] == []
    # Redis holds every session: a SIGKILLed node loses nothing.
    assert summary["sessions_kept"] == 10
    assert summary["sessions_lost"] == 0
    assert summary["data_lost"] == 0
    (window,) = summary["judgement"]["windows"]
    assert window["fates"]["kept"] + window["fates"]["replayed"] == window["users"] == 10
    # The printed sessions line says the judgement's numbers (a replay comes and goes
    # between runs: nginx may retry a request the killed node had already run).
    fates = summary["judgement"]["fates"]
    assert f"10 users: {fates['kept']} kept session and data" in done.stdout
    (fault,) = summary["faults"]
    assert fault["target"] == "node1"
    assert fault["action"] == "sigkill"
    assert 5 < fault["at_s"] < 15
    assert manifest["versions"]["tomcat"].startswith("Apache Tomcat/9.0.")
    assert manifest["lab"]["session_manager"]["read_mode"] == "REDIS"
    assert "password" not in json.dumps(manifest)
    # How busy the machine was until the load began, and what this run's processes took.
    busy = manifest["lab"]["cpu_before_load"]
    parts = busy["parts_s"]
    named = ("nodes", "locust", "harness")
    assert all(parts[part] > 0 for part in named), parts
    assert "settings_reader" not in parts, parts  # the nodes read themselves: no JMX client
    assert sum(parts.values()) <= busy["machine_busy_s"] + 0.1, busy
    assert busy["cores"] == os.cpu_count() and 0 < busy["busy_share"] <= 1.05, busy
    assert f"{busy['busy_share']:.0%} of {busy['cores']} cores busy" in done.stdout

    records = load_records(run_dir / manifest["files"]["requests"])
    assert len(records) == summary["requests"]
    # The HDR histogram (microseconds) counted every answered request the records hold.
    assert (run_dir / manifest["files"]["latency_hdr"]).is_file()
    answered = [r for r in records if r.outcome != "error"]
    assert summary["latency_hdr"]["count"] == len(answered) == summary["answered"]
    assert set(summary["latency_hdr"]["per_node"]) == {r.node for r in answered}
    after_kill = {r.node for r in records if r.t_s > fault["at_s"] + 1 and r.outcome == "kept"}
    assert after_kill == {"node2"}
    assert (run_dir / "locust_stats.csv").exists()

    page = (run_dir / "report.html").read_text()
    html.parser.HTMLParser().feed(page)
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert page.count('class="plotly-graph-div"') >= 4
    assert "sigkill node1" in page

    # Nothing of the lab is left.
    lab = Lab.attach(tmp_path / "lab")
    assert_lab_gone(lab)
    # A second report run rewrites report.html only: nothing else is touched.
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != "report.html"}
    again = harness("report", str(run_dir))
    assert again.returncode == 0, again.stderr
    assert before == {
        p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != "report.html"
    }
    assert FIELDS[0] == "t_s"


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _lab_up_in_the_background(run_dir: Path, net: str) -> subprocess.Popen[str]:
    """`lab up` started as a user would, returned once its second node has started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "lab", "up", "--net", net, "--run-dir", str(run_dir)],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = run_dir / "lab.json"

    def nodes_started() -> bool:
        return state.exists() and "node2" in json.loads(state.read_text())["processes"]

    _wait_for(nodes_started, 60)
    return proc


def test_ctrl_c_during_lab_up_stops_everything(tmp_path: Path) -> None:
    run_dir = tmp_path / "lab"
    proc = _lab_up_in_the_background(run_dir, "127.0.23")
    proc.send_signal(signal.SIGINT)  # what Ctrl-C delivers to the harness
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    lab = Lab.attach(run_dir)
    assert lab.state is not None and "redis" in lab.state.processes
    assert_lab_gone(lab)


def test_ctrl_c_pressed_again_while_the_lab_stops_lets_it_stop(tmp_path: Path) -> None:
    """A user who presses Ctrl-C again, and again, while the lab stops: a second
    KeyboardInterrupt inside the stop would leave servers running, and one after the
    stop (the interpreter exiting) would end the harness by SIGINT instead of 130."""
    run_dir = tmp_path / "lab"
    proc = _lab_up_in_the_background(run_dir, "127.0.27")
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # a no-op once the harness has exited
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert "already stopping" in output
    lab = Lab.attach(run_dir)
    assert lab.state is not None and "redis" in lab.state.processes
    assert_lab_gone(lab)


def test_lab_up_status_down_from_the_command_line(tmp_path: Path) -> None:
    common = ("--net", "127.0.24", "--run-dir", str(tmp_path / "lab"))
    try:
        up = harness("lab", "up", *common)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "http://127.0.24.10:8080/session.jsp" in up.stdout
        status = harness("lab", "status", *common)
        assert status.returncode == 0, status.stdout
        assert status.stdout.count("yes") >= 4
        again = harness("lab", "up", *common)
        assert again.returncode == 2
        assert "already running" in again.stdout
    finally:
        down = harness("lab", "down", *common)
    assert down.returncode == 0, down.stdout
    assert "nginx" in down.stdout
    assert_lab_gone(Lab.attach(tmp_path / "lab"))
    status = harness("lab", "status", *common)
    assert status.returncode == 1


def test_lab_up_refuses_a_taken_port_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.25.12", 8080))
        squatter.listen()
        lab = Lab(Topology(net="127.0.25", run_dir=tmp_path / "lab"))
        with pytest.raises(
            LabError, match=r"node2: 127\.0\.25\.12:8080 is already in use by pid \d+"
        ):
            lab.up(load_profile("default"))
    assert lab.state is not None
    assert lab.state.processes == {}


def test_ctrl_c_during_a_bench_stops_the_lab_and_locust(tmp_path: Path) -> None:
    import psutil  # noqa: PLC0415

    results = tmp_path / "results"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness", "bench", "--duration", "60", "--users", "4",
            "--net", "127.0.28", "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
        ],
        cwd=repo_root(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def under_load() -> bool:
        # The header and the first record: the writer flushes that row at once, the rest
        # in 64 KiB blocks (some 15 s of these 4 users' load).
        raw = list(results.glob("*/requests.raw.csv"))
        return bool(raw) and len(raw[0].read_text().splitlines()) >= 2

    _wait_for(under_load, 90)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert_lab_gone(Lab.attach(tmp_path / "lab"))
    # An interrupted run is still a run (issue 13, case 13): what ran, finished.
    (run_dir,) = results.iterdir()
    manifest = read_manifest(run_dir)
    assert manifest["complete"] is False
    assert 0 < manifest["interrupted_at_s"] < 30
    (fault,) = manifest["faults"]  # due at 30 s: never delivered, and said so
    assert fault["fault_error"] == "not delivered: the run ended before its time"
    assert load_records(run_dir / REQUESTS_FILE)
    assert not (run_dir / "requests.raw.csv").exists()
    assert (run_dir / "report.html").exists()
    (verdict,) = json.loads((run_dir / "verdicts.json").read_text())
    assert verdict["verdict"].startswith("fault not delivered")
    leftovers = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if str(results) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == [], "locust still runs"


def test_matrix_writes_verdicts_for_each_cell(tmp_path: Path) -> None:
    """Four truth-table cells, the two of each strategy on one reused lab: the second
    cell's balancer swapped in place, its store emptied and the node the first cell's
    fault killed started again, with the verdicts fresh labs give."""
    results = tmp_path / "results"
    done = harness(
        "matrix", "--balancers", "nginx-rr,nginx-ip-hash", "--strategies", "none,redis",
        "--duration", "6", "--users", "6", "--net", "127.0.29",
        "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (matrix_dir,) = results.iterdir()
    listed = json.loads((matrix_dir / "verdicts.json").read_text())
    # The table's order (balancer, then strategy), whatever order the cells ran in.
    assert [(c["balancer"], c["sessions"]) for c in listed] == [
        ("nginx-rr", "none"), ("nginx-rr", "redis"),
        ("nginx-ip-hash", "none"), ("nginx-ip-hash", "redis"),
    ]  # fmt: skip
    cells = {(c["balancer"], c["sessions"]): c for c in listed}
    required = {"balancer", "sessions", "fault", "users", "kept", "data_kept", "lost"}
    required |= {"failed_requests", "recovery_s", "stable_without_fault", "verdict"}
    required |= {"wall_s", "overhead_s"}
    for c in cells.values():
        assert required <= set(c), required - set(c)
        assert c["fault"] == "sigkill node1"
        assert (matrix_dir / c["run"] / "report.html").exists()
        # Each load began once the pages drawn meanwhile were drawn (none under a load).
        assert "before_load" in read_manifest(matrix_dir / c["run"])["phases_s"]
        # Every cell, reused or not, started with both nodes serving users.
        assert c["nodes_before"].get("node1", 0) > 0, c
    # Round robin over nodes that each keep their own sessions: lost on every hop.
    assert cells["nginx-rr", "none"]["stable_without_fault"] is False
    assert cells["nginx-rr", "none"]["verdict"].startswith("unstable without any fault")
    # ip_hash pins users: exactly those on the killed node lose their session.
    pinned = cells["nginx-ip-hash", "none"]
    assert pinned["stable_without_fault"] is True
    assert pinned["lost"] == pinned["nodes_before"]["node1"], pinned
    # Redis holds them all: every user's session survives the kill.
    for lb in ("nginx-rr", "nginx-ip-hash"):
        assert cells[lb, "redis"]["stable_without_fault"] is True
        assert cells[lb, "redis"]["kept"] == cells[lb, "redis"]["users"] == 6
    reused = {
        (c["balancer"], c["sessions"]): read_manifest(matrix_dir / c["run"])["lab"]["reused"]
        for c in listed
    }
    # Strategy by strategy: the first cell starts the lab, the second reuses it.
    assert reused == {
        ("nginx-rr", "none"): False, ("nginx-ip-hash", "none"): True,
        ("nginx-rr", "redis"): False, ("nginx-ip-hash", "redis"): True,
    }  # fmt: skip
    # A reused cell's lab time is its own parts: the killed node started again, the
    # store emptied, the front swapped.
    for lb, sessions in (("nginx-ip-hash", "none"), ("nginx-ip-hash", "redis")):
        parts = read_manifest(matrix_dir / cells[lb, sessions]["run"])["lab"]["timings_s"]
        assert {"restart_node1", "store_emptied", "balancer", "up"} <= set(parts), parts
    # The last cell of a strategy stops its lab before its logs are copied (no node is
    # started again only to be stopped); a cell whose lab is kept leaves it running.
    for lb, sessions, stopped in (
        ("nginx-rr", "none", False), ("nginx-ip-hash", "none", True),
        ("nginx-rr", "redis", False), ("nginx-ip-hash", "redis", True),
    ):  # fmt: skip
        node2 = (matrix_dir / cells[lb, sessions]["run"] / "logs" / "node2.log").read_text()
        assert ("Stopping service [Catalina]" in node2) is stopped, (lb, sessions)
    matrix = json.loads((matrix_dir / "matrix.json").read_text())
    assert matrix["reused_labs"] is True and matrix["cell_overhead_s"]["mean"] > 0
    page = (matrix_dir / "matrix.html").read_text()
    html.parser.HTMLParser().feed(page)
    assert page.count("report.html") == 4
    assert "overhead per cell" in done.stdout


def test_a_fault_schedule_with_restores(tmp_path: Path) -> None:
    results = tmp_path / "results"
    # nginx tries a node it marked down again after fail_timeout: 3 s here, not its 10 s,
    # so the restarted node1 takes traffic again well inside the run.
    best_practice_with(tmp_path / "profile", '[balancer.nginx]\nfail_timeout = "3s"')
    done = harness(
        "bench", "--duration", "20", "--users", "6", "--sessions", "redis",
        "--profile", str(tmp_path / "profile" / "with-extra.toml"),
        "--faults", "sigstop:node2@2-3,sigkill:node1@5-6",
        "--net", "127.0.39", "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = results.iterdir()
    manifest = read_manifest(run_dir)
    hang, kill = manifest["faults"]
    assert (hang["action"], hang["target"], hang["spec"]) == (
        "sigstop",
        "node2",
        "sigstop:node2@2-3",
    )
    assert (kill["action"], kill["target"]) == ("sigkill", "node1")
    assert hang["restore"] == "sigcont"
    assert kill["restore"] == "start"
    assert 2 <= hang["at_s"] < hang["restored_at_s"] < 5
    assert 5 <= kill["at_s"] < 6 <= kill["restored_at_s"]
    summary = manifest["summary"]
    assert summary["sessions_lost"] == 0
    assert summary["data_lost"] == 0
    # The restarted node1 takes traffic again once nginx's fail_timeout has passed: Redis
    # gives it every session.
    records = load_records(run_dir / REQUESTS_FILE)
    back = [r for r in records if r.t_s > kill["restored_at_s"] + 0.5 and r.node == "node1"]
    assert back, "node1 served nothing after its restart"
    assert all(r.outcome == "kept" for r in back)
    assert_lab_gone(Lab.attach(tmp_path / "lab"))


def test_killing_redis_is_reported_not_a_crash(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = harness(
        "bench", "--duration", "12", "--users", "6", "--faults", "sigkill:redis@5",
        "--net", "127.0.19", "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
        "--check", "lost_or_unanswered == 0", "--check", "requests > 0",
        "--junit", str(tmp_path / "checks.xml"),
    )  # fmt: skip
    # A failed check fails the bench, and JUnit XML says which (issue 13, case 14).
    assert done.returncode == 1, done.stdout + done.stderr
    assert "check FAILED: lost_or_unanswered == 0" in done.stdout
    suite = ET.parse(tmp_path / "checks.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    (run_dir,) = results.iterdir()
    manifest = read_manifest(run_dir)
    (fault,) = manifest["faults"]
    assert (fault["action"], fault["target"]) == ("sigkill", "redis")
    summary = manifest["summary"]
    # With its store gone, no user keeps a working session: requests fail or sessions reset.
    after = [r for r in load_records(run_dir / REQUESTS_FILE) if r.t_s > fault["at_s"] + 1]
    assert after
    assert all(r.outcome != "kept" for r in after)
    assert summary["failures"] > 0
    (verdict,) = json.loads((run_dir / "verdicts.json").read_text())
    assert not verdict["verdict"].startswith(("survives", "keeps sessions"))
    # The summary and the verdict count the same users (issue 13: "10 users: 10 kept, 0 lost"
    # had stood above "loses 90% of sessions").
    assert summary["sessions_kept"] == verdict["kept"] < summary["users"]
    gone = summary["sessions_lost"] + summary["unanswered"]
    assert gone == verdict["lost"] + verdict["unanswered"]
    assert_lab_gone(Lab.attach(tmp_path / "lab"))


def test_requests_hung_on_a_stopped_node_leave_their_users_unanswered(tmp_path: Path) -> None:
    """Issue 13, case 3, on a real lab: behind the L4 director (no retries, a stopped JVM
    still accepts connections) the users pinned to node1 hang until the run stops them,
    with no record after the fault. They stay judged, as unanswered: never "survives".
    (Once the stopped JVM's accept queue fills, the director's health check fails and
    moves node1's bucket to node2: a pinned user whose next request got there is answered
    again, and is judged by that reply.)"""
    results = tmp_path / "results"
    done = harness(
        "bench", "--duration", "9", "--users", "6", "--balancer", "l4-hash",
        "--faults", "sigstop:node1@4", "--net", "127.0.31",
        "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = results.iterdir()
    summary = read_manifest(run_dir)["summary"]
    (effects,) = summary["fault_effects"]
    assert summary["users"] == 6
    records = load_records(run_dir / REQUESTS_FILE)
    fault_at = read_manifest(run_dir)["faults"][0]["at_s"]
    pinned = {r.user for r in records if r.node == "node1" and r.t_s < fault_at}
    assert len(pinned) == effects["users_on_target"] >= 1
    # The fault's window opens once every thread of node1 has stopped: no request sent
    # after that is answered by it (2 ms for the clocks' rounding).
    assert all(r.t_s - r.latency_ms / 1000 < fault_at + 0.002 for r in records if r.node == "node1")
    # A reply node1 wrote as it stopped may still reach its user after that time; the user
    # then hangs on its next request. Only node2 answers after the fault.
    answered = {
        r.user for r in records
        if r.t_s >= fault_at and r.node == "node2" and r.outcome in ("kept", "replayed")
    }  # fmt: skip
    hung = pinned - answered
    # Exactly the pinned users with no reply of their session after the fault.
    assert hung
    assert summary["unanswered"] == effects["unanswered_on_target"] == len(hung)
    (verdict,) = json.loads((run_dir / "verdicts.json").read_text())
    assert "never answered again" in verdict["verdict"]
    assert verdict["recovered"] is False
    assert_lab_gone(Lab.attach(tmp_path / "lab"))


def test_a_fault_that_cannot_be_delivered_is_never_survived(tmp_path: Path) -> None:
    """Issue 13, case 5: the second kill of an already dead node fails; the run says so."""
    results = tmp_path / "results"
    done = harness(
        "bench", "--duration", "8", "--users", "4", "--faults", "sigkill:node1@3,sigkill:node1@5",
        "--net", "127.0.32", "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = results.iterdir()
    manifest = read_manifest(run_dir)
    first, second = manifest["faults"]
    assert "fault_error" not in first
    assert "is not running" in second["fault_error"]
    windows = manifest["summary"]["judgement"]["windows"]
    assert [w["delivered"] for w in windows] == [True, False]
    (verdict,) = json.loads((run_dir / "verdicts.json").read_text())
    assert "not delivered: sigkill:node1@5" in verdict["verdict"]
    assert "not delivered (" in done.stdout
