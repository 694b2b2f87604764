"""Ctrl-C in one bench of a campaign (a profile comparison, the scale study, storebench's
end-to-end cells, timing) ends the campaign once that bench's results are kept. run_bench
turns Ctrl-C under load into a result holding the run so far; each campaign went on to
its next bench.

The benches are stand-ins (no lab starts): what is under test is whether the campaign
starts another one. tests/unit/test_matrix_schedule.py holds the matrix to the same."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load import scale, timing
from harness.load.bench import BenchPlan, BenchResult
from harness.load.campaigns import profiles
from harness.results.folders import new_run_dir
from harness.storebench import e2e
from harness.storebench import run as storebench_run
from harness.storebench.claims import finding_e2e


def _template(tmp_path: Path) -> BenchPlan:
    return BenchPlan(
        profile=load_profile("best-practice"),
        cluster=LabSpec(topology=Topology(net="127.0.240", run_dir=tmp_path / "lab")),
        duration_s=5,
        results_dir=tmp_path / "results",
    )


def _stand_in(ran: list[str], after_load: bool, stopped_in: int = 2) -> Any:
    """A bench that the user stops with Ctrl-C in the stopped_in'th one run: under its
    load (2.5 s in), or once its load had ended (after_load: the run is complete)."""

    def bench(plan: BenchPlan, **_: Any) -> BenchResult:
        ran.append(plan.label or "")
        run_dir = new_run_dir(plan.label or "run", plan.results_dir)
        stopped = len(ran) == stopped_in
        summary = {"requests": 10, "failures": 0, "errors": 0, "rps": 2.0}
        summary |= {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}
        return BenchResult(
            run_dir, summary, 0.0, {"verdict": "v"},
            interrupted_at_s=2.5 if stopped and not after_load else None,
            stopped_after_load=stopped and after_load,
        )  # fmt: skip

    return bench


# Each campaign ends alike whether the Ctrl-C came under a bench's load or after it.
WHEN = pytest.mark.parametrize("after_load", [False, True], ids=["under_load", "after_load"])


@WHEN
def test_ctrl_c_in_one_profiles_bench_ends_the_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_load: bool
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(profiles, "run_bench", _stand_in(ran, after_load))
    monkeypatch.setattr(profiles, "write_report", lambda *_: None)
    monkeypatch.setattr(profiles, "write_comparison", lambda *_: None)
    named = [load_profile(name) for name in ("default", "best-practice", "small-pool")]
    with pytest.raises(KeyboardInterrupt):
        profiles.run_profiles(_template(tmp_path), named, progress=lambda _: None)
    assert ran == ["default", "best-practice"]
    (out,) = (tmp_path / "results").iterdir()
    written = json.loads((out / profiles.INDEX_FILE).read_text())
    assert [r["profile"] for r in written["runs"]] == ["default", "best-practice"]


@WHEN
def test_ctrl_c_in_one_scale_cell_ends_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_load: bool
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(scale, "run_bench", _stand_in(ran, after_load))
    template = _template(tmp_path)
    cells = tuple(scale.ScaleCell("redis", n, template) for n in (2, 4, 6))
    plan = scale.ScalePlan(cells, meters=lambda _: [], results_dir=tmp_path / "results")
    with pytest.raises(KeyboardInterrupt):
        scale.run_scale(plan, progress=lambda _: None)
    assert ran == ["redis-n2", "redis-n4"]
    (out,) = (tmp_path / "results").iterdir()
    written = json.loads((out / scale.SCALE_FILE).read_text())
    assert [row["nodes"] for row in written["rows"]] == [2, 4]


@WHEN
def test_ctrl_c_in_one_end_to_end_cell_ends_storebench_with_its_row_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_load: bool
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(e2e, "run_bench", _stand_in(ran, after_load))
    monkeypatch.setattr(e2e, "write_report", lambda *_: None)
    plan = SimpleNamespace(
        net="127.0.240", e2e_strategies=list(e2e.STRATEGIES), e2e_sizes=[1024],
        e2e_duration_s=5, e2e_users=2,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    step = SimpleNamespace(text=lambda _: None, tick=lambda _: None)
    ctx = SimpleNamespace(plan=plan, run_dir=tmp_path, step=step, add=lambda _, r: rows.append(r))
    with pytest.raises(KeyboardInterrupt):
        storebench_run._phase_e2e(ctx)  # type: ignore[arg-type]
    assert ran == ["redis-1024", "memcached-sticky-1024"]
    assert [r.get("stopped", False) for r in rows] == [False, True]
    assert [r.get("interrupted_at_s") for r in rows] == [None, None if after_load else 2.5]
    # The run's finding names a cell cut short, whose figures cover its first seconds.
    lines = finding_e2e(rows)["numbers"]
    cut = [line.endswith("(interrupted at 2.5 s)") for line in lines]
    assert cut == [False, not after_load]


def _timed_bench_exiting(tmp_path: Path, code: int) -> timing.TimingPlan:
    """A timing plan whose bench command (a stand-in: no lab) notes the TOMCAT_BENCH_*
    variables it sees and exits code."""
    template = _template(tmp_path)
    marker = tmp_path / "ran"
    stand_in = (
        f"import os, pathlib, sys; pathlib.Path({str(marker)!r}).write_text("
        f"' '.join(k for k in os.environ if k.startswith('TOMCAT_BENCH_'))); sys.exit({code})"
    )
    return timing.TimingPlan(
        profile=template.profile, cluster=template.cluster, fresh_cluster=template.cluster,
        fresh_dir=tmp_path / "fresh", results_dir=tmp_path / "results",
        bench_command=(sys.executable, "-c", stand_in),
    )  # fmt: skip


def test_ctrl_c_in_a_timed_bench_ends_timing(tmp_path: Path) -> None:
    plan = _timed_bench_exiting(tmp_path, timing.INTERRUPTED)
    with pytest.raises(KeyboardInterrupt):  # a load cut short times nothing
        timing._bench(plan, 5, tmp_path, lambda _: None)
    assert (tmp_path / "ran").exists()


def test_a_timed_bench_that_fails_ends_timing_naming_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The timed bench is the plan's: an operator's TOMCAT_BENCH_FAULTS does not change it.
    monkeypatch.setenv("TOMCAT_BENCH_FAULTS", "sigstop:node1@2")
    plan = _timed_bench_exiting(tmp_path, 2)
    with pytest.raises(RuntimeError, match=r"the 5 s bench exited 2: see .*bench-5s\.log"):
        timing._bench(plan, 5, tmp_path, lambda _: None)
    assert (tmp_path / "ran").read_text() == ""
