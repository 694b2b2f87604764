"""The rendered Tomcat and nginx configs, checked as XML and with nginx -t."""

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cluster.lab import haproxy, nginx, redisson_config, tomcat
from harness.cluster.lab.balancers import BALANCERS, balancer
from harness.cluster.lab.render import render
from harness.cluster.lab.topology import Topology
from harness.config.profile import ProfileError, load_profile
from tests.unit.tomcat_home import CLASSPATH, HOME

NODE = {
    "name": "node1",
    "address": "127.0.9.11",
    "port": 8080,
    "shutdown_port": 8005,
    "shutdown_command": "s3cret",
    "base": Path("/srv/tomcat-bench/node1"),
}


def _lab_file(profile_name: str, path: str, store: dict[str, str] | None = None) -> str:
    store = store or {"kind": "none"}
    files = tomcat.lab_configs(NODE, load_profile(profile_name), store, CLASSPATH)
    return next(config.text for config in files if config.path == path)


def _server_xml(profile_name: str) -> ET.Element:
    return ET.fromstring(_lab_file(profile_name, "conf/server.xml").encode())


def test_best_practice_server_xml_has_the_executor_and_no_ajp() -> None:
    server = _server_xml("best-practice")
    assert server.get("address") == "127.0.9.11"
    assert server.get("port") == "8005"
    executor = server.find("Service/Executor")
    assert executor is not None
    assert executor.get("maxThreads") == "400"
    assert executor.get("prestartminSpareThreads") == "true"
    connectors = server.findall("Service/Connector")
    assert len(connectors) == 1  # HTTP only: no AJP connector
    http = connectors[0]
    assert http.get("address") == "127.0.9.11"
    assert http.get("executor") == "tomcatThreadPool"
    assert http.get("protocol") == "org.apache.coyote.http11.Http11NioProtocol"
    assert "AJP" not in (http.get("protocol") or "")
    engine = server.find("Service/Engine")
    assert engine is not None
    assert engine.get("jvmRoute") == "node1"


def test_default_server_xml_uses_the_connectors_own_pool() -> None:
    server = _server_xml("default")
    assert server.find("Service/Executor") is None
    http = server.find("Service/Connector")
    assert http is not None
    assert http.get("executor") is None
    assert http.get("protocol") == "HTTP/1.1"


def test_a_lab_node_loads_tomcat_and_the_manager_from_the_class_path() -> None:
    """Tomcat's common loader empty, its jars and the manager's on the JVM's class path:
    the class archive then holds them whole (tomcat.SystemClassPath)."""
    setenv = _lab_file("best-practice", "bin/setenv.sh")
    jars = ":".join(str(jar) for jar in CLASSPATH.jars)
    assert f"CLASSPATH={jars}\n" in setenv
    properties = _lab_file("best-practice", "conf/catalina.properties").splitlines()
    assert "common.loader=" in properties
    stock = (HOME / "conf" / "catalina.properties").read_text().splitlines()
    assert [line for line in stock if not line.startswith("common.loader=")] == [
        line for line in properties if line != "common.loader="
    ]
    # The node reads itself: its listener (on that class path) writes under its base.
    server = ET.fromstring(_lab_file("best-practice", "conf/server.xml"))
    (listener,) = [e for e in server.findall("Listener") if e.get("className") == "NodeReadings"]
    assert listener.attrib == {
        "className": "NodeReadings",
        "folder": "/srv/tomcat-bench/node1/readings",
        "everyMs": "1000",
    }


def test_a_node_with_tomcats_stock_loaders_gets_no_class_path() -> None:
    """The SSH testbed's stand-ins for an operator's nodes: jars in CATALINA_BASE/lib,
    catalina.properties as shipped (a profile applied later renders the stock setenv.sh,
    which sets no class path)."""
    files = tomcat.lab_configs(NODE, load_profile("best-practice"), {"kind": "none"}, None)
    assert "conf/catalina.properties" not in [config.path for config in files]
    setenv = next(config.text for config in files if config.path == "bin/setenv.sh")
    assert "CLASSPATH" not in setenv
    # No readings listener either (its class is on the lab's class path): read over JMX.
    server = next(config.text for config in files if config.path == "conf/server.xml")
    assert "NodeReadings" not in server


def test_a_tomcat_home_without_jars_is_named_not_started_empty(tmp_path: Path) -> None:
    """An emptied common.loader and no jar on the class path: a node with no Tomcat."""
    (tmp_path / "lib").mkdir()
    with pytest.raises(ValueError, match=r"/lib: no jars; is .* an unpacked Tomcat\?"):
        tomcat.SystemClassPath.of(tmp_path, {"kind": "none"}, None)  # type: ignore[arg-type]


def test_a_tomcat_without_a_common_loader_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "catalina.properties").write_text("server.loader=\n")
    classpath = tomcat.SystemClassPath(tmp_path, ())
    with pytest.raises(ValueError, match=r"catalina\.properties: no common\.loader line"):
        classpath.catalina_properties()


def test_setenv_carries_the_heap_flags() -> None:
    text = _lab_file("best-practice", "bin/setenv.sh")
    assert "-Xms1024m -Xmx1024m" in text
    assert "-DjvmRoute=node1" in text


@pytest.mark.parametrize("kind", ["redis", "none"])
def test_context_xml_is_valid_and_names_the_manager(kind: str) -> None:
    store = {
        "kind": kind,
        "read_mode": "REDIS",
        "update_mode": "DEFAULT",
        "key_prefix": "x",
        **({"address": "127.0.9.20", "port": 6379, "password": "p"} if kind == "redis" else {}),
    }
    context = ET.fromstring(_lab_file("default", "conf/context.xml", store).encode())
    manager = context.find("Manager")
    assert manager is not None
    if kind == "redis":
        assert manager.get("className") == "org.redisson.tomcat.RedissonSessionManager"
        assert manager.get("readMode") == "REDIS"
    else:
        assert manager.get("className") is None


_REDIS = {
    "kind": "redis",
    "read_mode": "REDIS",
    "update_mode": "DEFAULT",
    "key_prefix": "x",
    "address": "127.0.9.20",
    "port": 6379,
    "password": "p4ss",
    "sentinel": None,
}
_SENTINEL = {
    **_REDIS,
    "kind": "redis-sentinel",
    "sentinel": {"address": "127.0.9.24", "port": 26379, "master_name": "tomcat-bench"},
}


@pytest.mark.parametrize("store", [_REDIS, _SENTINEL], ids=["redis", "sentinel"])
def test_a_lab_nodes_redisson_settings_come_from_a_listener_not_a_yaml_file(
    store: dict[str, object],
) -> None:
    """Jackson's first parse of redisson.yaml cost each node 0.3 s of CPU: a lab node's
    manager gets the same settings from RedissonLabConfig, and no YAML file is written."""
    files = {f.path: f for f in tomcat.lab_configs(NODE, load_profile("default"), store, CLASSPATH)}
    assert "conf/redisson.yaml" not in files
    context = ET.fromstring(files["conf/context.xml"].text.encode())
    manager = context.find("Manager")
    assert manager is not None and manager.get("configPath") is None
    listener = context.find("Listener")
    assert listener is not None
    assert listener.get("className") == "RedissonLabConfig"
    assert listener.get("password") == "p4ss"
    assert files["conf/context.xml"].mode == 0o600  # it holds the password
    if store["sentinel"]:
        assert listener.get("address") == "redis://127.0.9.24:26379"
        assert listener.get("masterName") == "tomcat-bench"
    else:
        assert listener.get("address") == "redis://127.0.9.20:6379"
        assert listener.get("masterName") is None
    assert {key: listener.get(key) for key in redisson_config.POOL} == {
        key: str(value) for key, value in redisson_config.POOL.items()
    }


def test_a_stock_nodes_redisson_reads_its_yaml_as_an_operators_does() -> None:
    files = {f.path: f for f in tomcat.lab_configs(NODE, load_profile("default"), _REDIS, None)}
    context = ET.fromstring(files["conf/context.xml"].text.encode())
    manager = context.find("Manager")
    assert manager is not None
    assert manager.get("configPath") == "${catalina.base}/conf/redisson.yaml"
    assert context.find("Listener") is None
    yaml = files["conf/redisson.yaml"]
    assert yaml.mode == 0o600
    assert 'address: "redis://127.0.9.20:6379"' in yaml.text
    assert "connectionPoolSize: 32" in yaml.text


def test_rendered_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    config = nginx.prepare(tmp_path / "nginx", topology.balancer, topology.nodes)
    text = config.read_text()
    assert "listen 127.0.9.10:8080;" in text
    assert "server 127.0.9.11:8080 weight=1 max_fails=1 fail_timeout=10s;" in text
    assert "proxy_next_upstream error timeout http_502 http_503;" in text


def test_webapp_pages_exist() -> None:
    for page in ("session.jsp", "health.jsp", "WEB-INF/web.xml"):
        assert (tomcat.WEBAPP_DIR / page).is_file()
    assert 'session="false"' in (tomcat.WEBAPP_DIR / "health.jsp").read_text()


def test_topology_refuses_non_loopback_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        Topology(net="192.168.1", run_dir=tmp_path)
    with pytest.raises(ValueError, match="three octets"):
        Topology(net="127.0", run_dir=tmp_path)


@pytest.mark.parametrize("name", sorted(BALANCERS))
def test_every_balancer_renders_a_config_its_server_accepts(name: str, tmp_path: Path) -> None:
    lb = BALANCERS[name]
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    if lb.kind == "nginx":
        text = nginx.prepare(
            tmp_path / "nginx", topology.balancer, topology.nodes, lb.nginx_balance
        )
        text_of = text.read_text()
        if lb.nginx_balance:
            assert f"{lb.nginx_balance};" in text_of
    elif lb.kind == "nftables":
        text_of = render(
            "l4hash.nft.j2", table="t", address="127.0.9.10", port=8080,
            nodes=topology.nodes, seed="0x5eed",
        )  # fmt: skip
        checked = subprocess.run(["nft", "-c", "-f", "-"], input=text_of, text=True, check=False)
        assert checked.returncode == 0
        assert "dnat to jhash ip saddr mod 2 seed 0x5eed map @backends" in text_of
    else:
        config = haproxy.prepare(tmp_path / "haproxy", topology.balancer, topology.nodes, lb)
        text_of = config.read_text()
        assert "check inter 500ms fall 2 rise 2" in text_of
        assert "option redispatch" in text_of
        assert ("cookie SERVERID insert indirect nocache" in text_of) == lb.haproxy_cookie
        assert ("stick on req.cook(JSESSIONID)" in text_of) == lb.haproxy_stick_on_session
        assert ("hash-type consistent" in text_of) == lb.haproxy_hash_consistent


def test_unknown_balancer_is_named() -> None:
    with pytest.raises(ValueError, match="LB=nope: unknown balancer; one of nginx-rr"):
        balancer("nope")


def test_a_relative_run_dir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    topology = Topology(net="127.0.9", run_dir=Path("lab"))
    assert topology.run_dir == tmp_path / "lab"
    config = nginx.prepare(topology.run_dir / "nginx", topology.balancer, topology.nodes)
    assert config.is_absolute()


def test_a_profiles_nginx_failover_settings_render_and_pass_nginx_t(tmp_path: Path) -> None:
    """[balancer.nginx] replaces the lab's failover settings one by one; nginx -t (run by
    prepare) accepts the file, and what the profile left unset keeps the lab's value."""
    path = tmp_path / "failover.toml"
    path.write_text(
        '[balancer.nginx]\nproxy_next_upstream = "off"\nmax_fails = 3\nfail_timeout = "2s"\n'
        'proxy_read_timeout = "3s"\nkeepalive = 0\nproxy_next_upstream_timeout = "500ms"\n'
    )
    profile = load_profile(str(path))
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    wanted = profile.balancer.nginx.model_dump()
    text = nginx.prepare(tmp_path / "nginx", topology.balancer, topology.nodes, None, wanted)
    conf = text.read_text()
    assert "server 127.0.9.11:8080 weight=1 max_fails=3 fail_timeout=2s;" in conf
    assert "proxy_next_upstream off;" in conf
    assert "proxy_read_timeout 3s;" in conf
    assert "proxy_next_upstream_timeout 500ms;" in conf
    assert "proxy_connect_timeout 1s;" in conf  # unset: the lab's
    assert "keepalive " not in conf  # 0: no idle connections kept
    assert profile.effective()["balancer"] == {
        "nginx": {
            "max_fails": "3",
            "fail_timeout": "2s",
            "proxy_next_upstream": "off",
            "proxy_next_upstream_timeout": "500ms",
            "proxy_read_timeout": "3s",
            "keepalive": "0",
        }
    }


def test_a_profiles_haproxy_failover_settings_render_and_pass_haproxy_c(tmp_path: Path) -> None:
    """[balancer.haproxy] replaces the lab's settings one by one; haproxy -c (run by
    prepare) accepts the file, and what the profile left unset keeps the lab's value."""
    path = tmp_path / "failover.toml"
    path.write_text(
        '[balancer.haproxy]\nretry_on = "none"\nredispatch = false\nretries = 0\n'
        'check_inter = "2s"\ncheck_fall = 3\ntimeout_server = "3s"\n'
    )
    profile = load_profile(str(path))
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    wanted = profile.balancer.haproxy.model_dump()
    lb = balancer("haproxy-cookie")
    conf = haproxy.prepare(tmp_path / "h", topology.balancer, topology.nodes, lb, wanted)
    text = conf.read_text()
    assert "retry-on none" in text
    assert "no option redispatch" in text
    assert "retries 0" in text
    assert "timeout server 3s" in text
    assert "timeout connect 1s" in text  # unset: the lab's
    assert "check inter 2s fall 3 rise 2" in text
    assert profile.effective()["balancer"] == {
        "haproxy": {
            "retry_on": "none",
            "retries": "0",
            "redispatch": "false",
            "check_inter": "2s",
            "check_fall": "3",
            "timeout_server": "3s",
        }
    }
    lab = haproxy.prepare(tmp_path / "lab", topology.balancer, topology.nodes, lb).read_text()
    assert "    option redispatch" in lab and "no option" not in lab
    assert "check inter 500ms fall 2 rise 2" in lab


@pytest.mark.parametrize(
    "text",
    [
        '[balancer.nginx]\nproxy_next_upstream = "error sometimes"',
        '[balancer.nginx]\nfail_timeout = "10 seconds"',
        "[balancer.nginx]\nmax_fails = -1",
        "[balancer.nginx]\nretries = 3",
        '[balancer.haproxy]\nretry_on = "conn-failure often"',
        '[balancer.haproxy]\ncheck_inter = "2 seconds"',
        "[balancer.haproxy]\ncheck_fall = 0",
        "[balancer.haproxy]\nmax_fails = 1",
        '[tls]\nprotocols = ["SSLv3"]',
        '[tls]\nciphers = "HIGH;rm -rf"',
        "[tls]\nresumption = true",
    ],
)
def test_a_wrong_balancer_or_tls_setting_is_one_line_naming_file_and_key(
    text: str, tmp_path: Path
) -> None:
    table, line = text.removeprefix("[").split("]\n")
    key = f"{table}.{line.split(' =')[0]}"
    path = tmp_path / "wrong.toml"
    path.write_text(f"{text}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and key in message, message
