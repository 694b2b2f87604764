"""The configs each session strategy renders: context.xml, server.xml, web.xml, manifest."""

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.artifacts import Artifacts
from harness.cluster.lab import tomcat
from harness.cluster.lab.lab import SESSION_STORES, _store_settings
from harness.cluster.lab.render import render
from harness.cluster.lab.topology import Topology
from harness.config.profile import ProfileError, load_profile
from harness.paths import PROFILES_DIR
from tests.unit.tomcat_home import CLASSPATH

MSM = "de.javakaffee.web.msm.MemcachedBackupSessionManager"
NODES = "memA:127.0.9.21:11211,memB:127.0.9.22:11211"


def _store(kind: str, tmp_path: Path) -> dict[str, Any]:
    return _store_settings(
        kind, Topology(net="127.0.9", run_dir=tmp_path), load_profile("best-practice")
    )


def _node(name: str) -> dict[str, Any]:
    number = int(name.removeprefix("node"))
    return {
        "name": name,
        "address": f"127.0.9.{10 + number}",
        "port": 8080,
        "shutdown_port": 8005,
        "shutdown_command": "s3cret",
        "base": Path("/srv/tomcat-bench/node1"),
    }


def _file(store: dict[str, Any], node: str, path: str) -> ET.Element:
    files = tomcat.lab_configs(_node(node), load_profile("default"), store, CLASSPATH)
    text = next(config.text for config in files if config.path == path)
    return ET.fromstring(text.encode())


def _context_manager(store: dict[str, Any], node: str) -> ET.Element | None:
    return _file(store, node, "conf/context.xml").find("Manager")


def _server(store: dict[str, Any], node: str) -> ET.Element:
    return _file(store, node, "conf/server.xml")


def test_sticky_msm_stores_on_the_other_memcached_and_fails_over_to_its_neighbour(
    tmp_path: Path,
) -> None:
    store = _store("memcached-sticky", tmp_path)
    failover = {}
    for node in ("node1", "node2"):
        manager = _context_manager(store, node)
        assert manager is not None
        assert manager.get("className") == MSM
        assert manager.get("memcachedNodes") == NODES
        assert manager.get("sticky") == "true"
        assert manager.get("sessionBackupAsync") == "false"
        assert manager.get("lockingMode") is None
        assert manager.get("requestUriIgnorePattern") == r".*\.(ico|png|gif|jpg|css|js)$"
        failover[node] = manager.get("failoverNodes")
    # node1 sits beside memA: memA is its failover node, so it stores primarily in memB.
    assert failover == {"node1": "memA", "node2": "memB"}


def test_non_sticky_msm_locks_the_counter_page_and_has_no_failover_nodes(tmp_path: Path) -> None:
    store = _store("memcached-nonsticky", tmp_path)
    manager = _context_manager(store, "node2")
    assert manager is not None
    assert manager.get("className") == MSM
    assert manager.get("memcachedNodes") == NODES
    assert manager.get("sticky") == "false"
    assert manager.get("lockingMode") == r"uriPattern:/session\.jsp.*"
    assert manager.get("failoverNodes") is None


def test_replication_renders_a_static_cluster_and_no_context_manager(tmp_path: Path) -> None:
    store = _store("replication", tmp_path)
    assert _context_manager(store, "node1") is None
    cluster = _server(store, "node2").find("Service/Engine/Cluster")
    assert cluster is not None
    assert cluster.get("className") == "org.apache.catalina.ha.tcp.SimpleTcpCluster"
    assert cluster.get("channelSendOptions") == "6"
    manager = cluster.find("Manager")
    assert manager is not None
    assert manager.get("className") == "org.apache.catalina.ha.session.DeltaManager"
    membership = cluster.find("Channel/Membership")
    assert membership is not None
    assert membership.get("className", "").endswith(".StaticMembershipService")
    members = [(m.get("host"), m.get("port")) for m in membership.findall("Member")]
    assert members == [("127.0.9.11", "4000"), ("127.0.9.12", "4000")]
    assert len({m.get("uniqueId") for m in membership.findall("Member")}) == 2
    receiver = cluster.find("Channel/Receiver")
    assert receiver is not None
    assert (receiver.get("address"), receiver.get("port")) == ("127.0.9.12", "4000")
    valves = [v.get("className", "").rsplit(".", 1)[-1] for v in cluster.findall("Valve")]
    assert valves == ["ReplicationValve", "JvmRouteBinderValve"]
    listener = cluster.find("ClusterListener")
    assert listener is not None
    assert listener.get("className") == "org.apache.catalina.ha.session.ClusterSessionListener"


@pytest.mark.parametrize("kind", SESSION_STORES)
def test_only_replication_has_a_cluster_and_a_distributable_web_xml(
    kind: str, tmp_path: Path
) -> None:
    store = _store(kind, tmp_path)
    server = _server(store, "node1")
    assert (server.find("Service/Engine/Cluster") is not None) == (kind == "replication")
    web = render("webapp/WEB-INF/web.xml", distributable=kind == "replication")
    root = ET.fromstring(web.encode())
    namespace = "{http://xmlns.jcp.org/xml/ns/javaee}"
    assert (root.find(f"{namespace}distributable") is not None) == (kind == "replication")
    assert root.find(f"{namespace}session-config") is not None


@pytest.mark.parametrize("kind", SESSION_STORES)
def test_manifest_settings_name_the_manager_and_keep_secrets_to_redis(
    kind: str, tmp_path: Path
) -> None:
    store = _store(kind, tmp_path)
    json.dumps(store)  # recorded in run.json as it is
    assert store["kind"] == kind
    assert store["manager"]
    assert ("password" in store) == kind.startswith("redis")
    assert bool(store.get("sentinel")) == (kind == "redis-sentinel")
    if kind.startswith("memcached"):
        assert store["memcached_nodes"] == NODES
        assert store["sticky"] == (kind == "memcached-sticky")
        assert (store["locking_mode"] is None) == store["sticky"]
    if kind == "replication":
        assert store["channel_send_options"] == 6


@pytest.mark.parametrize("kind", SESSION_STORES)
def test_msm_jars_go_into_lib_only_for_memcached_strategies(kind: str, tmp_path: Path) -> None:
    artifacts = Artifacts(
        tomcat_tarball=tmp_path / "tomcat-9.0.1.tar.gz",
        redisson_jars=(tmp_path / "redisson-all-3.0.jar",),
        msm_jars=(tmp_path / "memcached-session-manager-2.3.2.jar",),
    )
    jars = tomcat.manager_jars(_store(kind, tmp_path), artifacts)
    expected = {
        "redis": artifacts.redisson_jars,
        "redis-sentinel": artifacts.redisson_jars,
        "memcached-sticky": artifacts.msm_jars,
        "memcached-nonsticky": artifacts.msm_jars,
    }.get(kind, ())
    assert jars == expected


def test_a_profiles_redisson_modes_reach_the_manager_and_the_manifest(tmp_path: Path) -> None:
    """[sessions.redisson] readMode/updateMode in a profile: rendered into each node's
    context.xml, kept in the store settings (run.json), asked for in the profile's
    manifest; without the section, Redisson's own defaults."""
    path = tmp_path / "modes.toml"
    path.write_text(
        'extends = "best-practice"\n[sessions.redisson]\n'
        'readMode = "MEMORY"\nupdateMode = "AFTER_REQUEST"\n'
    )
    shutil.copy(PROFILES_DIR / "best-practice.toml", tmp_path / "best-practice.toml")
    profile = load_profile(str(path))
    store = _store_settings("redis", Topology(net="127.0.9", run_dir=tmp_path), profile)
    assert (store["read_mode"], store["update_mode"]) == ("MEMORY", "AFTER_REQUEST")
    manager = _context_manager(store, "node1")
    assert manager is not None
    assert (manager.get("readMode"), manager.get("updateMode")) == ("MEMORY", "AFTER_REQUEST")
    assert profile.effective()["sessions"] == {
        "redisson": {"readMode": "MEMORY", "updateMode": "AFTER_REQUEST"}
    }
    plain = _context_manager(_store("redis", tmp_path), "node1")
    assert plain is not None
    assert (plain.get("readMode"), plain.get("updateMode")) == ("REDIS", "DEFAULT")


def _profile(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "stores.toml"
    path.write_text(f'extends = "best-practice"\n{text}\n')
    shutil.copy(PROFILES_DIR / "best-practice.toml", tmp_path / "best-practice.toml")
    return load_profile(str(path))


def test_a_profiles_msm_settings_reach_the_manager_and_the_manifest(tmp_path: Path) -> None:
    profile = _profile(tmp_path, '[sessions.msm]\nlockingMode = "all"\nsessionBackupAsync = true')
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    store = _store_settings("memcached-nonsticky", topology, profile)
    assert (store["locking_mode"], store["session_backup_async"]) == ("all", True)
    manager = _context_manager(store, "node1")
    assert manager is not None
    assert (manager.get("lockingMode"), manager.get("sessionBackupAsync")) == ("all", "true")
    assert profile.effective()["sessions"] == {
        "msm": {"lockingMode": "all", "sessionBackupAsync": "true"}
    }
    # Sticky sessions are never locked: msm's lockingMode is for non-sticky ones only.
    sticky = _context_manager(_store_settings("memcached-sticky", topology, profile), "node1")
    assert sticky is not None and sticky.get("lockingMode") is None


def test_a_profiles_replication_settings_reach_the_cluster(tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        '[sessions.replication]\nmanager = "BackupManager"\nchannelSendOptions = "async"',
    )
    store = _store_settings("replication", Topology(net="127.0.9", run_dir=tmp_path), profile)
    cluster = _server(store, "node1").find("Service/Engine/Cluster")
    assert cluster is not None
    assert cluster.get("channelSendOptions") == "async"
    manager = cluster.find("Manager")
    assert manager is not None
    assert manager.get("className") == "org.apache.catalina.ha.session.BackupManager"
    # DeltaManager's own attribute is not set on a BackupManager (Tomcat would warn).
    assert manager.get("expireSessionsOnShutdown") is None
    assert store["manager"] == "org.apache.catalina.ha.session.BackupManager"
    assert profile.effective()["sessions"] == {
        "replication": {"manager": "BackupManager", "channelSendOptions": "async"}
    }


@pytest.mark.parametrize(
    "text",
    [
        '[sessions.redisson]\nupdateMode = "ALWAYS"',
        '[sessions.msm]\nlockingMode = "sometimes"',
        "[sessions.msm]\nsticky = true",
        '[sessions.replication]\nmanager = "Delta"',
        '[sessions.replication]\nchannelSendOptions = "fast"',
    ],
)
def test_a_wrong_store_setting_is_one_line_naming_file_and_key(text: str, tmp_path: Path) -> None:
    table, line = text.removeprefix("[").split("]\n")
    key = f"{table}.{line.split(' =')[0]}"
    path = tmp_path / "wrong.toml"
    path.write_text(f"{text}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and key in message, message
