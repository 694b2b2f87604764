"""Tomcat 9 nodes: one CATALINA_BASE each, sharing one unpacked CATALINA_HOME."""

from __future__ import annotations

import filecmp
import json
import re
import shlex
import shutil
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster import readings
from harness.cluster.artifacts import Artifacts
from harness.cluster.endpoints import Endpoint, get_json
from harness.cluster.lab import redisson_config
from harness.cluster.lab.processes import ProcessRecord, start
from harness.cluster.lab.render import WEBAPP_DIR, render, render_to
from harness.cluster.lab.topology import CLUSTER_PORT, NodeSpec
from harness.cluster.lab.unsigned_jars import class_path_jar
from harness.config.profile import Profile
from harness.files import write_atomically

# Rendered per strategy rather than copied (see _render_webapp).
_WEB_XML = Path("WEB-INF") / "web.xml"

CLUSTER_MANAGER = "org.apache.catalina.ha.session.DeltaManager"
# Synchronous and acknowledged (SEND_OPTIONS_SYNCHRONIZED_ACK 2 | USE_ACK 4).
CLUSTER_SEND_OPTIONS = 6

# Stock files a CATALINA_BASE needs that we do not change.
_STOCK_CONF = ("web.xml", "logging.properties")
_CATALINA_PROPERTIES = Path("conf") / "catalina.properties"
_COMMON_LOADER = re.compile(r"^common\.loader=.*$", re.MULTILINE)


def _sync_tree(source: Path, target: Path, *, skip: tuple[Path, ...] = ()) -> None:
    """Copy only files that changed, so Tomcat keeps the JSPs it already compiled."""
    for path in source.rglob("*"):
        destination = target / path.relative_to(source)
        if path.relative_to(source) in skip:
            continue
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.exists() or not filecmp.cmp(path, destination, shallow=False):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def prepare_base(
    node: NodeSpec,
    base: Path,
    *,
    home: Path,
    artifacts: Artifacts,
    profile: Profile,
    store: dict[str, Any],
    shutdown_command: str,
    extra_flags: Sequence[str] = (),
    stock_loaders: bool = False,
) -> None:
    """Lay out CATALINA_BASE and render its configs from the profile and the store;
    extra_flags: JVM flags of the lab's own beside the profile's (its class archive);
    stock_loaders: the manager's jars in CATALINA_BASE/lib, loaded by Tomcat's common
    loader as a stock install has them (the SSH testbed's stand-ins for an operator's
    nodes), not from the class path as a lab node (SystemClassPath)."""
    # An earlier lab's readings: a pid it used may come again.
    shutil.rmtree(base / readings.READINGS, ignore_errors=True)
    for sub in ("conf", "lib", "logs", "temp", "work", "webapps/ROOT", "bin"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name in _STOCK_CONF:
        shutil.copy2(home / "conf" / name, base / "conf" / name)
    for stale in (base / "lib").glob("*.jar"):
        stale.unlink()
    classpath = None if stock_loaders else SystemClassPath.of(home, store, artifacts)
    if classpath is None:
        shutil.copy2(home / _CATALINA_PROPERTIES, base / _CATALINA_PROPERTIES)
        for jar in manager_jars(store, artifacts):
            shutil.copy2(jar, base / "lib" / jar.name)
    _render_webapp(base / "webapps" / "ROOT", distributable=store["kind"] == "replication")

    node_context = {
        "name": node.name,
        "address": node.address,
        "port": node.port,
        "shutdown_port": node.shutdown_port,
        "shutdown_command": shutdown_command,
        "extra_flags": list(extra_flags),
        "base": base,
    }
    # A Redis lab before this one may have left its YAML (and its password): written again
    # below if this node reads it.
    (base / "conf" / "redisson.yaml").unlink(missing_ok=True)
    for config in lab_configs(node_context, profile, store, classpath):
        write_atomically(base / config.path, config.text, config.mode)


@dataclass(frozen=True)
class ConfigFile:
    """One rendered file, relative to CATALINA_BASE."""

    path: str
    text: str
    mode: int = 0o644


@dataclass(frozen=True)
class SystemClassPath:
    """What a lab node's JVM loads from its class path: Tomcat's lib and the session
    manager's jars, where they are kept (the same paths on every node), with Tomcat's
    common.loader empty, so that Tomcat uses the system class loader as its own.

    Why not Tomcat's common loader, as a stock install does: the class archive
    (class_archive.py) holds a class from the system class path whole, linked and ready,
    while a class of another loader is still read from its jar and only its parsing is
    saved; and the JVM archives no class of another loader that the recording node did not
    link (918 of Redisson's, Netty's and Jackson's). On the class path, one node's start
    took 3.1-3.3 s of CPU instead of 4.4-4.7 s, and 1.7-1.8 s instead of 2.5 s to its
    first answer (one node alone, three of each). The webapp, the profile and the session
    manager are as before: only which loader holds Tomcat's own classes changed (and a
    signed jar's signature: unsigned_jars.py)."""

    home: Path
    jars: tuple[Path, ...]

    @classmethod
    def of(cls, home: Path, store: dict[str, Any], artifacts: Artifacts) -> SystemClassPath:
        tomcat_jars = sorted((home / "lib").glob("*.jar"))
        if not tomcat_jars:
            # With common.loader emptied, such a node would start with no Tomcat at all.
            raise ValueError(f"{home / 'lib'}: no jars; is {home} an unpacked Tomcat?")
        manager = manager_jars(store, artifacts)
        # A Redis store's settings reach its manager through a listener (redisson_config).
        own = (redisson_config.listener_jar(home, manager),) if _uses_redis(store) else ()
        jars = (*tomcat_jars, *manager, *own, readings.listener_jar(home))
        # Tomcat's ecj is signed: see unsigned_jars.py for what that costs a start.
        return cls(home, tuple(class_path_jar(jar) for jar in jars))

    def seen_by_jvm(self) -> list[Path]:
        """Every jar on the JVM's class path: catalina.sh adds its bootstrap jars last."""
        return [
            *self.jars,
            self.home / "bin" / "bootstrap.jar",
            self.home / "bin" / "tomcat-juli.jar",
        ]

    def catalina_properties(self) -> ConfigFile:
        """Tomcat's stock catalina.properties with common.loader empty."""
        stock = self.home / _CATALINA_PROPERTIES
        text, found = _COMMON_LOADER.subn("common.loader=", stock.read_text(), count=1)
        if not found:
            raise ValueError(f"{stock}: no common.loader line to empty")
        return ConfigFile(_CATALINA_PROPERTIES.as_posix(), text)


def profile_context(profile: Profile) -> dict[str, Any]:
    """What every Tomcat template takes from a profile."""
    effective = profile.effective()
    ajp = None
    if profile.ajp.enabled:
        ajp = {"port": profile.ajp.port, "secret": profile.ajp.resolved_secret()}
    return {
        "profile": profile,
        "executor": effective["executor"],
        "connector": effective["connector"],
        "deploy": effective["deploy"],
        "ajp": ajp,
        "jvm_flags": profile.jvm.system_properties() + effective["jvm"],
    }


def lab_configs(
    node: dict[str, Any],
    profile: Profile,
    store: dict[str, Any],
    classpath: SystemClassPath | None,
) -> list[ConfigFile]:
    """The lab node's server.xml, context.xml, setenv.sh and catalina.properties (and
    Redisson's config); classpath None: Tomcat's stock loaders (prepare_base's
    stock_loaders), no class path and catalina.properties left as it is."""
    context = profile_context(profile)
    jars = None if classpath is None else ":".join(str(jar) for jar in classpath.jars)
    node = {
        **node,
        "classpath": None if jars is None else shlex.quote(jars),
        # The nodes' readings listener is on the lab's class path only: a node with the
        # stock loaders is read over JMX, as one's own nodes are.
        "readings": None if classpath is None else readings.listener_settings(node["base"]),
    }
    cluster = store if store["kind"] == "replication" else None
    redis = _uses_redis(store)
    stock = classpath is None  # a stock node reads redisson.yaml, as an operator's does
    listener = None if stock or not redis else redisson_config.listener_settings(store)
    files = [
        # 0600: server.xml holds the shutdown command (and the AJP secret, if any).
        ConfigFile(
            "conf/server.xml", render("server.xml.j2", node=node, cluster=cluster, **context), 0o600
        ),
        # 0600: a lab node's context.xml holds Redis's password (redisson_config).
        ConfigFile(
            "conf/context.xml",
            render("context.xml.j2", node=node, store=store, redisson_listener=listener, **context),
            0o600,
        ),
        ConfigFile("bin/setenv.sh", render("setenv.sh.j2", node=node, **context)),
        *([] if classpath is None else [classpath.catalina_properties()]),
    ]
    if redis and listener is None:
        yaml = render("redisson.yaml.j2", redis=store, pool=redisson_config.POOL)
        files.append(ConfigFile("conf/redisson.yaml", yaml, 0o600))
    return files


def _uses_redis(store: dict[str, Any]) -> bool:
    return str(store["kind"]).startswith("redis")


def stock_configs(node: dict[str, Any], profile: Profile) -> list[ConfigFile]:
    """A real node's files: Tomcat's stock server.xml, context.xml, with the profile in."""
    context = profile_context(profile)
    return [
        ConfigFile("conf/server.xml", render("stock/server.xml.j2", node=node, **context), 0o600),
        ConfigFile("conf/context.xml", render("stock/context.xml.j2", **context)),
        ConfigFile(
            "bin/setenv.sh", render("stock/setenv.sh.j2", pid_file=node.get("pid_file"), **context)
        ),
    ]


def manager_jars(store: dict[str, Any], artifacts: Artifacts) -> tuple[Path, ...]:
    """The session manager's jars (on a lab node's class path, in a real node's
    CATALINA_BASE/lib); Tomcat's own cluster needs none."""
    if _uses_redis(store):
        return artifacts.redisson_jars
    if store["kind"].startswith("memcached"):
        return artifacts.msm_jars
    return ()


def _render_webapp(root: Path, *, distributable: bool) -> None:
    _sync_tree(WEBAPP_DIR, root, skip=(_WEB_XML,))
    render_to(root / _WEB_XML, f"webapp/{_WEB_XML.as_posix()}", distributable=distributable)


def start_node(node: NodeSpec, base: Path, home: Path, *, clustered: bool = False) -> ProcessRecord:
    """Start a node; a clustered one also holds its cluster receiver's port."""
    endpoints = (
        (node.http, node.shutdown, node.cluster) if clustered else (node.http, node.shutdown)
    )
    # `catalina.sh run` execs java in the foreground, so the pid is the JVM's own.
    return start(
        node.name,
        [str(home / "bin" / "catalina.sh"), "run"],
        log_path=base / "logs" / "console.log",
        endpoints=endpoints,
        env={"CATALINA_HOME": str(home), "CATALINA_BASE": str(base)},
        cwd=base,
    )


def health(endpoint: Endpoint) -> dict[str, Any] | None:
    """health.jsp's reply, or None while the node cannot answer."""
    try:
        return get_json(f"http://{endpoint}/health.jsp")
    except (OSError, ValueError):
        return None


def replication_settings(
    nodes: list[NodeSpec], *, manager: str | None = None, send_options: str | None = None
) -> dict[str, Any]:
    """Tomcat's own cluster: rendered into server.xml and kept in the manifest; manager
    (DeltaManager or BackupManager) and send_options: a profile's [sessions.replication]."""
    return {
        "kind": "replication",
        "manager": f"org.apache.catalina.ha.session.{manager}" if manager else CLUSTER_MANAGER,
        "cluster": "org.apache.catalina.ha.tcp.SimpleTcpCluster",
        "membership": "org.apache.catalina.tribes.membership.StaticMembershipService",
        "channel_send_options": send_options or CLUSTER_SEND_OPTIONS,
        "sticky": False,
        "port": CLUSTER_PORT,
        "members": [{"name": n.name, "host": n.address, "port": CLUSTER_PORT} for n in nodes],
    }


def _get_in_session(url: str, session_id: str | None) -> dict[str, Any]:
    request = urllib.request.Request(url)  # noqa: S310 (lab URLs only)
    if session_id:
        request.add_header("Cookie", f"JSESSIONID={session_id}")
    with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 (lab URLs only)
        data: dict[str, Any] = json.loads(reply.read())
        return data


def replicates(origin: NodeSpec, replica: NodeSpec) -> bool:
    """A session created on origin is readable, with its data, on replica.

    Each call leaves one small session behind; it expires like any other.
    """
    try:
        first = _get_in_session(f"{origin.url}/session.jsp", None)
        second = _get_in_session(f"{replica.url}/session.jsp", str(first["session"]))
    except (OSError, ValueError, KeyError):
        return False
    return bool(second.get("counter") == 2)
