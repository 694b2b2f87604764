"""What a lab fault needs before the load (faults.prepare): a failure there is no crash.
The lab is a stand-in (a namespace with the topology prepare reads) and the agent's start
is replaced by one that fails: attaching to a real JVM is test_jvm.py's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.cluster.jvm import JvmReadError
from harness.cluster.lab import faults, jvms
from harness.config.faults import parse_faults


def test_an_agent_that_cannot_start_before_the_load_leaves_the_fault_to_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At the fault's time the same error is the run's finding (fault_error); before the
    load it ended the bench (from a helper's audit)."""
    asked: list[str] = []

    def refused(lab: Any, name: str) -> Any:
        asked.append(name)
        raise JvmReadError("attach: the node's JVM did not answer")

    monkeypatch.setattr(jvms, "lab_access", refused)
    lab = SimpleNamespace(
        topology=SimpleNamespace(nodes=[SimpleNamespace(name="node1")]), run_dir=tmp_path
    )
    faults.prepare(lab, parse_faults("context-reload:node1@5,sigkill:node1@8"))  # type: ignore[arg-type]
    assert asked == ["node1"]
    assert "node1: its JMX agent not started before the load" in caplog.text
