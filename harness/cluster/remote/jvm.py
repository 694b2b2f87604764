"""Read a Tomcat node's JVM through a `Host` (over SSH, or here): the lab's readings, remotely.

The commands and parsers are harness/cluster/jvm.py's; only where they run differs. Tomcat's
pool (the Executor's limits, current and busy threads) lives only in its MBeans, so the
node's JVM is asked to start its JMX agent on a loopback address of its own host, with a
password generated here and kept on the node in a 0700 folder of 0600 files (the JVM
refuses a password file others can read). The probe runs on the node too (its JDK compiles
JvmProbe.java there once): JMX never leaves the node's loopback, and the credentials go to
the probe on stdin, never on a command line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from harness.cluster import jvm
from harness.cluster.endpoints import Endpoint
from harness.cluster.remote.hosts import Host
from harness.config.inventory import InventoryNode

SECRETS_DIR = "tomcat-bench-jmx"  # under the node's CATALINA_BASE/temp
_PRIVATE = 0o600


@dataclass(frozen=True)
class RemoteJmx:
    """Where the node's JMX agent is to listen (on the node's host), and its files."""

    address: str
    port: int
    folder: PurePosixPath

    @property
    def classes(self) -> PurePosixPath:
        return self.folder / "classes"


def node_jmx(node: InventoryNode) -> RemoteJmx:
    """Where the inventory's node opens its JMX agent, and its files on that host."""
    return RemoteJmx(node.jmx_address, node.jmx_port, node.base / "temp" / SECRETS_DIR)


def _run(
    host: Host, argv: list[str], *, stdin: str | None = None, ok: tuple[int, ...] = (0,)
) -> str:
    done = host.run(argv, stdin=stdin)
    if done.returncode not in ok:
        said = (done.stderr or done.stdout).strip().splitlines()
        tail = said[-1] if said else f"exit code {done.returncode}"
        raise jvm.JvmReadError(f"{host.name}: {' '.join(argv[:3])}: {tail}")
    return done.stdout


def _credentials(host: Host, jmx: RemoteJmx) -> str:
    """The node's JMX credentials, generated on first use. The agent rewrites
    jmx.password with salted hashes, so the probe reads its own copy, jmx.client."""
    _run(host, ["mkdir", "-p", "-m", "700", str(jmx.folder)])
    client = host.read_text(jmx.folder / "jmx.client")
    if client is None or not host.exists(jmx.folder / "jmx.password"):
        client = jvm.new_credentials()
        host.write_text(jmx.folder / "jmx.client", client, _PRIVATE)
        host.write_text(jmx.folder / "jmx.password", client, _PRIVATE)
    if not host.exists(jmx.folder / "jmx.access"):
        # Read-only: verifying needs no MBean operation.
        host.write_text(jmx.folder / "jmx.access", jvm.access_line("readonly"), _PRIVATE)
    return client.strip()


# JVMs (host, pid) whose agent this process saw listening where the inventory says. An
# agent listens until its JVM ends, and asking again is a jcmd: a JVM started on the node's
# host, 1-2 s of its CPU, once more before each bench's telemetry.
_agents_seen: set[tuple[str, int]] = set()
_agents_lock = threading.Lock()


def forget_agent(host: Host, pid: int) -> None:
    """A probe of this JVM failed: its agent is checked again next time (a pid reused)."""
    with _agents_lock:
        _agents_seen.discard((host.name, pid))


def _ensure_agent(host: Host, pid: int, jmx: RemoteJmx) -> None:
    with _agents_lock:
        if (host.name, pid) in _agents_seen:
            return
    status = _run(host, jvm.agent_status_command(pid))
    running = jvm.parse_agent_status(status)
    if running is None:
        _run(host, jvm.agent_start_command(pid, jmx.address, jmx.port, jmx.folder))
    elif running != f"{jmx.address}:{jmx.port}":
        # Someone else's agent: its credentials are not ours to know.
        raise jvm.JvmReadError(
            f"{host.name}: the JVM's JMX agent already listens at {running}, "
            f"not at {jmx.address}:{jmx.port} as the inventory says"
        )
    with _agents_lock:
        _agents_seen.add((host.name, pid))


def _compile_probe(host: Host, jmx: RemoteJmx) -> None:
    """Put JvmProbe.java on the node and compile it there when it changed."""
    source = jvm.PROBE_SOURCE.read_text()
    remote = jmx.folder / "JvmProbe.java"
    changed = host.read_text(remote) != source
    if changed:
        host.write_text(remote, source, _PRIVATE)
    if changed or not host.exists(jmx.classes / "JvmProbe.class"):
        _run(host, ["javac", "-d", str(jmx.classes), str(remote)])


def prepare_probe(host: Host, pid: int, jmx: RemoteJmx) -> str:
    """The node's JMX agent listening and JvmProbe compiled there; the credentials the
    probe reads on its stdin."""
    credentials = _credentials(host, jmx)
    _ensure_agent(host, pid, jmx)
    _compile_probe(host, jmx)
    return credentials


def probe(host: Host, pid: int, jmx: RemoteJmx) -> dict[str, Any]:
    """One reading of the node's MBeans, taken on the node."""
    credentials = prepare_probe(host, pid, jmx)
    argv = jvm.probe_command(jmx.address, jmx.port, classes=jmx.classes)
    try:
        readings = jvm.parse_probe(_run(host, argv, stdin=credentials + "\n"))
    except jvm.JvmReadError:
        forget_agent(host, pid)
        raise
    if not readings:
        forget_agent(host, pid)
        raise jvm.JvmReadError(f"{host.name}: JvmProbe {jmx.address}:{jmx.port}: no reading")
    return readings[0]


def read_node(
    host: Host, node: str, pid: int, jmx: RemoteJmx, log_path: PurePosixPath | None = None
) -> jvm.NodeJvm:
    """Everything in effect on the node, read from its running JVM, as jvm.read_node does."""
    listening: list[Endpoint] = jvm.parse_listening(_run(host, jvm.listening_command()), pid)
    rejections = None
    if log_path is not None and host.exists(log_path):
        count = _run(host, jvm.rejections_command(log_path), ok=(0, 1))
        rejections = jvm.parse_count(count)
    return jvm.node_jvm(
        node,
        pid,
        flags=jvm.parse_vm_flags(_run(host, jvm.vm_flags_command(pid))),
        jstat=jvm.parse_jstat_gc(_run(host, jvm.jstat_command(pid))),
        mbeans=probe(host, pid, jmx),
        listening=listening,
        rejections=rejections,
    )
