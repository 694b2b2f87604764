"""What the running JVMs report equals what the profile set: read back from the nodes' own
readings (harness.cluster.readings), checked against jcmd, jstat, the JVMs' counters files
and the nodes' JMX agents, from a real lab on 127.0.96.x."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest

from harness.cluster import hsperf, jvm
from harness.cluster.endpoints import Endpoint, free_port, is_listening
from harness.cluster.lab import Lab, LabSpec, Topology, jvms
from harness.cluster.lab import lab as lab_module
from harness.cluster.lab.processes import ProcessRecord, stop
from harness.cluster.remote import jvm as remote_jvm
from harness.cluster.remote.hosts import CommandResult, LocalHost
from harness.cluster.remote.jvm import RemoteJmx
from harness.config.faults import parse_faults
from harness.config.profile import Profile, load_profile
from harness.load.telemetry import JvmSampler
from tests.integration.conftest import assert_lab_gone, probe_servers, repo_root

pytestmark = pytest.mark.integration

LAB_NET = "127.0.96"


@contextmanager
def running_lab(profile: Profile, run_dir: Path) -> Iterator[Lab]:
    lab = Lab(Topology(net=LAB_NET, run_dir=run_dir))
    lab.up(profile, balancer_name="nginx-rr", sessions="none")
    try:
        yield lab
    finally:
        lab.down()
        assert_lab_gone(lab)


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit.lower()]


def _jstat_both_ways(pid: int) -> bool:
    """jstat -gc and the counters file agree, read while the JVM's counters stood still (a
    background thread may allocate between two readings: then read again)."""
    for _ in range(5):
        before = hsperf.read_jstat_gc(pid)
        columns = jvm.parse_jstat_gc(jvm.run(jvm.jstat_command(pid)))
        if before == hsperf.read_jstat_gc(pid):
            assert columns == before
            return True
    return False


def test_small_pool_values_read_back_from_the_jvms(tmp_path: Path) -> None:
    profile = load_profile("small-pool")  # extends best-practice: its heap flags too
    assert profile.executor is not None
    with running_lab(profile, tmp_path / "lab") as lab:
        nodes = jvms.read_lab(lab)
        assert [n.node for n in nodes] == ["node1", "node2"]
        for node, spec in zip(nodes, lab.topology.nodes, strict=True):
            pool = node.pool
            assert pool is not None
            assert pool.kind == "executor"
            assert pool.max_threads == profile.executor.maxThreads == 4
            assert pool.min_spare_threads == profile.executor.minSpareThreads
            assert pool.max_queue_size == profile.executor.maxQueueSize
            assert 0 <= pool.busy_threads <= pool.current_threads <= pool.max_threads
            assert profile.jvm.xmx is not None and profile.jvm.xms is not None
            assert node.max_heap_bytes == node.heap.max_bytes == _bytes(profile.jvm.xmx)
            assert node.initial_heap_bytes == _bytes(profile.jvm.xms)
            assert node.new_size_bytes == node.max_new_size_bytes == 512 * 2**20
            assert node.gc == "G1"
            assert not node.ajp
            assert [(c.port, c.handler) for c in node.connectors] == [
                (8080, "org.apache.coyote.http11.Http11NioProtocol")
            ]
            assert node.connectors[0].attributes["maxConnections"] == 10000
            # Everything the profile asks for runs, but what Tomcat's MBeans do not show.
            assert jvm.mismatches(node, profile.effective()) == (
                [], ["executor.prestartminSpareThreads"],
            )  # fmt: skip
            # Read in the node: no JMX agent listens, only HTTP and shutdown.
            assert node.listening == sorted([str(spec.http), str(spec.shutdown)])
            with urllib.request.urlopen(f"{spec.url}/meminfo.jsp?format=json") as reply:
                assert json.loads(reply.read())["max_bytes"] == node.max_heap_bytes
            # The probe's VM.flags and the counters file's columns are jcmd's and jstat's.
            assert node.flags == jvm.parse_vm_flags(jvm.run(jvm.vm_flags_command(node.pid)))
            assert _jstat_both_ways(node.pid)
            # The node's own reading is what JMX reads from outside.
            assert _over_jmx(lab, spec.name) == _settings(node)

        # An agent for an operation (lab_access): on the node's own address only, not
        # through the balancer, and not without the generated password.
        assert not is_listening(Endpoint(lab.topology.balancer.address, jvm.JMX_PORT))
        node1 = lab.topology.nodes[0]
        assert is_listening(Endpoint(node1.address, jvm.JMX_PORT))
        argv = jvm.probe_command(node1.address, jvm.JMX_PORT, classes=jvm.compile_probe())
        with pytest.raises(jvm.JvmReadError, match=r"Authentication failed|SecurityException"):
            jvm.run(argv, stdin=f"{jvm.JMX_USER} not-the-password\n")

        status = subprocess.run(
            [sys.executable, "-m", "harness", "lab", "status", "--run-dir", str(lab.run_dir)],
            cwd=repo_root(), capture_output=True, text=True, timeout=120, check=False,
            env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        rows = {
            line.split("│")[1].strip(): line for line in status.stdout.splitlines() if "│" in line
        }
        assert re.search(r"│\s*4\s*│\s*4\s*│", rows["maxThreads"])
        assert re.search(r"│\s*8\s*│\s*8\s*│", rows["maxQueueSize"])
        assert rows["heap initial/max MiB"].count("1024/1024") == 2
        assert re.search(r"│\s*yes\s*│\s*yes\s*│", rows["as profile small-pool asks"])


def _over_jmx(lab: Lab, name: str) -> dict[str, object]:
    """The settings of a node read by a probe JVM of its own over its JMX agent (started
    by lab_access, as for an operation), as _settings keeps them."""
    access = jvms.lab_access(lab, name)
    pid = lab.state.processes[name].pid  # type: ignore[union-attr]
    argv = jvm.probe_command(access.host, access.port, classes=jvm.compile_probe())
    (mbeans,) = jvm.parse_probe(jvm.run(argv, stdin=access.credentials + "\n"))
    flags = jvm.parse_vm_flags(jvm.run(jvm.vm_flags_command(pid)))
    read = jvm.node_jvm(
        name, pid, flags=flags, jstat={}, mbeans=mbeans, listening=[], rejections=None
    )
    return _settings(read)


def _settings(node: jvm.NodeJvm) -> dict[str, object]:
    """What a node runs with, without what moves while it runs (its threads, heap, GCs)."""
    moving = {"current_threads", "busy_threads", "queue_size", "largest_pool_size",
              "completed_tasks"}  # fmt: skip
    return {
        "pool": node.pool.model_dump(exclude=moving) if node.pool is not None else None,
        "connectors": [c.model_dump() for c in node.connectors],
        "flags": node.flags,
        "max_heap": node.heap.max_bytes,
        "session_manager": node.session_manager,
        "deployer": (node.deployer_check_s, node.auto_deploy),
    }


def test_default_profile_uses_the_connectors_own_pool(tmp_path: Path) -> None:
    profile = load_profile("default")
    with running_lab(profile, tmp_path / "lab") as lab:
        node = jvms.read_lab_node(lab, "node1")
        assert jvm.mismatches(node, profile.effective()) == ([], [])
        assert node.pool is not None
        # No Executor: the connector's pool with Tomcat's default of 200 threads.
        assert (node.pool.kind, node.pool.max_threads, node.pool.queue_size) == (
            "connector", 200, None,
        )  # fmt: skip
        assert node.connectors[0].executor in (None, "Internal")
        # No heap flags: the JVM's own choice, the same in VM.flags and in the MBean.
        assert node.max_heap_bytes == node.heap.max_bytes


def test_a_benchs_settings_read_opens_no_jmx_agent_and_a_jmx_fault_gets_its_own_before_the_load(
    tmp_path: Path,
) -> None:
    """The settings in effect come from each node's own readings: no JMX agent started in a
    node by attach (0.3 s of its CPU) and no reader JVM beside (0.5 s), which a bench paid
    before its load. Nothing listens on the JMX port, and no probe server runs."""
    spec = LabSpec(
        balancer="nginx-rr", sessions="none", topology=Topology(net=LAB_NET, run_dir=tmp_path)
    )
    profile = load_profile("best-practice")
    cluster = spec.up(profile, progress=lambda _: None)
    try:
        in_effect = cluster.in_effect(profile)
        nodes = cluster.lab.topology.nodes
        assert not [n.name for n in nodes if is_listening(Endpoint(n.address, jvm.JMX_PORT))]
        assert probe_servers() == []
        # A fault that is an MBean operation gets its node's agent before the load, not
        # in its own window; the other node gets none.
        cluster.prepare_faults(parse_faults("context-reload:node2@3,sigkill:node1@5"))
        listening = [n.name for n in nodes if is_listening(Endpoint(n.address, jvm.JMX_PORT))]
        assert listening == ["node2"]
    finally:
        cluster.down()
        assert_lab_gone(cluster.lab)
    assert sorted(in_effect) == ["node1", "node2"]
    for name, node in in_effect.items():
        assert "error" not in node, name
        assert node["mismatches"] == [], name
        assert node["pool"]["max_threads"] == 400


def test_lab_down_stops_the_jmx_agents_before_the_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JVM whose agent listens waits 0.3 s at exit: HotSpot gives threads in native code
    300 ms to settle, and the agent's RMI accept thread sits in accept(). Every bench starts
    the agents (reading what is in effect), so lab down stops them first."""
    listening_at_stop: dict[str, bool] = {}

    def recorded_stop(record: ProcessRecord, **kwargs: float) -> None:
        for node in lab.topology.nodes:
            if node.name == record.name:
                listening_at_stop[node.name] = is_listening(Endpoint(node.address, jvm.JMX_PORT))
        stop(record, **kwargs)

    with running_lab(load_profile("best-practice"), tmp_path / "lab") as lab:
        for node in lab.topology.nodes:
            jvms.lab_access(lab, node.name)  # its agent, as for an operation
        assert all(is_listening(Endpoint(n.address, jvm.JMX_PORT)) for n in lab.topology.nodes)
        monkeypatch.setattr(lab_module, "stop", recorded_stop)
    assert listening_at_stop == {"node1": False, "node2": False}


def test_lab_down_asks_no_agent_of_a_node_left_stopped_to_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node a fault left stopped (SIGSTOP, a bench cut short) cannot answer an attach:
    asking it would wait out the attach's timeout, then the probe server's."""
    asked: list[dict[str, int]] = []
    stop_agents = jvm.stop_agents

    def recorded(nodes: dict[str, int], secrets_dir: Path) -> None:
        asked.append(dict(nodes))
        stop_agents(nodes, secrets_dir)

    with running_lab(load_profile("best-practice"), tmp_path / "lab") as lab:
        for node in lab.topology.nodes:
            jvms.lab_access(lab, node.name)  # its agent, as for an operation
        node2 = lab.topology.nodes[1]
        lab.signal("node1", signal.SIGSTOP)  # the fault: returns once node1 is stopped
        monkeypatch.setattr(jvm, "stop_agents", recorded)
    assert asked == [{node2.address: lab.state.processes["node2"].pid}]  # type: ignore[union-attr]


def test_the_telemetry_of_a_paused_node_stops_and_its_end_waits_for_nothing(
    tmp_path: Path,
) -> None:
    """A node a fault left stopped writes no reading: its rows stop while the other node's
    go on (the gap is the signal), and the telemetry's end waits for nothing. Over JMX, its
    end and lab down waited for the paused node's overdue reading (15 s in CI)."""
    with running_lab(load_profile("best-practice"), tmp_path / "lab") as lab:
        sampler = JvmSampler(
            targets=lambda: jvms.lab_targets(lab), start_epoch=time.time(), interval_s=0.2
        )
        sampler.start()
        try:
            _wait_for(lambda: {row[1] for row in sampler.rows} >= {"node1", "node2"})
            lab.signal("node1", signal.SIGSTOP)
            paused_at = len([row for row in sampler.rows if row[1] == "node1"])
            node2_at = len([row for row in sampler.rows if row[1] == "node2"])
            time.sleep(3)  # three of node2's readings
        finally:
            began = time.monotonic()
            sampler.stop()
            stopping_s = time.monotonic() - began
        assert stopping_s < 1.0
        # One reading of node1 may have been on its way when it stopped.
        assert len([row for row in sampler.rows if row[1] == "node1"]) <= paused_at + 1
        assert len([row for row in sampler.rows if row[1] == "node2"]) >= node2_at + 2
        assert probe_servers() == []


def _wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within 30 s"
        time.sleep(0.1)


def test_each_node_is_read_as_itself_and_again_after_a_restart(tmp_path: Path) -> None:
    """Every node writes its readings into its own CATALINA_BASE, a file per process: a
    reading of one must carry its own connector address and pid, and a restarted node's
    new process is read from its own file, with its own flags."""
    with running_lab(load_profile("best-practice"), tmp_path / "lab") as lab:
        for _ in range(2):
            for node, spec in zip(jvms.read_lab(lab), lab.topology.nodes, strict=True):
                assert node.pid == lab.state.processes[spec.name].pid  # type: ignore[union-attr]
                (connector,) = node.connectors
                assert connector.address == spec.address

        old_pid = lab.state.processes["node1"].pid  # type: ignore[union-attr]
        lab.restart("node1")
        again = jvms.read_lab_node(lab, "node1")
        assert again.pid == lab.state.processes["node1"].pid != old_pid  # type: ignore[union-attr]
        (connector,) = again.connectors
        assert connector.address == lab.topology.nodes[0].address
        assert again.flags == jvm.parse_vm_flags(jvm.run(jvm.vm_flags_command(again.pid)))
        assert probe_servers() == []


def _live_jvm() -> subprocess.Popen[bytes]:
    """A JVM to read as a node's (JvmProbe's own server, with no JMX agent yet); the
    caller kills it and reads its pipes to the end (its stdin closed too)."""
    return subprocess.Popen(
        ["java", "-cp", str(jvm.compile_probe()), "JvmProbe", "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_node_read_over_its_host_starts_three_jvms_there_and_its_reader_none(
    tmp_path: Path,
) -> None:
    """One's own cluster's settings read started five JVMs on each node's host (jcmd for the
    agent's status, its start and the flags; jstat; the probe), and the JVM readers one more
    (the status): seconds of the node's CPU before each bench. Run on this machine's shell
    (LocalHost): the commands are what SSH would run, against a live JVM (JvmProbe's own
    server, with no agent yet)."""
    live = _live_jvm()
    started: list[str] = []  # the JVMs started on the node's host, but javac's one compile

    class Counted(LocalHost):
        def run(self, argv: list[str], **kwargs: object) -> CommandResult:
            if argv[0] in ("java", "jstat"):
                started.append(argv[0])
            elif argv[0] == "jcmd":  # jcmd [-J...] PID COMMAND
                started.append(f"jcmd {next(a for a in argv[1:] if a[:1].isupper())}")
            return super().run(argv, **kwargs)  # type: ignore[arg-type]

    host = Counted()
    address = "127.0.96.99"
    jmx = RemoteJmx(address, free_port(address), PurePosixPath(tmp_path / "jmx"))
    try:
        node = remote_jvm.read_node(host, "node1", live.pid, jmx)
        assert started == ["java", "jcmd VM.flags", "jstat"]
        assert node.listening == [f"{address}:{jmx.port}"]  # the agent the probe started
        assert (
            node.flags["MaxHeapSize"]
            == jvm.parse_vm_flags(jvm.run(jvm.vm_flags_command(live.pid)))["MaxHeapSize"]
        )
        started.clear()
        remote_jvm.prepare_probe(host, live.pid, jmx)  # before the readers' stream
        assert started == []
        # An agent listening elsewhere is named, its credentials not ours to know.
        elsewhere = RemoteJmx(address, free_port(address), jmx.folder)
        with pytest.raises(jvm.JvmReadError, match=f"already listens at {address}:{jmx.port}"):
            remote_jvm.read_node(host, "node1", live.pid, elsewhere)
    finally:
        live.kill()
        live.communicate()  # its stdin closed too


def test_an_agent_started_by_another_reader_since_ss_was_read_is_used_not_refused(
    tmp_path: Path,
) -> None:
    """Two readers of one node (the settings read and the JVM readers, were they ever to
    overlap) may both see no agent and both start it; the second start is refused. Where
    jcmd then finds the agent where the inventory says, the read carries on. Simulated on
    this machine's shell: `ss` answers as it did before the other reader's start."""

    class Stale(LocalHost):
        def run(self, argv: list[str], **kwargs: object) -> CommandResult:
            done = super().run(argv, **kwargs)  # type: ignore[arg-type]
            return dataclasses.replace(done, stdout="") if argv[0] == "ss" else done

    live = _live_jvm()
    address = "127.0.96.98"
    jmx = RemoteJmx(address, free_port(address), PurePosixPath(tmp_path / "jmx"))
    try:
        remote_jvm.prepare_probe(LocalHost(), live.pid, jmx)  # the other reader's start
        remote_jvm.prepare_probe(Stale(), live.pid, jmx)
        reading = remote_jvm.probe(Stale(), live.pid, jmx)
        assert reading["heap"]["max"] > 0
    finally:
        live.kill()
        live.communicate()


def test_two_readers_of_a_new_node_at_once_share_one_set_of_credentials(
    tmp_path: Path,
) -> None:
    """Two readers of one node at once (seen when the settings read and the JVM readers
    were tried side by side). On a node with no credentials yet, both found none and each
    wrote its own: the agent took one, the other reader's probe was refused ("Authentication
    failed"). Here the first reader is held at its reading of the credentials until the
    second has read them too (or 1 s passed)."""
    both_read = threading.Barrier(2)

    class Holding(LocalHost):
        def read_text(self, path: PurePosixPath) -> str | None:
            text = super().read_text(path)
            if path.name == "jmx.client":
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait(timeout=1.0)
            return text

    live = _live_jvm()
    address = "127.0.96.97"
    jmx = RemoteJmx(address, free_port(address), PurePosixPath(tmp_path / "jmx"))
    host = Holding()
    try:
        with ThreadPoolExecutor(max_workers=2) as readers:
            settings = readers.submit(remote_jvm.read_node, host, "node1", live.pid, jmx)
            reader = readers.submit(remote_jvm.prepare_probe, host, live.pid, jmx)
            credentials = reader.result()
            assert settings.result().heap.max_bytes > 0
        assert (tmp_path / "jmx" / "jmx.client").read_text().strip() == credentials
    finally:
        live.kill()
        live.communicate()
