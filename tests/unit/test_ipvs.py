"""The LVS director's commands, and the probe that decides between LVS and nftables.

Only the probe runs for real: this kernel has no IPVS, so ipvsadm's own refusal is
what the lab records. The command lines are LVS's documented ones (see ipvs.py)."""

from pathlib import Path

import pytest

from harness.cluster.lab import ipvs
from harness.cluster.lab.topology import Topology


def test_commands_for_a_source_hash_service_with_fallback(tmp_path: Path) -> None:
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    commands = [c[1:] for c in ipvs.service_commands(topology.balancer, topology.nodes)]
    assert commands == [
        ["-A", "-t", "127.0.9.10:8080", "-s", "sh", "-b", "sh-fallback"],
        ["-a", "-t", "127.0.9.10:8080", "-r", "127.0.9.11:8080", "-m", "-w", "1"],
        ["-a", "-t", "127.0.9.10:8080", "-r", "127.0.9.12:8080", "-m", "-w", "1"],
    ]
    out = ipvs.weight_command(topology.balancer, topology.nodes[0], 0)[1:]
    assert out == ["-e", "-t", "127.0.9.10:8080", "-r", "127.0.9.11:8080", "-m", "-w", "0"]
    assert ipvs.remove_command(topology.balancer)[1:] == ["-D", "-t", "127.0.9.10:8080"]


def test_probe_reports_why_ipvs_is_not_used_here() -> None:
    reason = ipvs.unavailable_reason()
    if reason is None:
        pytest.skip("this kernel has IPVS")  # never on the CI machine
    assert "Protocol not available" in reason or "not installed" in reason


def test_probe_can_be_told_to_use_nftables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_L4_DIRECTOR", "nftables")
    assert ipvs.unavailable_reason() == "TOMCAT_BENCH_L4_DIRECTOR=nftables"
