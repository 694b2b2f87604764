"""Session scenarios on a real lab (127.0.64.x, Redis behind a balancer): what the
page does with its session decides what a manager keeps, as its users report
(redisson/redisson issues 1222 and 3172: a change made in place, without setAttribute,
is lost under updateMode DEFAULT). Judged exactly, user by user, with no fault at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.load.bench import BenchPlan, run_bench
from harness.results.run_folder import read_manifest
from tests.integration.conftest import best_practice_with

pytestmark = pytest.mark.integration

LAB_NET = "127.0.64"


def _bench(
    tmp_path: Path, scenario: str, redisson: str = "", balancer: str = "nginx-rr"
) -> dict[str, Any]:
    plan = BenchPlan(
        profile=best_practice_with(tmp_path, f"[sessions.redisson]\n{redisson}"),
        duration_s=5,
        users=4,
        fault_target=None,
        scenario=scenario,
        cluster=LabSpec(
            balancer=balancer,
            sessions="redis",
            topology=Topology(net=LAB_NET, run_dir=tmp_path / "lab"),
        ),
        results_dir=tmp_path / "results",
    )
    result = run_bench(plan, progress=lambda _: None)
    return read_manifest(result.run_dir)


def test_an_in_place_change_is_lost_under_update_mode_default(tmp_path: Path) -> None:
    run = _bench(tmp_path, "inplace", 'updateMode = "DEFAULT"')
    summary = run["summary"]
    assert run["load"]["scenario"] == "inplace"
    assert run["lab"]["session_manager"]["update_mode"] == "DEFAULT"
    # Every user's counter stops moving: the change never reached Redis.
    assert summary["users"] == 4
    assert summary["data_lost"] == summary["users"], summary["judgement"]["fates"]
    assert run["verdicts"][0]["verdict"].startswith("unstable without any fault")


def test_after_request_keeps_an_in_place_change_only_when_read_from_memory(
    tmp_path: Path,
) -> None:
    """AFTER_REQUEST writes the session's attributes after each request. In MEMORY read
    mode the change made in place is kept by a user who stays on one node (haproxy's
    cookie spreads the four users over both nodes). In REDIS read mode (the lab's default)
    the page changes a copy read from Redis, not the one saved: still lost, every request,
    against Redisson's own README ("all session attributes are stored into Redis after
    each request").

    Sticky on purpose: in MEMORY mode another node learns of an update from a Redis
    pub/sub event, after the reply. Under round robin a user whose next request beats
    that event reads the old value, and the harness judges that user's data lost (one of
    four in an 8 s CI run): a real race, see docs/findings.md, not a property to assert."""
    kept = _bench(
        tmp_path / "memory",
        "inplace",
        'readMode = "MEMORY"\nupdateMode = "AFTER_REQUEST"',
        balancer="haproxy-cookie",
    )
    summary = kept["summary"]
    assert summary["users"] == 4
    assert summary["data_lost"] == summary["failures"] == 0, summary["judgement"]["fates"]
    assert summary["kept_everything"] == 4
    # Both nodes served users who stayed on them.
    assert set(summary["latency_hdr"]["per_node"]) == {"node1", "node2"}
    lost = _bench(
        tmp_path / "redis",
        "inplace",
        'readMode = "REDIS"\nupdateMode = "AFTER_REQUEST"',
        balancer="haproxy-cookie",
    )
    assert lost["summary"]["data_lost"] == lost["summary"]["users"] == 4
