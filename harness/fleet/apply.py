"""Put a profile on every node: render, back up, write atomically, restart, verify, roll back.

Nodes are changed one at a time, so the others keep serving while one restarts,
and the first node that fails stops the rollout: it gets its previous files back
and is restarted with them; nodes not reached yet keep theirs.
"""

from __future__ import annotations

import difflib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from harness.cluster import jvm
from harness.cluster.artifacts import catalina_home, find_artifacts
from harness.cluster.errors import ClusterError
from harness.cluster.lab import Lab, LabError, jvms, tomcat
from harness.cluster.lab.tomcat import ConfigFile
from harness.cluster.remote import jvm as remote_jvm
from harness.cluster.remote.hosts import Host, HostError, LocalHost, SshHost, ssh_host
from harness.cluster.remote.parts import RemoteNode
from harness.config.inventory import Inventory, InventoryNode
from harness.config.profile import Profile
from harness.fleet.verify import InEffect, read_in_effect

log = logging.getLogger(__name__)

_SHUTDOWN = re.compile(r'<Server\b[^>]*\bshutdown="([^"]+)"')
# What a diff on the terminal must not show.
_SECRETS = re.compile(r'\b(shutdown="|secret="|password: ")[^"]*"')


# Tomcat's own view of a node against a profile: its mismatches, and the pool it runs.
TomcatView = tuple[list[str], dict[str, Any]]


class ApplyError(RuntimeError):
    """The profile could not be put in effect on a node (which was rolled back)."""


@dataclass
class Target:
    """One Tomcat node as apply sees it, wherever it runs."""

    name: str
    host: Host
    base: PurePosixPath
    render: Callable[[str], list[ConfigFile]]  # shutdown command -> files
    restart: Callable[[], None]  # stop, start, wait until healthy; raises if it cannot
    pid: Callable[[], int | None]
    # Tomcat's own view (Executor, connectors over JMX), where the harness can read it:
    # its mismatches with the profile, and the pool it runs.
    tomcat_view: Callable[[Profile], TomcatView] | None = None
    # A node of one's own keeps its conf/context.xml: its session manager and resources
    # are not the profile's; only what the profile governs there (reloadable) changes.
    keeps_own_context: bool = False


@dataclass
class NodeResult:
    node: str
    changed: list[str] = field(default_factory=list)
    backups: dict[str, str] = field(default_factory=dict)  # changed file -> its backup
    restart_s: float | None = None
    in_effect: InEffect | None = None
    rolled_back: bool = False
    error: str | None = None


# -- targets -----------------------------------------------------------------


def lab_targets(lab: Lab, profile: Profile) -> list[Target]:
    assert lab.state is not None
    store = lab.state.store
    artifacts = find_artifacts()
    classpath = tomcat.SystemClassPath.of(catalina_home(artifacts), store, artifacts)
    targets = []
    for node in lab.topology.nodes:

        def render(command: str, node: Any = node) -> list[ConfigFile]:
            context = {
                "name": node.name,
                "address": node.address,
                "port": node.port,
                "shutdown_port": node.shutdown_port,
                "shutdown_command": command,
                "base": lab.run_dir / node.name,
            }
            return tomcat.lab_configs(context, profile, store, classpath)

        def restart(name: str = node.name) -> None:
            _restart_lab_node(lab, name)

        def pid(name: str = node.name) -> int | None:
            record = lab.state.processes.get(name) if lab.state else None
            return record.pid if record and record.process() else None

        def tomcat_view(wanted: Profile, name: str = node.name) -> TomcatView:
            return _tomcat_view(lambda: jvms.read_lab_node(lab, name), wanted)

        targets.append(
            Target(
                name=node.name,
                host=LocalHost(),
                base=PurePosixPath(lab.run_dir / node.name),
                render=render,
                restart=restart,
                pid=pid,
                tomcat_view=tomcat_view,
            )
        )
    return targets


def _tomcat_view(read: Callable[[], jvm.NodeJvm], wanted: Profile) -> TomcatView:
    try:
        running = read()
    except (jvm.JvmReadError, HostError, OSError) as error:
        return [f"cannot read Tomcat's MBeans: {error}"], {}
    wrong, _ = jvm.mismatches(running, wanted.effective())
    return wrong, running.pool.model_dump(mode="json") if running.pool else {}


def _restart_lab_node(lab: Lab, name: str) -> None:
    assert lab.state is not None
    try:
        if lab.state.processes[name].process() is not None:
            lab.restart(name)
        else:
            lab.start_again(name)
    except LabError as error:
        raise ApplyError(f"{name} did not come back healthy: {error}") from None


def ssh_targets(inventory: Inventory, profile: Profile) -> list[Target]:
    return [_ssh_target(node, ssh_host(inventory, node), profile) for node in inventory.nodes]


def _ssh_target(node: InventoryNode, host: SshHost, profile: Profile) -> Target:
    context = {
        "http_address": node.http_address,
        "http_port": node.http_port,
        "ajp_address": node.http_address or "localhost",
        "shutdown_port": node.shutdown_port,
        "shutdown_address": node.shutdown_address,
        "jvm_route": node.jvm_route,
        "pid_file": str(node.pid_file),
    }

    def render(command: str) -> list[ConfigFile]:
        return tomcat.stock_configs({**context, "shutdown_command": command}, profile)

    # The node's own way to stop and start (its systemd unit, or catalina.sh), as faults
    # use: a Tomcat run by systemd must not come back outside it.
    remote = RemoteNode(node, host)

    def pid() -> int | None:
        return remote.pid()

    def restart() -> None:
        try:
            remote.restart()
        except (ClusterError, HostError) as error:
            raise ApplyError(f"{node.name} did not come back healthy: {error}") from None

    jmx = remote_jvm.node_jmx(node)

    def tomcat_view(wanted: Profile) -> TomcatView:
        running = pid()
        if running is None:
            return ["no running JVM"], {}
        log_file = node.base / "logs" / "catalina.out"
        return _tomcat_view(
            lambda: remote_jvm.read_node(host, node.name, running, jmx, log_file), wanted
        )

    return Target(
        name=node.name,
        host=host,
        base=node.base,
        render=render,
        restart=restart,
        pid=pid,
        tomcat_view=tomcat_view,
        keeps_own_context=True,
    )


# -- the rollout ----------------------------------------------------------------


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _current_shutdown_command(target: Target) -> str:
    """Keep the node's shutdown command, so catalina.sh stop still works; else a new one."""
    text = target.host.read_text(target.base / "conf" / "server.xml") or ""
    match = _SHUTDOWN.search(text)
    if match and match[1] != "SHUTDOWN":  # the stock default is no secret
        return match[1]
    return secrets.token_hex(16)


def plan(target: Target) -> list[tuple[ConfigFile, str | None]]:
    """Each file the profile renders for this node, with what the node has now."""
    files = target.render(_current_shutdown_command(target))
    planned = []
    for rendered in files:
        current = target.host.read_text(target.base / rendered.path)
        if target.keeps_own_context and rendered.path == "conf/context.xml" and current:
            rendered = _own_context(rendered, current)  # noqa: PLW2901 (the node's own)
        planned.append((rendered, current))
    return planned


_RELOADABLE = re.compile(r'\s+reloadable\s*=\s*("[^"]*"|\'[^\']*\')')
_CONTEXT_TAG = re.compile(r"<Context\b[^>]*>")


def _own_context(rendered: ConfigFile, current: str) -> ConfigFile:
    """The node's own context.xml with the profile's `reloadable` put on its <Context>:
    everything else (its Manager, resources, comments) stays as the node has it."""
    tag = _CONTEXT_TAG.search(current)
    if tag is None:
        raise ApplyError(f"{rendered.path}: no <Context> element to apply the profile to")
    wanted = _RELOADABLE.search(rendered.text)
    opening = _RELOADABLE.sub("", tag.group(0))
    if wanted is not None:
        opening = opening.replace("<Context", f"<Context{wanted.group(0)}", 1)
    text = current[: tag.start()] + opening + current[tag.end() :]
    return ConfigFile(rendered.path, text, rendered.mode)


def diff(target: Target, planned: list[tuple[ConfigFile, str | None]]) -> str:
    """A unified diff of every file that would change; secrets masked."""
    chunks = []
    for config, current in planned:
        if current == config.text:
            continue
        path = str(target.base / config.path)
        lines = difflib.unified_diff(
            _SECRETS.sub(r'\1********"', current or "").splitlines(keepends=True),
            _SECRETS.sub(r'\1********"', config.text).splitlines(keepends=True),
            fromfile=f"{target.name}:{path}" if current is not None else "/dev/null",
            tofile=f"{target.name}:{path} (profile)",
        )
        chunks.append("".join(lines))
    return "".join(chunks)


def _backup(host: Host, path: PurePosixPath, text: str, mode: int, stamp: str) -> str:
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    number = 1
    while host.exists(backup):  # never overwrite an earlier backup
        backup = path.with_name(f"{path.name}.bak-{stamp}-{number}")
        number += 1
    host.write_text(backup, text, mode)
    return str(backup)


@contextmanager
def _closing(targets: list[Target]) -> Iterator[list[Target]]:
    try:
        yield targets
    finally:
        for target in targets:
            target.host.close()


def apply_to(
    target: Target, profile: Profile, *, progress: Callable[[str], None] = lambda _: None
) -> NodeResult:
    """Change one node; on any failure give it back its previous files and restart it."""
    result = NodeResult(node=target.name)
    planned = plan(target)
    changed = [(config, current) for config, current in planned if current != config.text]
    result.changed = [config.path for config, _ in changed]
    if not changed:
        progress(f"{target.name}: files already match; checking the JVM")
        result.in_effect = _check(target, profile)
        if not result.in_effect.mismatches:
            return result
        progress(f"{target.name}: files match but the JVM differs; restarting")
    stamp = _stamp()
    written: list[tuple[ConfigFile, str | None]] = []
    try:
        for config, current in changed:
            path = target.base / config.path
            if current is not None:
                result.backups[config.path] = _backup(
                    target.host, path, current, config.mode, stamp
                )
            target.host.write_text(path, config.text, config.mode)
            written.append((config, current))
        progress(f"{target.name}: restarting with profile {profile.name}")
        began = time.monotonic()
        target.restart()
        result.restart_s = round(time.monotonic() - began, 2)
        result.in_effect = _check(target, profile)
        if result.in_effect.mismatches:
            raise ApplyError(
                f"{target.name}: not in effect: {'; '.join(result.in_effect.mismatches)}"
            )
    except (ApplyError, HostError, LabError) as error:
        result.error = str(error)
        progress(f"{target.name}: failed, restoring its previous files")
        _roll_back(target, written)
        result.rolled_back = True
    return result


def _check(target: Target, profile: Profile) -> InEffect:
    state = read_in_effect(target.host, target.name, target.pid(), profile)
    if target.tomcat_view is not None and state.pid is not None:
        # The JVM flags are already compared; add what only Tomcat knows (its pool).
        wrong, state.pool = target.tomcat_view(profile)
        state.mismatches += [m for m in wrong if not m.startswith("jvm.")]
    return state


def _roll_back(target: Target, written: list[tuple[ConfigFile, str | None]]) -> None:
    for config, previous in written:
        path = target.base / config.path
        if previous is None:
            target.host.run(["rm", "-f", str(path)])
        else:
            target.host.write_text(path, previous, config.mode)
    try:
        target.restart()
    except (ApplyError, HostError, LabError) as error:
        raise ApplyError(
            f"{target.name}: rolled back its files, but it does not start with them either: {error}"
        ) from None


def apply_profile(
    targets: list[Target],
    profile: Profile,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> list[NodeResult]:
    """Apply to each node in turn; stop at the first one that had to be rolled back."""
    results = []
    with _closing(targets):
        for target in targets:
            result = apply_to(target, profile, progress=progress)
            results.append(result)
            if result.error:
                break
    return results


def dry_run(targets: list[Target]) -> str:
    with _closing(targets):
        return "".join(diff(target, plan(target)) for target in targets)


def in_effect(targets: list[Target], profile: Profile) -> list[InEffect]:
    with _closing(targets):
        return [_check(target, profile) for target in targets]
