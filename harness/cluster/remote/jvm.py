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
from harness.cluster.remote.hosts import CommandResult, Host, run_together
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
    return _checked(host, argv, host.run(argv, stdin=stdin), ok=ok)


def _checked(
    host: Host, argv: list[str], done: CommandResult, *, ok: tuple[int, ...] = (0,)
) -> str:
    if done.returncode not in ok:
        raise jvm.JvmReadError(f"{host.name}: {' '.join(argv[:3])}: {_said(done)}")
    return done.stdout


def _said(done: CommandResult) -> str:
    """A failed command's last word."""
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


# One per node's JMX folder: two readers of a node in this process prepare it in turn.
_PREPARING: dict[tuple[str, PurePosixPath], threading.Lock] = {}
_PREPARING_LOCK = threading.Lock()


def _prepare(host: Host, jmx: RemoteJmx) -> str:
    """The node's credentials and JvmProbe compiled there, by one reader at a time: two
    that both found no credentials wrote two different ones, and the agent took the
    second's while the first's probe offered its own ("Authentication failed")."""
    with _PREPARING_LOCK:
        lock = _PREPARING.setdefault((host.name, jmx.folder), threading.Lock())
    with lock:
        credentials = _credentials(host, jmx)
        _compile_probe(host, jmx)
    return credentials


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


def _listening(host: Host, pid: int) -> list[Endpoint]:
    """Where the JVM listens, from `ss`: no JVM started to ask (jcmd is one, on the node's
    host, a second or two of its CPU before each bench)."""
    return jvm.parse_listening(_run(host, jvm.listening_command()), pid)


def _start_agent(host: Host, pid: int, jmx: RemoteJmx) -> None:
    done = host.run(jvm.agent_start_command(pid, jmx.address, jmx.port, jmx.folder))
    if done.returncode != 0 and not _ours_runs(host, pid, jmx):
        raise jvm.JvmReadError(f"{host.name}: jcmd ManagementAgent.start: {_said(done)}")


def _ours_runs(host: Host, pid: int, jmx: RemoteJmx) -> bool:
    """After a refused start (asked only then: jcmd is a JVM): whether the agent runs where
    the inventory says, started by another reader since `ss` was read. Raises where it
    listens elsewhere: its credentials are not ours to know."""
    running = jvm.parse_agent_status(_run(host, jvm.agent_status_command(pid)))
    if running is not None and running != f"{jmx.address}:{jmx.port}":
        raise jvm.JvmReadError(
            f"{host.name}: the JVM's JMX agent already listens at {running}, "
            f"not at {jmx.address}:{jmx.port} as the inventory says"
        )
    return running is not None


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
    credentials = _prepare(host, jmx)
    if Endpoint(jmx.address, jmx.port) not in _listening(host, pid):
        _start_agent(host, pid, jmx)
    return credentials


def probe(
    host: Host, pid: int, jmx: RemoteJmx, *, listening: list[Endpoint] | None = None
) -> dict[str, Any]:
    """One reading of the node's MBeans, taken on the node: one JVM, which starts the agent
    first where it does not listen (listening: the JVM's endpoints, when just read). Not
    the flags (--vm-flags): an operation, which the node's read-only JMX user may not call."""
    credentials = _prepare(host, jmx)
    listening = _listening(host, pid) if listening is None else listening
    agent = None if Endpoint(jmx.address, jmx.port) in listening else (pid, jmx.folder)
    done = _run_probe(host, jmx, credentials, agent)
    if done.returncode != 0 and agent is not None and _ours_runs(host, pid, jmx):
        done = _run_probe(host, jmx, credentials, None)  # started by another reader meanwhile
    if done.returncode != 0:
        raise jvm.JvmReadError(f"{host.name}: JvmProbe {jmx.address}:{jmx.port}: {_said(done)}")
    readings = jvm.parse_probe(done.stdout)
    if not readings:
        raise jvm.JvmReadError(f"{host.name}: JvmProbe {jmx.address}:{jmx.port}: no reading")
    return readings[0]


def _run_probe(
    host: Host, jmx: RemoteJmx, credentials: str, agent: tuple[int, PurePosixPath] | None
) -> CommandResult:
    argv = jvm.probe_command(jmx.address, jmx.port, classes=jmx.classes, start_agent=agent)
    return host.run(argv, stdin=credentials + "\n")


def read_node(
    host: Host, node: str, pid: int, jmx: RemoteJmx, log_path: PurePosixPath | None = None
) -> jvm.NodeJvm:
    """Everything in effect on the node, read from its running JVM (the lab's nodes read
    themselves: harness.cluster.readings): three JVMs on the node's host (the probe, which
    starts the agent where it does not listen; jcmd for the flags; jstat) where five were
    (jcmd for the agent's status and its start too). Where the JVM listens comes from
    `ss`."""
    listening = _listening(host, pid)
    mbeans = probe(host, pid, jmx, listening=listening)
    commands = {"flags": jvm.vm_flags_command(pid), "jstat": jvm.jstat_command(pid)}
    if Endpoint(jmx.address, jmx.port) not in listening:
        commands["listening"] = jvm.listening_command()  # the agent's port, just opened
    if log_path is not None and host.exists(log_path):
        commands["rejections"] = jvm.rejections_command(log_path)
    # A round trip's wait for each was most of a node's read over SSH: one for them all.
    done = dict(zip(commands, run_together(host, list(commands.values())), strict=True))

    def said(name: str, ok: tuple[int, ...] = (0,)) -> str:
        return _checked(host, commands[name], done[name], ok=ok)

    return jvm.node_jvm(
        node,
        pid,
        flags=jvm.parse_vm_flags(said("flags")),
        jstat=jvm.parse_jstat_gc(said("jstat")),
        mbeans=mbeans,
        listening=jvm.parse_listening(said("listening"), pid) if "listening" in done else listening,
        rejections=jvm.parse_count(said("rejections", (0, 1))) if "rejections" in done else None,
    )
