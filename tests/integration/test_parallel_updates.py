"""Parallel requests of one session (--scenario parallel:4) on a real lab (127.0.67.x):
every request adds its id to the session's set, so a lost update is counted exactly, as
the ids a later reply lacked. No fault: what is lost here, the store lost by itself.

- One node per user and in-memory sessions (ip_hash): the page's own lock keeps every
  update, so the count is exactly 0 (the check itself invents no loss).
- Redis behind round robin: Redisson writes the whole set back on setAttribute, the last
  writer wins, and updates are lost.
- msm non-sticky with lockingMode "all": its documentation promises locked, serialised
  requests; its users report attributes lost anyway (magro/memcached-session-manager
  issues 237 and 283, open). We saw losses in some runs and none in others, so the test
  holds only what is exact: the mode is rendered and each loss is counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.load.bench import BenchPlan, run_bench
from harness.results.run_folder import REQUESTS_FILE, load_records, read_manifest
from tests.integration.conftest import best_practice_with

pytestmark = pytest.mark.integration

LAB_NET = "127.0.67"


def _bench(tmp_path: Path, balancer: str, sessions: str, extra: str = "") -> dict[str, Any]:
    plan = BenchPlan(
        profile=best_practice_with(tmp_path, extra),
        duration_s=8,
        users=4,
        fault_target=None,
        scenario="parallel:4",
        cluster=LabSpec(
            balancer=balancer,
            sessions=sessions,
            topology=Topology(net=LAB_NET, run_dir=tmp_path / "lab"),
        ),
        results_dir=tmp_path / "results",
    )
    result = run_bench(plan, progress=lambda _: None)
    run = read_manifest(result.run_dir)
    run["records"] = load_records(result.run_dir / REQUESTS_FILE)
    return run


def _overlapping(records: list[Any]) -> int:
    ended: dict[int, float] = {}
    overlaps = 0
    for r in records:  # in reply order
        started = r.t_s - r.latency_ms / 1000
        overlaps += started < ended.get(r.user, -1.0)
        ended[r.user] = r.t_s
    return overlaps


def test_one_node_with_its_lock_loses_no_update(tmp_path: Path) -> None:
    run = _bench(tmp_path, "nginx-ip-hash", "none")
    summary = run["summary"]
    assert run["load"]["scenario"] == "parallel:4"
    assert summary["users"] == 4
    assert summary["acknowledged_updates"] > 400, summary
    assert summary["lost_updates"] == 0
    assert summary["data_lost"] == summary["failures"] == 0, summary["judgement"]["fates"]
    # Four requests in flight per user, or the 0 would prove nothing: some of a user's
    # requests started before its previous one (in reply order) ended.
    assert _overlapping(run["records"]) > summary["acknowledged_updates"] // 2
    assert run["verdicts"][0]["lost_updates"] == 0
    assert run["verdicts"][0]["verdict"].endswith("; 0 of " + str(
        summary["acknowledged_updates"]) + " acknowledged updates lost")  # fmt: skip


def test_redis_last_writer_wins_loses_updates(tmp_path: Path) -> None:
    run = _bench(tmp_path, "nginx-rr", "redis")
    summary = run["summary"]
    assert summary["lost_updates"] > 0, summary
    assert summary["data_lost"] > 0
    # The count is the records' own: each lost id counted on the reply that first lacked it.
    assert sum(r.lost_updates or 0 for r in run["records"]) == summary["lost_updates"]
    assert run["verdicts"][0]["verdict"].startswith("unstable without any fault")


def test_msm_non_sticky_with_locking_mode_all_is_counted_exactly(tmp_path: Path) -> None:
    """msm's lockingMode "all" loses acknowledged updates in some runs and none in others
    (CI: lost in three runs, 0 of 764 in the fourth): what holds every time is that the
    mode reaches the nodes and every loss is counted exactly, on the reply that showed it."""
    run = _bench(tmp_path, "nginx-rr", "memcached-nonsticky", '[sessions.msm]\nlockingMode = "all"')
    assert run["lab"]["session_manager"]["locking_mode"] == "all"
    assert run["profile"]["requested"]["sessions"]["msm"] == {"lockingMode": "all"}
    summary = run["summary"]
    assert summary["acknowledged_updates"] > 100, summary
    assert 0 <= summary["lost_updates"] <= summary["acknowledged_updates"]
    assert sum(r.lost_updates or 0 for r in run["records"]) == summary["lost_updates"]
    # Requests of one session really were in flight together: the lock had work to do.
    assert _overlapping(run["records"]) > 0
