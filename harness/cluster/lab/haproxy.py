"""haproxy in front of the nodes: active health checks, redispatch and retries."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness.cluster.endpoints import Endpoint
from harness.cluster.lab.balancers import Balancer
from harness.cluster.lab.processes import ProcessRecord, start
from harness.cluster.lab.render import check_config, render_to
from harness.cluster.lab.topology import NodeSpec

HAPROXY = "/usr/sbin/haproxy"


def prepare(directory: Path, listen: Endpoint, nodes: list[NodeSpec], lb: Balancer) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "haproxy.cfg"
    render_to(
        config,
        "haproxy.cfg.j2",
        address=listen.address,
        port=listen.port,
        nodes=nodes,
        lb=lb,
        check_inter_ms=500,
        check_fall=2,
        check_rise=2,
        retry_on="conn-failure empty-response response-timeout",
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
