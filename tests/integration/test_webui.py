"""The Sessions tab in a real headless Chromium, Locust in one process (net 127.0.91)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.results.run_folder import SCHEMA_VERSION
from tests.integration.webui_browser import USERS, run_scenario

pytestmark = pytest.mark.integration
NET = "127.0.91"


def test_sessions_tab_moves_and_fault_clicks_land_in_the_results(tmp_path: Path) -> None:
    manifest, records, tab = run_scenario(tmp_path, NET, workers=0, restore=True)

    assert manifest["schema_version"] == SCHEMA_VERSION
    (fault,) = manifest["faults"]
    assert (fault["action"], fault["target"], fault["source"]) == ("sigkill", "node1", "web UI")
    # The time the tab showed is the time the results keep, on the same clock (from the
    # first request): "at <UTC> (t+<s> s) from web UI".
    assert tab["fault"][1].startswith(f"at {fault['at_utc']} ")
    shown_t = float(re.search(r"\(t\+([\d.]+) s\)", tab["fault"][1]).group(1))  # type: ignore[union-attr]
    assert abs(shown_t - fault["at_s"]) <= 0.051
    assert tab["status"][0] == f"sigkill node1 at {fault['at_utc']}"
    assert fault["restore"] == "start"
    assert fault["restored_at_s"] > fault["at_s"]
    node1 = [float(r["t_s"]) for r in records if r["node"] == "node1"]
    assert node1, "node1 served before the fault"
    # SIGKILL is immediate: node1 answers nothing between the fault (0.5 s for its
    # delivery) and its start, and serves again after it.
    assert not [t for t in node1 if fault["at_s"] + 0.5 < t < fault["restored_at_s"]]
    assert max(node1) > fault["restored_at_s"]
    assert any(r["node"] == "node2" and float(r["t_s"]) > fault["at_s"] + 1 for r in records)

    summary = manifest["summary"]
    assert summary["users"] == USERS
    assert summary["faults"][0]["at_s"] == fault["at_s"]
    hdr = summary["latency_hdr"]
    assert hdr["count"] == len(records) == summary["requests"]
    assert hdr["processes"] == 1
    # HDR keeps 3 significant digits: its p50 is within 0.1% of the exact one.
    assert hdr["p50_ms"] == pytest.approx(summary["p50_ms"], rel=2e-3, abs=0.002)
