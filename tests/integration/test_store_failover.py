"""store-failover on a real lab (127.0.68.x): Redis master, its replica and one Sentinel;
the master is SIGKILLed mid-run, Sentinel promotes the replica, Redisson follows it, and
the old master, started again, rejoins as the new master's replica."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.cli.bench import plan_from
from harness.cli.options import parse
from harness.load.bench import run_bench
from harness.results.run_folder import read_manifest

pytestmark = pytest.mark.integration

LAB_NET = "127.0.68"


def test_redis_sessions_survive_the_masters_death_through_sentinel(tmp_path: Path) -> None:
    args = parse(
        build_parser(),
        [
            "bench", "--sessions", "redis-sentinel", "--balancer", "nginx-rr",
            "--faults", "store-failover", "--duration", "14", "--users", "6",
            "--net", LAB_NET, "--run-dir", str(tmp_path / "lab"),
            "--results-dir", str(tmp_path / "results"),
        ],
    )  # fmt: skip
    result = run_bench(plan_from(args), progress=lambda _: None)
    run = read_manifest(result.run_dir)
    store = run["lab"]["session_manager"]
    assert store["sentinel"]["port"] == 26379
    (kill,) = run["faults"]
    assert (kill["action"], kill["target"]) == ("sigkill", "redis"), kill
    assert kill["restored_at_s"] is not None and "fault_error" not in kill, kill
    # Sentinel promoted the replica: its log says so, naming both addresses.
    sentinel_log = (result.run_dir / "logs" / "sentinel.log").read_text()
    assert f"+switch-master tomcat-bench {LAB_NET}.20 6379 {LAB_NET}.23 6379" in sentinel_log
    summary = run["summary"]
    # Every user kept its session through the master's death: the replica had them all.
    assert summary["users"] == 6
    assert summary["sessions_lost"] == summary["unanswered"] == 0, summary["judgement"]["fates"]
    # Until Sentinel declared the master down (1 s) and Redisson moved, requests waited:
    # no failed request, but not "survives" either.
    assert summary["longest_wait_s"] >= 1.0, summary["longest_wait_s"]
    assert run["verdicts"][0]["verdict"].startswith("keeps sessions, users waited up to")
