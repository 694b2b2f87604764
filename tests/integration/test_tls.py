"""HTTPS at the balancer on a real lab (127.0.69.x): nginx and haproxy terminate TLS with
the lab's throwaway certificate, Locust verifies it, sessions survive a node kill over
HTTPS, and `tls` prices the front's TLS against plain HTTP (127.0.70.x)."""

from __future__ import annotations

import csv
import json
import subprocess
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.cli.bench import plan_from
from harness.cli.options import parse
from harness.cluster.endpoints import get_json
from harness.cluster.lab import tls
from harness.cluster.lab.lab import Lab
from harness.cluster.lab.topology import Topology
from harness.config.profile import load_profile
from harness.load.bench import LOCUSTFILE, run_bench
from harness.load.locust import Sessions, locust_command
from harness.results.run_folder import read_manifest

pytestmark = pytest.mark.integration

LAB_NET = "127.0.69"  # the module's own lab
BENCH_NET = "127.0.70"  # the benches' and the study's labs, beside it


@pytest.fixture(scope="module")
def https_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(Topology(net=LAB_NET, run_dir=tmp_path_factory.mktemp("lab"), node_count=1))
    lab.up(load_profile("tls"), balancer_name="nginx-rr", sessions="none")
    try:
        yield lab
    finally:
        lab.down()


def test_the_balancer_is_reached_only_by_a_client_that_trusts_the_labs_ca(
    https_lab: Lab, tmp_path: Path
) -> None:
    assert https_lab.entry_url == f"https://{LAB_NET}.10:8080"
    assert https_lab.ca_file is not None
    assert get_json(f"{https_lab.entry_url}/health.jsp", ca_file=https_lab.ca_file)["node"]
    stranger = tls.make_certificates(tmp_path / "other", f"{LAB_NET}.10").ca
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        get_json(f"{https_lab.entry_url}/health.jsp", ca_file=stranger)
    seen = https_lab.state.tls["in_effect"]  # type: ignore[index]
    assert (seen["protocol"], seen["alpn"], seen["resumes"]) == ("TLSv1.3", "http/1.1", True)
    assert https_lab.state.tls["mismatches"] == []  # type: ignore[index]


@pytest.mark.parametrize("trusted", [True, False])
def test_locust_verifies_the_certificate(https_lab: Lab, tmp_path: Path, trusted: bool) -> None:
    """Locust's FastHttpUser verifies nothing unless told: ours always verifies, so with
    a CA that did not sign the balancer's certificate every request fails."""
    ca = https_lab.ca_file if trusted else tls.make_certificates(tmp_path, f"{LAB_NET}.10").ca
    records = tmp_path / "raw.csv"
    command = locust_command(
        LOCUSTFILE,
        host=https_lab.entry_url,
        users=2,
        spawn_rate=2,
        run_time_s=3,
        stop_timeout_s=1,
        extra=Sessions(records=records, ca_file=ca).options(),
    )
    subprocess.run(command, capture_output=True, timeout=60, check=False)
    with records.open() as rows:
        # A request Locust cut off at its stop is a row of its own: neither reply nor error.
        outcomes = [row["outcome"] for row in csv.DictReader(rows)]
        outcomes = [outcome for outcome in outcomes if outcome != "unfinished"]
    assert outcomes, "no request was recorded"
    if trusted:
        assert "error" not in outcomes, outcomes[:5]
    else:
        assert set(outcomes) == {"error"}, outcomes[:5]


@pytest.mark.parametrize("balancer", ["nginx-rr", "haproxy-rr"])
def test_sessions_survive_a_node_kill_over_https(balancer: str, tmp_path: Path) -> None:
    args = parse(
        build_parser(),
        [
            "bench", "--profile", "tls", "--balancer", balancer, "--sessions", "redis",
            "--faults", "sigkill:node1@4", "--duration", "10", "--users", "6",
            "--net", BENCH_NET, "--run-dir", str(tmp_path / "lab"),
            "--results-dir", str(tmp_path / "results"),
        ],
    )  # fmt: skip
    run = read_manifest(run_bench(plan_from(args), progress=lambda _: None).run_dir)
    assert run["lab"]["entry"] == f"https://{BENCH_NET}.10:8080"
    assert run["lab"]["tls"]["mismatches"] == [], run["lab"]["tls"]
    assert run["profile"]["requested"]["tls"]["protocols"] == ["TLSv1.2", "TLSv1.3"]
    summary = run["summary"]
    assert summary["users"] == 6 and summary["requests"] > 100, summary
    assert summary["sessions_lost"] == summary["unanswered"] == 0, summary["judgement"]["fates"]
    (kill,) = run["faults"]
    assert kill["action"] == "sigkill" and "fault_error" not in kill, kill


def test_the_tls_study_prices_each_mode_against_plain_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "tls", "--balancers", "nginx-rr,haproxy-rr", "--duration", "1", "--rounds", "1",
            "--nodes", "1", "--net", BENCH_NET, "--run-dir", str(tmp_path / "lab"),
            "--results-dir", str(tmp_path / "results"),
        ]
    )  # fmt: skip
    assert code == 0
    (folder,) = (tmp_path / "results").iterdir()
    data = json.loads((folder / "tls.json").read_text())
    for name in ("nginx-rr", "haproxy-rr"):
        modes = data["balancers"][name]["modes"]
        for mode, figures in modes.items():
            assert figures["requests"] > 0 and figures["errors"] == 0, (name, mode, figures)
            assert figures["balancer_cpu_ms_per_request"] is not None, (name, mode)
        # Each new connection either resumed (all but the first of each client) or not.
        assert modes["tls-full-handshake"]["resumed_share"] == 0
        assert modes["tls-resumed"]["resumed_share"] > 0.5, modes["tls-resumed"]
        assert set(data["balancers"][name]["ratios"]) == {
            "tls-keepalive", "tls-full-handshake", "tls-resumed",
        }  # fmt: skip
    out = capsys.readouterr().out
    assert "make tls: nginx-rr, TLSv1.3" in out and "make tls: haproxy-rr" in out
