"""The Sessions tab with Locust distributed: a master and one worker (net 127.0.92).

The master runs no users, so every number the tab shows, and the HDR histogram in the
results, reached it through report_to_master / worker_report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.webui_browser import USERS, run_scenario

pytestmark = pytest.mark.integration
NET = "127.0.92"


def test_sessions_tab_merges_a_workers_counts_on_the_master(tmp_path: Path) -> None:
    manifest, records, tab = run_scenario(tmp_path, NET, workers=1)

    assert "1 process(es) merged" in tab["latency (HDR)"][1]
    assert int(tab["users"][0]) == USERS
    assert manifest["load"]["workers"] == 1
    (fault,) = manifest["faults"]
    assert (fault["action"], fault["target"]) == ("sigkill", "node1")
    assert tab["fault"][1].startswith(f"at {fault['at_utc']} ")
    # Worker 0 numbers its users 1..USERS, as a single process would.
    assert {int(r["user"]) for r in records} == set(range(1, USERS + 1))
    hdr = manifest["summary"]["latency_hdr"]
    assert hdr["processes"] == 1
    # Everything the worker measured reached the master's histogram, its final report included.
    assert hdr["count"] == len(records)
