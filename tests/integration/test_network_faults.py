"""Network faults on a real lab (127.0.61.x): a node cut off from Redis, and a share of a
node's packets dropped, as nftables rules matched by each server's own cgroup. Judged
like any fault: a partition that fails requests is never "survives". Nothing is left
behind: no nft table, no cgroup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.cluster.lab.netfaults import cgroup2_root
from harness.config.faults import parse_faults
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan, BenchResult, run_bench
from harness.results.judgement import STALL_S
from harness.results.run_folder import read_manifest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(cgroup2_root() is None, reason="no cgroup v2 under /sys/fs/cgroup"),
]

LAB_NET = "127.0.61"
TABLE = "tomcat_bench_net_127_0_61"


def _bench(tmp_path: Path, faults: str, balancer: str = "nginx-rr") -> BenchResult:
    plan = BenchPlan(
        profile=load_profile("best-practice"),
        duration_s=11,
        users=6,
        faults=parse_faults(faults),
        cluster=LabSpec(
            balancer=balancer,
            sessions="redis",
            topology=Topology(net=LAB_NET, run_dir=tmp_path / "lab"),
        ),
        results_dir=tmp_path / "results",
    )
    return run_bench(plan, progress=lambda _: None)


def _left_behind() -> list[str]:
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    tables = listed.stdout
    root = cgroup2_root()
    groups = [] if root is None else [str(p) for p in root.glob("tomcat-bench-127_0_61*")]
    return [line for line in tables.splitlines() if TABLE in line] + groups


def test_a_node_cut_off_from_redis_is_judged_and_nothing_is_left(tmp_path: Path) -> None:
    result = _bench(tmp_path, "partition:node1-redis@3-8")
    run = read_manifest(result.run_dir)
    (fault,) = run["faults"]
    assert fault["at_s"] is not None and "fault_error" not in fault, fault
    assert fault["restored_at_s"] is not None and fault["restore"] == "heal"
    window = run["summary"]["judgement"]["windows"][0]
    assert window["label"] == "partition node1-redis"
    # node1 cannot reach its session store: requests through it fail, hang (a user never
    # answered in the window, or answered only after a stall) or lose their session;
    # whichever, the users saw it.
    fates = window["fates"]
    seen = window["failed_requests"] + fates["session_lost"] + fates["unanswered"]
    assert seen > 0 or window["longest_wait_s"] >= STALL_S, window
    assert result.verdict["verdict"] != "survives", result.verdict
    assert _left_behind() == []


def test_a_partition_of_the_balancer_from_a_node_and_a_packet_drop(tmp_path: Path) -> None:
    """nginx cut off from node1, then 50% of node2's packets dropped: both delivered and
    healed on time, each judged in its own window; "balancer" also names the balancer for
    a process fault (nginx re-reads its config)."""
    faults = "partition:balancer-node1@2-4,drop:node2:50%@5-8,reload:balancer@9"
    result = _bench(tmp_path, faults)
    run = read_manifest(result.run_dir)
    partition, drop, reload = run["faults"]
    for fault in (partition, drop):
        assert fault["at_s"] is not None and "fault_error" not in fault, fault
        assert fault["restored_at_s"] is not None, fault
    assert reload["at_s"] is not None and "fault_error" not in reload, reload
    labels = [w["label"] for w in run["summary"]["judgement"]["windows"]]
    assert labels == ["partition balancer-node1", "heal balancer-node1", "drop node2:50%",
                      "heal node2:50%", "reload balancer"]  # fmt: skip
    assert _left_behind() == []
