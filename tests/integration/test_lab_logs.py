"""A bench's logs folder holds its own lab's lines only. A lab's logs are appended to (a
restart's lines follow its first start's), so a run folder on a reused lab folder (the
default .lab) copied every earlier lab's lines too: 1.7 MB of them after a day of runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from tests.integration.conftest import assert_lab_gone

pytestmark = pytest.mark.integration
LAB_NET = "127.0.85"
STARTED = b"Server startup in"


def _one_lab(lab_dir: Path, logs: Path, *, restart: str | None = None) -> None:
    spec = LabSpec(
        balancer="nginx-rr", sessions="none", topology=Topology(net=LAB_NET, run_dir=lab_dir)
    )
    cluster = spec.up(load_profile("best-practice"), progress=lambda _: None)
    try:
        if restart is not None:
            cluster.lab.restart(restart)
    finally:
        cluster.down()
        assert_lab_gone(cluster.lab)
    cluster.copy_logs(logs)


def test_each_bench_copies_its_own_labs_lines_and_a_restarts(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    _one_lab(lab_dir, tmp_path / "first")
    _one_lab(lab_dir, tmp_path / "second", restart="node1")
    assert (tmp_path / "first" / "node1.log").read_bytes().count(STARTED) == 1
    assert (tmp_path / "second" / "node2.log").read_bytes().count(STARTED) == 1
    # node1 started twice in the second lab (its restart): both starts are its lines.
    assert (tmp_path / "second" / "node1.log").read_bytes().count(STARTED) == 2
    # The lab folder itself keeps every line, as before.
    assert (lab_dir / "node1" / "logs" / "console.log").read_bytes().count(STARTED) == 3
