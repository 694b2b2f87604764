"""Locust's open model (--arrival-rate) against the session.jsp stand-in on loopback:
a fast server leaves corrected latency equal to the measured, a slow one raises it."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results.run_folder import Record, convert_raw_records
from tests.integration.conftest import repo_root
from tests.integration.session_server import session_server

pytestmark = pytest.mark.integration
NET = "127.0.83"


def _run(host: str, tmp_path: Path, name: str, rate: str) -> list[Record]:
    raw = tmp_path / f"{name}.csv"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", "locustfiles/session_stability.py",
            "--headless", "--host", host, "-u", "2", "-r", "2", "-t", "4s",
            "--only-summary", "--loglevel", "WARNING",
            "--session-records", str(raw), "--arrival-rate", rate,
        ],
        cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    records = convert_raw_records([raw], start_epoch=0.0)
    assert records
    assert all(r.intended_s is not None and r.corrected_ms is not None for r in records)
    assert all((r.corrected_ms or 0.0) >= r.latency_ms for r in records)
    return records


def test_corrected_latency_equals_measured_on_a_fast_server_and_exceeds_it_on_a_slow_one(
    tmp_path: Path,
) -> None:
    with session_server(f"{NET}.1"):
        fast = _run(f"http://{NET}.1:8080", tmp_path, "fast", "10")
    # Nothing held back: the same number, request by request.
    assert sum(r.corrected_ms == r.latency_ms for r in fast) >= 0.9 * len(fast)
    assert [r.outcome for r in fast].count("new") == 2
    with session_server(f"{NET}.2", delay_s=0.1):
        slow = _run(f"http://{NET}.2:8080", tmp_path, "slow", "40")
    # Two users, 100 ms per reply: at most 20 replies/s for 40 asked; requests queue up.
    measured = statistics.median(r.latency_ms for r in slow)
    corrected = statistics.median(r.corrected_ms or 0.0 for r in slow)
    assert corrected > 2 * measured
    assert all(r.outcome in ("new", "kept") for r in slow)


def test_each_user_sends_from_its_own_source_address(tmp_path: Path) -> None:
    with session_server(f"{NET}.3") as sessions:
        done = subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", "locustfiles/session_stability.py",
                "--headless", "--host", f"http://{NET}.3:8080", "-u", "3", "-r", "3",
                "-t", "3s", "--only-summary", "--loglevel", "WARNING",
                "--session-wait", "0.01", "--source-net", "127.100",
            ],
            cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        clients = set(sessions.clients)
    assert done.returncode == 0, done.stderr[-2000:]
    assert clients == {"127.100.1.1", "127.100.2.1", "127.100.3.1"}


def test_a_lost_update_is_a_session_failure_in_locusts_stats(tmp_path: Path) -> None:
    with session_server(f"{NET}.4", lose_every=5):
        done = subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", "locustfiles/session_stability.py",
                "--headless", "--host", f"http://{NET}.4:8080", "-u", "2", "-r", "2",
                "-t", "3s", "--only-summary", "--loglevel", "WARNING",
                "--session-wait", "0.01", "--csv", str(tmp_path / "run"),
                "--session-records", str(tmp_path / "records.csv"),
            ],
            cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]  # Locust exits 1 when anything failed
    with (tmp_path / "run_stats.csv").open() as handle:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}
    records = convert_raw_records([tmp_path / "records.csv"], start_epoch=0.0)
    lost = sum(r.outcome == "data_lost" for r in records)
    assert lost > 0
    # One SESSION failure per data_lost record (Locust's CSV may miss the last second's);
    # the HTTP requests all succeeded.
    assert 0 < int(rows[("SESSION", "data_lost")]["Failure Count"]) <= lost
    assert int(rows[("GET", "/session.jsp")]["Failure Count"]) == 0
