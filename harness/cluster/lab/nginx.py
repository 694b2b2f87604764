"""nginx in front of the nodes: round robin with passive health checks."""

from __future__ import annotations

import grp
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from harness.cluster.endpoints import Endpoint
from harness.cluster.lab.processes import ProcessRecord, start
from harness.cluster.lab.render import check_config, render_to
from harness.cluster.lab.topology import NodeSpec

NGINX = "/usr/sbin/nginx"


def _worker_user() -> str | None:
    """As root, workers drop to nobody; as anyone else, nginx cannot switch user."""
    if os.geteuid() != 0:
        return None
    for group in ("nogroup", "nobody"):
        try:
            grp.getgrnam(group)
            return f"nobody {group}"
        except KeyError:
            continue
    return "nobody"


def settings(nodes: list[NodeSpec], wanted: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lab's failover settings, with what a profile's [balancer.nginx] sets."""
    lab: dict[str, Any] = {
        "max_fails": 1,
        "fail_timeout": "10s",
        "proxy_next_upstream": "error timeout http_502 http_503",
        "proxy_next_upstream_tries": len(nodes),
        "proxy_next_upstream_timeout": None,
        "proxy_connect_timeout": "1s",
        "proxy_read_timeout": "10s",
        "keepalive": 32,
    }
    return lab | {k: v for k, v in (wanted or {}).items() if v is not None}


def prepare(
    directory: Path,
    listen: Endpoint,
    nodes: list[NodeSpec],
    balance: str | None = None,
    wanted: dict[str, Any] | None = None,
    *,
    tls: dict[str, Any] | None = None,
    plain_port: int | None = None,
) -> Path:
    """Render nginx.conf; balance is the upstream directive (ip_hash, hash ...) or None;
    wanted: a profile's [balancer.nginx] (its unset keys None); tls: HTTPS on listen
    (settings and certificate files), with plain HTTP on plain_port beside it if given."""
    for sub in ("logs", "temp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    # Workers run as nobody and buffer large bodies here.
    (directory / "temp").chmod(0o777)
    config = directory / "nginx.conf"
    render_to(
        config,
        "nginx.conf.j2",
        dir=directory,
        user=_worker_user(),
        address=listen.address,
        port=listen.port,
        nodes=nodes,
        balance=balance,
        s=settings(nodes, wanted),
        tls=tls,
        plain_port=plain_port,
    )
    check_config(config, "nginx", [NGINX, "-t", "-q", "-p", str(directory), "-c", str(config)])
    return config


def start_nginx(directory: Path, config: Path, listen: Endpoint) -> ProcessRecord:
    return start(
        "nginx",
        [NGINX, "-p", str(directory), "-c", str(config)],
        log_path=directory / "logs" / "console.log",
        endpoints=(listen,),
    )


def version() -> str:
    result = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False)
    found = re.search(r"nginx/(\S+)", result.stderr)
    return found.group(1) if found else "unknown"
