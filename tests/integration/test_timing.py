"""The kept timing benchmark as a user runs it (127.0.77.x): its figures are written
(tests/unit/test_timing.py holds how a later run prints them beside these)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_cli import harness

pytestmark = pytest.mark.integration

NET = "127.0.77"


def _timing(results: Path, run_dir: Path) -> str:
    done = harness(
        "timing",
        "--stores", "none",
        "--rounds", "1",
        "--durations", "5",
        "--rows", "2000",
        "--net", NET,
        "--run-dir", str(run_dir),
        "--results-dir", str(results),
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_timing_measures_lab_up_bench_overhead_and_report_time(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = _timing(results, tmp_path / "lab")
    (folder,) = results.glob("*-timing")
    data = json.loads((folder / "timing.json").read_text())
    up = data["lab_up"]["none"]
    assert 0 < up["warm_median_s"] < 60 and 0 < up["first_s"] < 60
    assert {"node1", "node2"} <= set(up["warm_parts_median_s"])
    # What the two nodes' JVMs spent to their first answer, read from /proc: the JIT's
    # compiler threads are a part of it, never all of it (the main thread parses, loads).
    for cpu in (up["warm_start_cpu_median_s"], up["first_start_cpu_s"]):
        assert 0 < cpu["jit_s"] < cpu["cpu_s"], cpu
    assert up["cores"] == os.cpu_count()
    # Where a node's start went, from its JVM's counters and Tomcat's log: every part read.
    parts = up["warm_node_parts_median_s"]
    named = {"jvm", "tomcat_init", "deploy", "tomcat_start", "health_page", "first_page"}
    assert set(parts) == named | {"other"}
    assert all(0 <= s < 60 for s in parts.values()) and parts["deploy"] > 0, parts
    assert len(up["first_node_parts_s"]) == 2
    # The first lab kept no compiled JSP: each node compiled health.jsp to answer it.
    assert all(n["health_page"] > parts["health_page"] for n in up["first_node_parts_s"]), up
    (bench,) = data["benches"]
    # Beyond the load: the whole wait of the bench command, from its spawn to its exit
    # (Python's start and imports too), less the duration.
    phases = bench["phases_s"]
    assert bench["requests"] > 0
    assert bench["wall_s"] == pytest.approx(bench["duration_s"] + bench["beyond_load_s"])
    assert phases["start"] > 0  # the command's own start, before its bench began
    # How busy the machine was until the load: the nodes' start was part of it.
    busy = bench["cpu_before_load"]
    assert 0 < busy["busy_share"] <= 1.05 and busy["parts_s"]["nodes"] > 0, busy
    waited = sum(v for k, v in phases.items() if k not in ("load_start", "lab_down"))
    assert bench["wall_s"] >= waited
    assert (folder / bench["run"] / "report.html").exists()
    assert phases["load"] >= 5 and phases["lab_up"] > 0 and phases["report"] > 0
    # The cluster went down beside the results and the report: its time is kept too.
    assert phases["lab_down"] > 0 and "logs" in phases
    (rows,) = data["results"]
    assert rows["rows"] == 2000 and rows["report_s"] > 0 and rows["compare_exit"] in (0, 1)
    assert data["previous"] is None
    # The machine's speed at the start and at the end, printed beside the figures.
    speed, memory = data["machine"]["one_core_task_s"], data["machine"]["memory_task_s"]
    assert 0 < speed["start"] < 30 and 0 < speed["end"] < 30
    assert 0 < memory["start"] < 30 and 0 < memory["end"] < 30
    printed = first.replace("\n", " ")
    assert f"a fixed one-core task took {speed['start']:.3f} s at the start" in printed
    assert f"random reads over 1 GiB took {memory['start']:.3f} s" in printed
    assert "before: " not in first.replace("\n", "")
