"""The probe webapp on one's own nodes: session.jsp and health.jsp under their own context
path, beside the applications the node already runs.

The probe brings no META-INF/context.xml: its sessions are kept by whatever session
manager the node's own conf/context.xml (or its Cluster in server.xml) gives every
context, which is what is under test. Its web.xml names the node (as the inventory does)
and is distributable where the node runs Tomcat's replication.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from harness.cluster.errors import ClusterError
from harness.cluster.remote.hosts import Host
from harness.cluster.remote.parts import answers, wait_until
from harness.config.inventory import InventoryNode

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
    """Put the probe on the node and wait until Tomcat serves it; seconds it took."""
    where = folder(node)
    manager = session_manager(host, node)
    done = host.run(["mkdir", "-p", str(where / "WEB-INF")])
    if done.returncode != 0:
        raise ClusterError(f"{node.name}: cannot create {where}: {done.stderr.strip()}")
    for page in PAGES:
        host.write_text(where / page, (WEBAPP_DIR / page).read_text(), 0o644)
    web_xml = _web_xml(node.name, distributable=manager["kind"] == "replication")
    host.write_text(where / "WEB-INF" / "web.xml", web_xml, 0o644)
    health = f"{url(node)}/health.jsp"
    try:
        return wait_until(
            lambda: answers(health, below=300), what=health, timeout_s=DEPLOY_TIMEOUT_S
        )
    except ClusterError:
        raise ClusterError(
            f"{node.name}: Tomcat did not deploy {where} within {DEPLOY_TIMEOUT_S:.0f} s "
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
