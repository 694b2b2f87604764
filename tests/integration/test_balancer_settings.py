"""A profile's nginx failover settings change what users see when a node dies (a real lab
on 127.0.66.x, Redis behind nginx round robin, node1 SIGKILLed mid-run). With the lab's
settings nginx retries a refused or reset request on node2 and marks node1 down; with
`proxy_next_upstream off` each request nginx sends to the dead node fails, and the users
see the errors, although Redis keeps every session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.load.bench import BenchPlan, run_bench
from harness.results.run_folder import read_manifest
from tests.integration.conftest import best_practice_with

pytestmark = pytest.mark.integration


def _bench(tmp_path: Path, nginx: str) -> dict[str, Any]:
    plan = BenchPlan(
        profile=best_practice_with(tmp_path, f"[balancer.nginx]\n{nginx}"),
        duration_s=9,
        users=6,
        fault_target="node1",
        fault_at_s=3,
        cluster=LabSpec(
            balancer="nginx-rr",
            sessions="redis",
            topology=Topology(net="127.0.66", run_dir=tmp_path / "lab"),
        ),
        results_dir=tmp_path / "results",
    )
    return read_manifest(run_bench(plan, progress=lambda _: None).run_dir)


def test_proxy_next_upstream_off_turns_a_node_kill_into_errors_users_see(tmp_path: Path) -> None:
    # Without retries, and with node1 never marked down (max_fails=0), every request
    # round robin sends to node1 after the kill is a 502.
    off = _bench(tmp_path / "off", 'proxy_next_upstream = "off"\nmax_fails = 0')
    assert off["profile"]["requested"]["balancer"]["nginx"]["proxy_next_upstream"] == "off"
    summary = off["summary"]
    assert summary["errors"] > 10, summary["outcomes"]
    assert summary["sessions_lost"] == summary["data_lost"] == 0  # Redis kept them all
    assert not off["verdicts"][0]["verdict"].startswith("survives")
    # The lab's own settings (retry on error, node1 marked down) on the same kill.
    retried = _bench(tmp_path / "lab", "")
    assert retried["summary"]["errors"] < summary["errors"] / 5, retried["summary"]["outcomes"]
