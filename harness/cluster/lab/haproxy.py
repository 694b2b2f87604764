"""haproxy in front of the nodes: active health checks, redispatch and retries."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from harness.cluster.endpoints import Endpoint
from harness.cluster.lab.balancers import Balancer
from harness.cluster.lab.processes import ProcessRecord, start
from harness.cluster.lab.render import check_config, render_to
from harness.cluster.lab.topology import NodeSpec

HAPROXY = "/usr/sbin/haproxy"


def settings(wanted: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lab's failover settings, with what a profile's [balancer.haproxy] sets."""
    lab: dict[str, Any] = {
        "retry_on": "conn-failure empty-response response-timeout",
        "retries": 2,
        "redispatch": True,
        "check_inter": "500ms",
        "check_fall": 2,
        "check_rise": 2,
        "timeout_connect": "1s",
        "timeout_client": "30s",
        "timeout_server": "10s",
    }
    return lab | {k: v for k, v in (wanted or {}).items() if v is not None}


def prepare(
    directory: Path,
    listen: Endpoint,
    nodes: list[NodeSpec],
    lb: Balancer,
    wanted: dict[str, Any] | None = None,
    *,
    tls: dict[str, Any] | None = None,
    plain_port: int | None = None,
) -> Path:
    """Render haproxy.cfg; wanted: a profile's [balancer.haproxy] (its unset keys None);
    tls: HTTPS on listen, with plain HTTP on plain_port beside it if given."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "haproxy.cfg"
    render_to(
        config,
        "haproxy.cfg.j2",
        address=listen.address,
        port=listen.port,
        nodes=nodes,
        lb=lb,
        h=settings(wanted),
        tls=tls,
        plain_port=plain_port,
    )
    check_config(config, "haproxy", [HAPROXY, "-c", "-q", "-f", str(config)])
    return config


def start_haproxy(directory: Path, config: Path, listen: Endpoint) -> ProcessRecord:
    # -db: stay in the foreground, so the pid we hold is haproxy's own.
    return start(
        "haproxy",
        [HAPROXY, "-db", "-f", str(config)],
        log_path=directory / "console.log",
        endpoints=(listen,),
    )


def version() -> str:
    result = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, check=False)
    found = re.search(r"version (\S+)", result.stdout)
    return found.group(1) if found else "unknown"
