"""The (command, parser) pairs of harness.cluster.jvm, on outputs captured from the real tools
(tests/fixtures/jvm: jcmd VM.flags and jstat -gc of a JDK 17 JVM, a JvmProbe reading of a
small-pool lab node)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cluster import jvm, probe_server
from harness.cluster.endpoints import Endpoint
from harness.load.telemetry import JVM_FIELDS, jvm_row, summarize_jvm

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jvm"


def _probe() -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / "probe_small_pool.json").read_text())
    return data


def test_vm_flags_give_heap_sizes_and_the_collector() -> None:
    flags = jvm.parse_vm_flags((FIXTURES / "vm_flags_serial.txt").read_text())
    assert flags["MaxHeapSize"] == str(128 * 2**20)
    assert flags["InitialHeapSize"] == str(64 * 2**20)
    assert flags["NewSize"] == flags["MaxNewSize"] == str(32 * 2**20)
    assert flags["UseSerialGC"] == "true"
    assert flags["THPStackMitigation"] == "false"
    assert jvm.gc_in_use(flags) == "Serial"


def test_vm_flags_without_flags_is_an_error() -> None:
    with pytest.raises(jvm.JvmReadError, match="no -XX flags"):
        jvm.parse_vm_flags("12345:\nCommand executed successfully\n")


def test_jstat_sums_the_heap_and_skips_columns_a_collector_lacks() -> None:
    row = jvm.parse_jstat_gc((FIXTURES / "jstat_gc_serial.txt").read_text())
    assert row["EU"] == 2099.3
    assert row["YGC"] == 0.0
    assert "CGC" not in row  # "-" for the Serial collector
    assert row["heap_used_kb"] == pytest.approx(2099.3)


def test_jstat_garbage_is_named() -> None:
    with pytest.raises(jvm.JvmReadError, match="expected a header and a row"):
        jvm.parse_jstat_gc("jstat: could not attach\n")


def test_the_executor_is_the_pool_when_the_connector_names_it() -> None:
    pool = jvm.pool_from(_probe())
    assert pool is not None
    assert (pool.kind, pool.name, pool.max_threads, pool.min_spare_threads) == (
        "executor",
        "tomcatThreadPool",
        4,
        2,
    )
    assert (pool.max_queue_size, pool.current_threads, pool.busy_threads, pool.queue_size) == (
        8,
        2,
        0,
        0,
    )
    assert pool.prestart_min_spare_threads is None  # Tomcat 9 does not expose it


def test_without_an_executor_the_connectors_own_pool_is_read() -> None:
    probe = _probe()
    probe["executors"] = []
    probe["connectors"] = [{"port": 8080, "protocol": "HTTP/1.1", "executorName": "Internal"}]
    probe["thread_pools"] = [
        {"name": "http-nio-x-8080", "maxThreads": 200, "minSpareThreads": 10,
         "currentThreadCount": 10, "currentThreadsBusy": 3},
    ]  # fmt: skip
    pool = jvm.pool_from(probe)
    assert pool is not None
    assert (pool.kind, pool.max_threads, pool.busy_threads, pool.queue_size) == (
        "connector",
        200,
        3,
        None,
    )


def test_connectors_and_ajp() -> None:
    connectors = jvm.connectors_from(_probe())
    assert [(c.port, c.address, c.handler, c.is_ajp) for c in connectors] == [
        (8080, "127.0.95.11", "org.apache.coyote.http11.Http11NioProtocol", False)
    ]
    assert connectors[0].attributes["maxConnections"] == 10000
    ajp = jvm.connectors_from(
        {"connectors": [{"port": 8009, "protocol": "AJP/1.3", "protocolHandlerClassName": "x"}]}
    )
    assert ajp[0].is_ajp


def test_collectors_sessions_and_totals() -> None:
    collectors = jvm.collectors_from(_probe())
    assert [(c.name, c.generation, c.count) for c in collectors] == [
        ("G1 Old Generation", "old", 0),
        ("G1 Young Generation", "young", 1),
    ]
    assert jvm.gc_totals(collectors) == {
        "young_gc_count": 1,
        "young_gc_time_ms": 38,
        "old_gc_count": 0,
        "old_gc_time_ms": 0,
    }
    assert jvm.sessions_from(_probe()) == 1


def test_listening_sockets_of_one_pid() -> None:
    text = (
        'LISTEN 0 100 [::ffff:127.0.95.11]:8080 *:* users:(("java",pid=17106,fd=44))\n'
        'LISTEN 0 50 [::ffff:127.0.95.11]:9010 *:* users:(("java",pid=17106,fd=55))\n'
        'LISTEN 0 511 127.0.95.10:8080 0.0.0.0:* users:(("nginx",pid=17370,fd=6))\n'
    )
    assert jvm.parse_listening(text, 17106) == [
        Endpoint("127.0.95.11", 8080),
        Endpoint("127.0.95.11", 9010),
    ]


def test_the_agent_binds_the_node_address_and_no_secret_is_on_the_command_line(
    tmp_path: Path,
) -> None:
    secrets = jvm.jmx_secrets(tmp_path / "jmx")
    argv = jvm.agent_start_command(42, "127.0.96.11", 9010, secrets)
    assert "jmxremote.host=127.0.96.11" in argv
    assert "jmxremote.authenticate=true" in argv
    password = (secrets / "jmx.client").read_text().split()[1]
    assert len(password) >= 24
    assert not any(password in arg for arg in argv)
    assert not any(password in arg for arg in jvm.probe_command("127.0.96.11", 9010))
    for name in ("jmx.password", "jmx.access", "jmx.client"):
        assert (secrets / name).stat().st_mode & 0o777 == 0o600
    access = jvm.JmxAccess("127.0.96.11", 9010, secrets)
    assert password not in repr(access)
    # Generated once: a second call keeps the credentials the running agents know.
    jvm.jmx_secrets(tmp_path / "jmx")
    assert (secrets / "jmx.client").read_text().split()[1] == password


def test_agent_status_names_where_a_remote_agent_listens() -> None:
    # Real `jcmd PID ManagementAgent.status` output of Java 17: the URL is an RMI stub.
    remote = (FIXTURES / "agent_status_remote.txt").read_text()
    assert jvm.parse_agent_status(remote) == "127.0.0.99:9011"
    assert jvm.parse_agent_status((FIXTURES / "agent_status_none.txt").read_text()) is None


def test_counts_and_probe_lines() -> None:
    assert jvm.parse_count("0\n") == 0
    assert jvm.parse_count("13\n") == 13
    assert len(jvm.parse_probe('{"a": 1}\n\n{"a": 2}\n')) == 2
    with pytest.raises(jvm.JvmReadError, match="not JSON"):
        jvm.parse_probe("Exception in thread main\n")


def test_a_probe_reading_becomes_a_telemetry_row() -> None:
    row = dict(zip(JVM_FIELDS, jvm_row("node1", _probe(), 1795475200.0, 3), strict=True))
    assert row["t_s"] == 12.169
    assert (row["pool_current"], row["pool_busy"], row["pool_max"], row["queue_size"]) == (
        2,
        0,
        4,
        0,
    )
    assert (row["rejections"], row["heap_used_bytes"], row["young_gc_count"]) == (3, 28332048, 1)
    assert row["sessions"] == 1


def _row(t: float, node: str, busy: int, young: int, young_ms: int) -> tuple[object, ...]:
    values = dict.fromkeys(JVM_FIELDS, 0)
    values |= {"t_s": t, "node": node, "pool_busy": busy, "pool_max": 4}
    values |= {"young_gc_count": young, "young_gc_time_ms": young_ms, "queue_size": ""}
    return tuple(values[f] for f in JVM_FIELDS)


def test_summary_counts_gcs_across_a_restart() -> None:
    rows = [
        _row(1, "node1", 1, 5, 50),
        _row(2, "node1", 4, 7, 70),
        _row(3, "node1", 2, 1, 10),  # restarted: the counters began again
        _row(4, "node1", 3, 2, 15),
    ]
    summary = summarize_jvm(rows)["node1"]
    assert summary["busy_threads_peak"] == 4
    assert summary["young_gc_count"] == 2 + 1 + 1
    assert summary["young_gc_time_ms"] == 20 + 10 + 5
    assert summary["queue_peak"] is None  # empty: the connector's pool tells no queue


def _node() -> jvm.NodeJvm:
    probe = _probe()
    return jvm.NodeJvm(
        node="node1", pid=1,
        flags=jvm.parse_vm_flags((FIXTURES / "vm_flags_serial.txt").read_text()),
        gc="Serial", max_heap_bytes=None, initial_heap_bytes=None, new_size_bytes=None,
        max_new_size_bytes=None, heap=jvm.Heap(init_bytes=1, used_bytes=1, committed_bytes=1,
                                              max_bytes=1),
        collectors=[], jstat={}, pool=jvm.pool_from(probe),
        connectors=jvm.connectors_from(probe), ajp=False, listening=[], rejections=0,
        sessions=None, live_threads=None,
    )  # fmt: skip


def test_what_the_profile_asks_is_compared_with_what_runs() -> None:
    requested = {
        "executor": {"maxThreads": "4", "minSpareThreads": "2", "maxQueueSize": "8",
                     "prestartminSpareThreads": "true"},
        "connector": {"protocol": "org.apache.coyote.http11.Http11NioProtocol",
                      "enableLookups": "false", "maxConnections": "10000"},
        "jvm": ["-Xms64m", "-Xmx128m", "-XX:NewSize=32m", "-XX:+UseSerialGC", "-Dx=y"],
    }  # fmt: skip
    assert jvm.mismatches(_node(), requested) == ([], ["executor.prestartminSpareThreads"])

    requested["executor"]["maxThreads"] = "400"
    requested["jvm"] = ["-Xmx256m", "-XX:-UseSerialGC", "-Xss256k"]
    requested["ajp"] = {"enabled": True}
    wrong, unseen = jvm.mismatches(_node(), requested)
    assert wrong == [
        "executor.maxThreads: asked 400, running 4",
        "ajp.enabled: asked True, running False",
        f"jvm.MaxHeapSize: asked {256 * 2**20}, running {128 * 2**20}",
        "jvm.UseSerialGC: asked false, running true",
    ]
    assert unseen == ["executor.prestartminSpareThreads", "jvm.ThreadStackSize"]


def test_the_replication_manager_asked_for_is_compared_with_the_contexts() -> None:
    delta = "org.apache.catalina.ha.session.DeltaManager"
    probe = {"contexts": [{"context": "/other", "className": "x"},
                          {"context": "/", "activeSessions": 3, "className": delta}]}  # fmt: skip
    running = jvm.session_manager_from(probe)
    assert running == "org.apache.catalina.ha.session.DeltaManager"
    node = _node().model_copy(update={"session_manager": running})
    asked = {"sessions": {"replication": {"manager": "BackupManager"}}}
    assert jvm.mismatches(node, asked)[0] == [
        "sessions.replication.manager: asked BackupManager, running "
        "org.apache.catalina.ha.session.DeltaManager"
    ]
    assert jvm.mismatches(node, {"sessions": {"replication": {"manager": "DeltaManager"}}}) == (
        [],
        [],
    )
    # A node that runs no replication (Redisson, say): the section does not apply there.
    redisson = node.model_copy(update={"session_manager": "org.redisson.tomcat.X"})
    assert jvm.mismatches(redisson, asked) == ([], [])


def _deployers(engine: int, *hosts: tuple[int, bool]) -> dict[str, object]:
    """The Engine and Host beans as JvmProbe prints them."""
    return {
        "engines": [{"objectName": "Catalina:type=Engine", "name": "Catalina",
                     "backgroundProcessorDelay": engine}],
        "hosts": [{"objectName": f"Catalina:type=Host,host=h{n}", "name": f"h{n}",
                   "backgroundProcessorDelay": delay, "autoDeploy": auto}
                  for n, (delay, auto) in enumerate(hosts)],
    }  # fmt: skip


def test_the_deployer_checks_as_often_as_its_host_or_else_its_engine_says() -> None:
    # Tomcat's stock server.xml: the Host has no delay of its own (-1), the Engine's 10 s.
    assert jvm.deployer_check_from(_deployers(10, (-1, True))) == 10
    assert jvm.deployer_check_from(_deployers(10, (3, False))) == 3
    # Several Hosts: a touch may have to wait for the slowest.
    assert jvm.deployer_check_from(_deployers(2, (-1, False), (30, True))) == 30
    # No background thread at all (Engine -1, Host -1): nothing ever checks.
    assert jvm.deployer_check_from(_deployers(-1, (-1, True))) is None
    assert jvm.deployer_check_from({}) is None  # a probe that did not say
    assert jvm.auto_deploy_from(_deployers(10, (-1, False), (-1, True))) is True
    assert jvm.auto_deploy_from(_deployers(10, (-1, False))) is False
    assert jvm.auto_deploy_from({}) is None


def test_the_deploy_settings_asked_for_are_compared_with_the_hosts() -> None:
    node = _node().model_copy(update={"deployer_check_s": 10, "auto_deploy": False})
    asked = {"deploy": {"backgroundProcessorDelay": "2", "autoDeploy": "false",
                        "reloadable": "true"}}  # fmt: skip
    assert jvm.mismatches(node, asked) == (
        ["deploy.backgroundProcessorDelay: asked 2, running 10"],
        [],
    )
    unread = node.model_copy(update={"deployer_check_s": None, "auto_deploy": None})
    assert jvm.mismatches(unread, asked) == (
        [],
        ["deploy.backgroundProcessorDelay", "deploy.autoDeploy"],
    )


def test_lab_status_shows_each_nodes_deployer_check() -> None:
    from harness.cli.lab import _jvm_rows  # noqa: PLC0415

    stock = _node().model_copy(update={"deployer_check_s": 10, "auto_deploy": True})
    unread = _node()
    rows = dict(_jvm_rows([stock, unread]))
    assert rows["deployer check s/autoDeploy"] == ["10/yes", "-/-"]


def test_parallel_readers_of_a_fresh_lab_agree_on_one_password(tmp_path: Path) -> None:
    # Two nodes are read at once; a fresh lab's secrets must be made exactly once.
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from harness.cluster.jvm import jmx_secrets  # noqa: PLC0415

    for attempt in range(20):
        directory = tmp_path / str(attempt)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(jmx_secrets, [directory] * 8))
        assert (directory / "jmx.client").read_text() == (directory / "jmx.password").read_text()


def test_each_agent_gets_its_own_password_file(tmp_path: Path) -> None:
    """A JVM rewrites its password file in place; two agents sharing one raced (one read
    it half rewritten and refused the right password). Each gets its own copy now."""
    one = jvm.agent_secrets(tmp_path, "127.0.1.11", 9010)
    two = jvm.agent_secrets(tmp_path, "127.0.1.12", 9010)
    assert one != two
    client = (tmp_path / "jmx.client").read_text()
    for own in (one, two):
        assert (own / "jmx.password").read_text() == client
        assert (own / "jmx.password").stat().st_mode & 0o777 == 0o600
        assert (own / "jmx.access").read_text() == (tmp_path / "jmx.access").read_text()
        command = jvm.agent_start_command(1, "127.0.1.11", 9010, own)
        assert f"jmxremote.password.file={own / 'jmx.password'}" in command
    # A node started again reuses its copy: its agent already hashed it.
    (one / "jmx.password").write_text("tomcatbench hashed\n")
    assert jvm.agent_secrets(tmp_path, "127.0.1.11", 9010) == one
    assert (one / "jmx.password").read_text() == "tomcatbench hashed\n"


def test_two_checkouts_sharing_the_cache_each_run_their_own_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ci-bench runs the base commit beside the head with one cache: the base's JvmProbe,
    compiled later, was newer than the head's source, so the head ran it ("unknown option
    --gc-run"). Each source text gets its own classes. (Real javac.)"""
    text = jvm.PROBE_SOURCE.read_text()
    assert "--gc-run" in text
    head, base = tmp_path / "head" / "JvmProbe.java", tmp_path / "base" / "JvmProbe.java"
    for path, source in ((head, text), (base, text.replace("--gc-run", "--gc-old"))):
        path.parent.mkdir()
        path.write_text(source)
    cache = tmp_path / "cache"
    built = {}
    for name, source in (("head", head), ("base", base), ("head again", head)):
        monkeypatch.setattr(jvm, "PROBE_SOURCE", source)
        built[name] = jvm.compile_probe(cache)
    assert built["head again"] == built["head"] != built["base"]
    assert b"--gc-run" in (built["head again"] / "JvmProbe$Request.class").read_bytes()
    assert b"--gc-old" in (built["base"] / "JvmProbe$Request.class").read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        {built["head"].name, built["base"].name}
    )


def test_stopping_the_agents_starts_no_probe_server(tmp_path: Path) -> None:
    """lab down from another process has no server of its own: starting one only to stop
    the agents would cost more than the agents' slower exit."""
    probe_server.close_shared()
    jvm.jmx_secrets(tmp_path)
    jvm.stop_agents({"127.0.77.11": 1}, tmp_path)
    assert probe_server.running_shared() is None
