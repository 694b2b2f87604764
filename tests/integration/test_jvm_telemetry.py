"""A profile comparison on a real lab (127.0.97.x): two short benches, their JVM telemetry
filled per node, and one page side by side."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan
from harness.load.campaigns.profiles import run_profiles
from harness.load.telemetry import JVM_FIELDS

pytestmark = pytest.mark.integration

LAB_NET = "127.0.97"


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "jvm_telemetry.csv").open() as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == JVM_FIELDS
        return list(reader)


def test_profiles_side_by_side_with_jvm_telemetry(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    plan = BenchPlan(
        profile=load_profile("best-practice"),
        duration_s=6,
        users=8,
        fault_target=None,
        cluster=LabSpec(
            balancer="nginx-ip-hash",
            sessions="none",
            topology=Topology(net=LAB_NET, run_dir=lab_dir),
        ),
        results_dir=tmp_path / "results",
    )
    out = run_profiles(
        plan, [load_profile("small-pool"), load_profile("default")], progress=lambda _: None
    ).out
    index = json.loads((out / "profiles.json").read_text())
    assert [r["profile"] for r in index["runs"]] == ["small-pool", "default"]
    assert all("run" in r for r in index["runs"]), index["runs"]
    small, default = (out / r["run"] for r in index["runs"])

    rows = _rows(small)
    for node in ("node1", "node2"):
        mine = [r for r in rows if r["node"] == node]
        assert len(mine) >= 3, f"{node}: {len(mine)} samples in a 6 s run"
        for r in mine:
            assert int(r["pool_max"]) == 4
            assert 0 <= int(r["pool_busy"]) <= 4
            assert 0 <= int(r["pool_current"]) <= 4
            assert 0 <= int(r["queue_size"]) <= 8
            assert int(r["rejections"]) >= 0
            assert int(r["heap_max_bytes"]) == 1024 * 2**20
            assert 0 < int(r["heap_used_bytes"]) <= int(r["heap_committed_bytes"])
            assert int(r["young_gc_count"]) >= 0 and int(r["old_gc_time_ms"]) >= 0
    run = json.loads((small / "run.json").read_text())
    assert run["lab"]["in_effect"]["node1"]["pool"]["max_threads"] == 4
    assert run["summary"]["jvm"]["node2"]["pool_max"] == 4
    assert "fig-jvm" in (small / "report.html").read_text()

    default_rows = _rows(default)
    assert {int(r["pool_max"]) for r in default_rows} == {200}
    assert {r["queue_size"] for r in default_rows} == {""}  # the connector's pool tells none

    page = (out / "profiles.html").read_text()
    assert "fig-jvm" in page and "fig-throughput" in page
    for run_dir in (small, default):
        bound = json.loads((run_dir / "run.json").read_text())["summary"]["generator_bound"]
        whose = "the generator&#x27;s" if bound else "the servers&#x27;"
        assert f"{run_dir.name}/report.html" in page
        assert whose in page

    # The nodes read themselves: no JMX agent was started, so no password was even made.
    assert not (lab_dir / "jmx").exists()
