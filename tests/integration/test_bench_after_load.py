"""A Ctrl-C once a bench's load has ended, while its results are written, stops the
harness after them: the run that ran is kept whole, and the result says it was stopped
(127.0.80.x). Before, it cut the
results short, and the folder had records but no run.json.

In-process: the harness's own handlers are installed as `python -m harness` installs
them, and the signal is sent to this process as the bench says "writing results"."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from harness import interrupts
from harness.cluster.lab import Lab, LabSpec, Topology
from harness.config.profile import load_profile
from harness.load.bench import BenchPlan, run_bench
from harness.results.run_folder import read_manifest
from tests.integration.conftest import assert_lab_gone

pytestmark = pytest.mark.integration


def test_a_ctrl_c_while_the_results_are_written_stops_the_harness_after_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[str] = []

    def progress(message: str) -> None:
        if message == "writing results" and not sent:
            sent.append(message)
            os.kill(os.getpid(), signal.SIGINT)

    plan = BenchPlan(
        profile=load_profile("best-practice"),
        cluster=LabSpec(topology=Topology(net="127.0.80", run_dir=tmp_path / "lab")),
        duration_s=5,
        users=4,
        results_dir=tmp_path / "results",
    )
    previous = interrupts.install()
    try:
        result = run_bench(plan, progress=progress)
    finally:
        interrupts.restore(previous)
    assert sent == ["writing results"]
    # Said to the caller, which stops after this run (the bench command exits 130).
    assert result.stopped_after_load and result.stop_requested
    assert result.interrupted_at_s is None
    (run_dir,) = (tmp_path / "results").iterdir()
    manifest = read_manifest(run_dir)
    assert manifest["complete"] is True  # the load ran its length: the Ctrl-C came after
    assert manifest["summary"]["requests"] > 0
    assert (run_dir / "requests.parquet").is_file()
    assert "logs" in manifest["phases_s"]  # written once the cluster was down
    assert f"stopping once {run_dir} is written" in [r.getMessage() for r in caplog.records]
    assert_lab_gone(Lab.attach(tmp_path / "lab"))
