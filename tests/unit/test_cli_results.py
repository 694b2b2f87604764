"""Commands print what their run returned: nothing on disk is read back for the console
(matrix used to read verdicts.json back, profiles its index and every run's manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.load.campaigns import matrix, profiles
from harness.load.campaigns.matrix import MatrixResult
from harness.load.campaigns.profiles import ProfilesResult


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich reads it when it prints: whole table cells


def test_matrix_prints_the_cells_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cell = {"balancer": "nginx-rr", "sessions": "redis", "fault": "sigkill node1", "users": 6,
            "kept": 6, "data_kept": 6, "failed_requests": 3, "recovery_s": 1.5,
            "verdict": "survives"}  # fmt: skip

    def run_matrix(*_: Any, **__: Any) -> MatrixResult:
        return MatrixResult(tmp_path / "never-written", [cell])

    monkeypatch.setattr(matrix, "run_matrix", run_matrix)
    chosen = ["matrix", "--balancers", "nginx-rr", "--strategies", "redis"]
    assert main([*chosen, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "survives" in out
    assert "6/6" in out
    assert "never-written/matrix.html" in out


def test_profiles_prints_the_summaries_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = {"rps": 123.4, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "failures": 0,
               "generator_bound": False}  # fmt: skip
    runs = [{"profile": "default", "run": "runs/1-default"}, {"profile": "small-pool",
            "error": "no lab"}]  # fmt: skip

    def run_profiles(*_: Any, **__: Any) -> ProfilesResult:
        return ProfilesResult(tmp_path / "never-written", runs, {"runs/1-default": summary})

    monkeypatch.setattr(profiles, "run_profiles", run_profiles)
    assert main(["profiles", "default", "small-pool", "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "123.4" in out
    assert "the servers'" in out
    assert "could not run: no lab" in out


def test_a_bound_load_host_is_named_in_the_summary_not_hidden_behind_the_master() -> None:
    """With load hosts, this machine runs only Locust's master: its CPU row said
    "generator-bound: no" even when a load host's workers were the limit."""
    from harness.cli.summary import _summary_rows  # noqa: PLC0415

    telemetry = {"cpu_cores_mean": {"generator": 0.04, "node1": 0.2, "machine": 1.0},
                 "cores": 2, "generator_bound": False}  # fmt: skip
    hosts = {"load1": {"processes": 1, "cores_mean": 0.97, "generator_bound": True},
             "load2": {"processes": 2, "cores_mean": None, "generator_bound": None}}  # fmt: skip
    summary = {"telemetry": telemetry, "load_hosts": hosts, "generator_bound": True,
               "requests": 10, "rps": 1.0, "failures": 0, "errors": 0, "p50_ms": 1.0,
               "p95_ms": 2.0, "p99_ms": 3.0,
               "judgement": {"windows": [], "fates": {}, "users": 0}}  # fmt: skip
    verdict = {"balancer": "nginx", "sessions": "redis", "fault": "none", "verdict": "stable"}
    rows = dict(_summary_rows(summary, verdict))
    assert "generator-bound: see the load hosts" in rows["CPU (cores)"]
    assert rows["load hosts (cores)"] == (
        "load1 0.97 of 1, load2 not read; generator-bound: YES: throughput measures Locust"
    )


@pytest.mark.parametrize(
    ("unfinished", "words"),
    [
        ({"requests": 10, "longest_s": 5.983},
         "; 10 more still in flight when the load stopped (the longest for 6.0 s)"),
        ({"requests": 20, "longest_s": 0.004}, ""),  # each user's last request: ms
        ({"requests": 0, "longest_s": None}, ""),
        (None, ""),  # a run from before they were kept
    ],
)  # fmt: skip
def test_requests_hung_at_the_stop_are_named_beside_the_requests(
    unfinished: dict[str, Any] | None, words: str
) -> None:
    from harness.cli.summary import _summary_rows  # noqa: PLC0415

    summary = {"requests": 10, "answered": 9, "rps": 1.0, "failures": 1, "errors": 1,
               "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "unfinished": unfinished,
               "judgement": {"windows": [], "fates": {}, "users": 0}}  # fmt: skip
    verdict = {"balancer": "nginx", "sessions": "redis", "fault": "none", "verdict": "stable"}
    rows = dict(_summary_rows(summary, verdict))
    assert rows["requests"] == f"10, 9 answered (1.0/s answered){words}"


def test_a_summary_that_quotes_a_log_is_printed_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed restore quotes the node's log, whose "[/path/ROOT]" rich took for a closing
    markup tag: the bench crashed printing its summary (seen in CI), after the run."""
    from harness.cli.summary import print_summary  # noqa: PLC0415

    quoted = "restore failed: Deploying web application directory [/tmp/lab/node1/webapps/ROOT]"
    summary = {"requests": 10, "rps": 1.0, "failures": 0, "errors": 0, "p50_ms": 1.0,
               "p95_ms": 2.0, "p99_ms": 3.0,
               "judgement": {"windows": [], "fates": {}, "users": 0}}  # fmt: skip
    verdict = {"balancer": "nginx", "sessions": "redis", "fault": "sigkill:node1",
               "verdict": f"fault not delivered ({quoted}): not judged"}  # fmt: skip
    print_summary(summary, tmp_path, 3.0, verdict)
    assert quoted in capsys.readouterr().out
