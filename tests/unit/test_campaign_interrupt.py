"""Ctrl-C in one bench of a campaign (a profile comparison, the scale study) ends the
campaign once that bench's results are kept. run_bench turns Ctrl-C under load into a
result holding the run so far; each campaign went on to its next bench.

The benches are stand-ins (no lab starts): what is under test is whether the campaign
starts another one. tests/unit/test_matrix_schedule.py holds the matrix to the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load import scale
from harness.load.bench import BenchPlan, BenchResult
from harness.load.campaigns import profiles
from harness.results import new_run_dir


def _template(tmp_path: Path) -> BenchPlan:
    return BenchPlan(
        profile=load_profile("best-practice"),
        cluster=LabSpec(topology=Topology(net="127.0.240", run_dir=tmp_path / "lab")),
        duration_s=5,
        results_dir=tmp_path / "results",
    )


def _stand_in(ran: list[str]) -> Any:
    """A bench that the user stops with Ctrl-C in the second one run."""

    def bench(plan: BenchPlan, **_: Any) -> BenchResult:
        ran.append(plan.label or "")
        run_dir = new_run_dir(plan.label or "run", plan.results_dir)
        stopped = 2.5 if len(ran) == 2 else None
        return BenchResult(run_dir, {"requests": 10}, 0.0, {"verdict": "v"}, None, stopped)

    return bench


def test_ctrl_c_in_one_profiles_bench_ends_the_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(profiles, "run_bench", _stand_in(ran))
    monkeypatch.setattr(profiles, "write_report", lambda *_: None)
    monkeypatch.setattr(profiles, "write_comparison", lambda *_: None)
    named = [load_profile(name) for name in ("default", "best-practice", "small-pool")]
    with pytest.raises(KeyboardInterrupt):
        profiles.run_profiles(_template(tmp_path), named, progress=lambda _: None)
    assert ran == ["default", "best-practice"]
    (out,) = (tmp_path / "results").iterdir()
    written = json.loads((out / profiles.INDEX_FILE).read_text())
    assert [r["profile"] for r in written["runs"]] == ["default", "best-practice"]


def test_ctrl_c_in_one_scale_cell_ends_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(scale, "run_bench", _stand_in(ran))
    template = _template(tmp_path)
    cells = tuple(scale.ScaleCell("redis", n, template) for n in (2, 4, 6))
    plan = scale.ScalePlan(cells, meters=lambda _: [], results_dir=tmp_path / "results")
    with pytest.raises(KeyboardInterrupt):
        scale.run_scale(plan, progress=lambda _: None)
    assert ran == ["redis-n2", "redis-n4"]
    (out,) = (tmp_path / "results").iterdir()
    written = json.loads((out / scale.SCALE_FILE).read_text())
    assert [row["nodes"] for row in written["rows"]] == [2, 4]
