"""The probe webapp on one's own nodes: session.jsp and health.jsp under their own context
path, beside the applications the node already runs.

The probe brings no META-INF/context.xml: its sessions are kept by whatever session
manager the node's own conf/context.xml (or its Cluster in server.xml) gives every
context, which is what is under test. Its web.xml names the node (as the inventory does)
and is distributable where the node runs Tomcat's replication.
"""

from __future__ import annotations

import logging
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from harness.cluster.endpoints import get_json
from harness.cluster.errors import ClusterError
from harness.cluster.remote.hosts import Host
from harness.cluster.remote.parts import answers, wait_until
from harness.config.inventory import InventoryNode

log = logging.getLogger(__name__)

CONTEXT = "tomcat-bench-probe"
PAGES = ("session.jsp", "health.jsp")
WEBAPP_DIR = Path(__file__).resolve().parents[1] / "webapp"
DEPLOY_TIMEOUT_S = 30.0

# Session managers by the start of their class name, as the lab names its strategies.
_KINDS = (
    ("org.redisson.tomcat.", "redis"),
    ("de.javakaffee.web.msm.", "memcached"),
    ("org.apache.catalina.ha.", "replication"),
)


def folder(node: InventoryNode) -> PurePosixPath:
    return node.base / "webapps" / CONTEXT


def url(node: InventoryNode) -> str:
    return f"{node.url.rstrip('/')}/{CONTEXT}"


def _xml(host: Host, path: PurePosixPath) -> ET.Element | None:
    text = host.read_text(path)
    if text is None:
        return None
    try:
        return ET.fromstring(text)  # noqa: S314 (the node's own config, read by its operator)
    except ET.ParseError as error:
        raise ClusterError(f"{host.name}: {path}: not XML: {error}") from None


def session_manager(host: Host, node: InventoryNode) -> dict[str, Any]:
    """What keeps the node's sessions, read from its config (secrets left out)."""
    context = _xml(host, node.base / "conf" / "context.xml")
    server = _xml(host, node.base / "conf" / "server.xml")
    manager = context.find("Manager") if context is not None else None
    attributes = dict(manager.attrib) if manager is not None else {}
    class_name = attributes.get("className", "org.apache.catalina.session.StandardManager")
    clustered = server is not None and server.find(".//Cluster") is not None
    kind = next((k for prefix, k in _KINDS if class_name.startswith(prefix)), "none")
    if manager is None and clustered:
        kind, class_name = "replication", "the Cluster's manager (server.xml)"
    if kind == "memcached" and attributes.get("sticky", "true").lower() != "false":
        kind = "memcached-sticky"
    kept = {k: v for k, v in attributes.items() if "password" not in k.lower()}
    return {"kind": kind, "manager": class_name, "attributes": kept, "clustered": clustered}


def _web_xml(node: str, *, distributable: bool) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEBAPP_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("WEB-INF/web.xml").render(node=node, distributable=distributable)


def install(host: Host, node: InventoryNode) -> float:
    """Put the probe on the node and wait until Tomcat serves it; seconds it took.

    Only files whose text differs are written. The Host's deployer reloads a context
    whose WEB-INF/web.xml changed (within its background delay, 10 s by default), and
    a reload drops every session in memory: a web.xml rewritten with the same text
    would reload the probe in the middle of the bench that follows (seen in CI). When
    web.xml does change on a probe already served, the reload is waited for here.
    """
    began = time.monotonic()
    where = folder(node)
    manager = session_manager(host, node)
    web_xml = _web_xml(node.name, distributable=manager["kind"] == "replication")
    files = {
        **{PurePosixPath(page): (WEBAPP_DIR / page).read_text() for page in PAGES},
        PurePosixPath("WEB-INF/web.xml"): web_xml,
    }
    if not host.exists(where):
        _put_in_place(host, node, files)
    else:
        # Pages first: a changed JSP is compiled again, the context is not reloaded.
        changed = [f for f, text in files.items() if host.read_text(where / f) != text]
        for name in changed:
            if name.name != "web.xml":
                host.write_text(where / name, files[name], 0o644)
        if PurePosixPath("WEB-INF/web.xml") in changed:
            before = _deployed(node)
            host.write_text(where / "WEB-INF" / "web.xml", web_xml, 0o644)
            if before is not None:
                _wait_for(node, lambda: _deployed(node) not in (None, before), "reload")
            elif installed(node):
                # An older health.jsp its Jasper does not compile again: nothing tells.
                log.warning(
                    "%s: the probe's web.xml changed; Tomcat reloads it within its "
                    "background delay, and its sessions go: wait for it before a bench",
                    node.name,
                )
    _wait_for(node, lambda: installed(node), "deploy")
    return time.monotonic() - began


def _put_in_place(host: Host, node: InventoryNode, files: dict[PurePosixPath, str]) -> None:
    """Every file written in the node's temp folder first, then the folder moved into
    webapps: the deployer never sees a probe without its web.xml (which it would deploy,
    then reload once web.xml appeared)."""
    staged = node.base / "temp" / f"{CONTEXT}.{secrets.token_hex(4)}"
    done = host.run(["mkdir", "-p", str(staged / "WEB-INF"), str(folder(node).parent)])
    if done.returncode != 0:
        raise ClusterError(f"{node.name}: cannot create {staged}: {done.stderr.strip()}")
    for name, text in files.items():
        host.write_text(staged / name, text, 0o644)
    done = host.run(["mv", "-T", "--", str(staged), str(folder(node))])
    if done.returncode != 0:
        host.run(["rm", "-rf", "--", str(staged)])
        raise ClusterError(
            f"{node.name}: cannot move the probe into {folder(node)}: {done.stderr.strip()}"
        )


def _deployed(node: InventoryNode) -> str | None:
    """health.jsp's "deployed" (new at each start of the context), None while it does not
    answer (or an older health.jsp that does not say, not yet compiled again)."""
    try:
        value = get_json(f"{url(node)}/health.jsp").get("deployed")
    except (OSError, ValueError):
        return None
    return str(value) if value else None


def _wait_for(node: InventoryNode, ready: Callable[[], bool], what: str) -> None:
    try:
        wait_until(ready, what=url(node), timeout_s=DEPLOY_TIMEOUT_S)
    except ClusterError:
        raise ClusterError(
            f"{node.name}: Tomcat did not {what} {folder(node)} within {DEPLOY_TIMEOUT_S:.0f} s "
            "(is the Host's autoDeploy off? restart the node, or deploy it yourself)"
        ) from None


def remove(host: Host, node: InventoryNode) -> bool:
    """Remove the probe's folder (only that folder); did it exist?"""
    where = folder(node)
    if where.name != CONTEXT or where.parent.name != "webapps":
        raise ClusterError(f"{node.name}: refusing to remove {where}")
    existed = host.exists(where)
    if existed:
        done = host.run(["rm", "-rf", "--", str(where)])
        if done.returncode != 0:
            raise ClusterError(f"{node.name}: cannot remove {where}: {done.stderr.strip()}")
    return existed


def installed(node: InventoryNode) -> bool:
    return answers(f"{url(node)}/health.jsp", below=300)
