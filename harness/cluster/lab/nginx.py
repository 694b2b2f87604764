"""nginx in front of the nodes: round robin with passive health checks."""

from __future__ import annotations

import grp
import os
import re
import subprocess
from pathlib import Path

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


def prepare(
    directory: Path, listen: Endpoint, nodes: list[NodeSpec], balance: str | None = None
) -> Path:
    """Render nginx.conf; balance is the upstream directive (ip_hash, hash ...) or None."""
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
        max_fails=1,
        fail_timeout="10s",
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
