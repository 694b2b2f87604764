"""Hot reload against hot deploy under load, on a real lab (127.0.98.x).

Sessions live in each node's memory (SESSIONS=none) and nginx ip_hash pins every user to
one node, so the users on the other node are the control group. The lab's StandardManager
has pathname="" (sessions are not written out when the context stops), so here a reload
loses sessions just as a redeploy does; the difference is in the requests: a reload
pauses them, a redeploy answers 404 until the application is back.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.faults import parse_faults
from harness.config.profile import PROFILES_DIR, load_profile
from harness.load.bench import BenchPlan, BenchResult, run_bench
from harness.results.run_folder import read_manifest

pytestmark = pytest.mark.integration

LAB_NET = "127.0.98"


def _bench(
    tmp_path: Path, faults: str, profile: str = "best-practice", *, duration_s: float
) -> BenchResult:
    plan = BenchPlan(
        profile=load_profile(profile),
        duration_s=duration_s,
        users=8,
        faults=parse_faults(faults),
        cluster=LabSpec(
            balancer="nginx-ip-hash",
            sessions="none",
            topology=Topology(net=LAB_NET, run_dir=tmp_path / "lab"),
        ),
        results_dir=tmp_path / "results",
    )
    return run_bench(plan, progress=lambda _: None)


def _effects(result: BenchResult) -> dict[str, Any]:
    (effects,) = result.summary["fault_effects"]
    # Both groups exist: ip_hash spreads these users' /24s over both nodes.
    assert effects["users_on_target"] >= 1 and effects["users_elsewhere"] >= 1
    # The control group is untouched either way.
    assert effects["kept_elsewhere"] == effects["users_elsewhere"]
    assert effects["lost_elsewhere"] == 0
    return effects


def test_context_reload_pauses_requests_and_with_no_persistence_loses_sessions(
    tmp_path: Path,
) -> None:
    # A reload is over in about a second: 6 s of load after it show its users' fate.
    result = _bench(tmp_path, "context-reload:node1@3", duration_s=9)
    effects = _effects(result)
    assert effects["lost_on_target"] == effects["users_on_target"]
    assert effects["errors_in_window"] == 0
    assert result.summary["errors"] == 0
    (fault,) = read_manifest(result.run_dir)["faults"]
    assert fault["at_s"] <= fault["reloaded_at_s"]


def _profile(tmp_path: Path, name: str, deploy: str) -> str:
    """best-practice with other [deploy] settings, as a profile file of its own."""
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    shutil.copy(PROFILES_DIR / "best-practice.toml", profiles)
    (profiles / f"{name}.toml").write_text(f'extends = "best-practice"\n[deploy]\n{deploy}\n')
    return str(profiles / f"{name}.toml")


def test_context_reload_keeps_sessions_when_the_manager_persists_them(tmp_path: Path) -> None:
    # The guide's claim, under the condition it silently assumes: Tomcat's default
    # StandardManager pathname (SESSIONS.ser), which the profile turns back on.
    persist = _profile(tmp_path, "persist", "persistSessions = true")
    result = _bench(tmp_path, "context-reload:node1@3", persist, duration_s=9)
    effects = _effects(result)
    assert effects["lost_on_target"] == 0
    # Counters continued too: the session's data came back, not only its id.
    assert result.summary["data_lost"] == 0
    if effects["errors_in_window"]:
        # Seen once in CI, not reproduced in 15 reloads since: the reloaded context started
        # Jasper without its scratch dir (StandardContext.postWorkDirectory sets it on a
        # ServletContext another thread can replace meanwhile), and every JSP on node1
        # answered 500 until the run ended. Only that is excused, and it is reported
        # (docs/findings.md): its users were never answered again, not kept.
        assert set(effects["error_statuses"]) == {"500"}, effects
        log = (result.run_dir / "logs" / "node1.log").read_text()
        assert "The JSP engine is not configured with a scratch dir" in log
        assert effects["unanswered_on_target"] > 0


def test_redeploy_at_once_loses_every_session_of_its_node(tmp_path: Path) -> None:
    # Put back at once, the application is missing for 0-50 ms only (requests wait while
    # the context stops): 1 run in 4 saw no 404 at all, so their count is held by the next
    # test, where it stays away for a second.
    result = _bench(tmp_path, "redeploy:node1@3", duration_s=10)
    effects = _effects(result)
    assert effects["lost_on_target"] == effects["users_on_target"]
    assert effects["unanswered_on_target"] == 0
    assert set(effects["error_statuses"]) <= {"404"}
    assert result.summary["errors"] == effects["errors_in_window"]
    (fault,) = read_manifest(result.run_dir)["faults"]
    steps = ("at_s", "removed_at_s", "undeployed_at_s", "added_at_s", "deployed_at_s")
    times = [fault[step] for step in steps]
    assert times == sorted(times)


def test_redeploy_answers_404_meanwhile_and_loses_sessions(tmp_path: Path) -> None:
    result = _bench(tmp_path, "redeploy:node1@3-4", duration_s=11)  # removed at 3 s, added at 4
    effects = _effects(result)  # the redeploy's window, 3 s to the deploy
    # Answered in the old context until the undeploy was done, then only 404s: the
    # redeploy's own window says its users were cut off, never kept (it read "kept").
    assert effects["users_on_target"] > 0
    assert effects["unanswered_on_target"] == effects["users_on_target"]
    assert effects["kept_on_target"] == 0
    assert effects["errors_in_window"] > 0
    assert set(effects["error_statuses"]) == {"404"}
    # The sessions die with the context; each user learns it at its first reply after
    # the deploy, in the restore's window, and the run counts every one lost. (A 404
    # answered as the deploy returned falls in that window too.)
    (restore,) = [w for w in result.summary["judgement"]["windows"] if w["kind"] == "restore"]
    assert result.summary["errors"] == effects["errors_in_window"] + restore["errors"]
    assert restore["fates"]["session_lost"] == effects["users_on_target"]
    assert result.summary["sessions_lost"] == effects["users_on_target"]
    (fault,) = read_manifest(result.run_dir)["faults"]
    steps = ("at_s", "removed_at_s", "undeployed_at_s", "added_at_s", "deployed_at_s")
    times = [fault[step] for step in steps]
    assert times == sorted(times)


def test_a_touched_web_xml_reloads_only_where_autodeploy_watches_it(tmp_path: Path) -> None:
    # The guide: reloadable="true" watches web.xml. In Tomcat 9 web.xml is a Host-level
    # WatchedResource, checked only when autoDeploy is on; reloadable watches classes/lib.
    # Tomcat checks every 2 s here, not its 10 s: the harness reads that from the Engine
    # and watches for a reload 2 + 5 s, so "did not reload" is judged inside a 10 s run.
    # (With the fixed 15 s watch it had, this run ended first: reloaded None, not False.)
    check = "backgroundProcessorDelay = 2"
    reloadable = _profile(tmp_path, "reloadable", f"reloadable = true\nautoDeploy = false\n{check}")
    result = _bench(tmp_path / "a", "touch:node1@2", reloadable, duration_s=10)
    node1 = read_manifest(result.run_dir)["lab"]["in_effect"]["node1"]
    assert (node1["deployer_check_s"], node1["auto_deploy"], node1["mismatches"]) == (2, False, [])
    effects = _effects(result)
    assert effects["reloaded"] is False
    assert effects["lost_on_target"] == 0
    assert effects["kept_on_target"] == effects["users_on_target"]
    assert result.summary["errors"] == 0

    watched = _profile(tmp_path, "autodeploy", f"reloadable = true\nautoDeploy = true\n{check}")
    result = _bench(tmp_path / "b", "touch:node1@2", watched, duration_s=10)
    effects = _effects(result)
    assert effects["reloaded"] is True
    (fault,) = read_manifest(result.run_dir)["faults"]
    assert fault["touched_at_s"] < fault["reloaded_at_s"] <= fault["touched_at_s"] + 7
    # No session persistence in this profile: no user of the target keeps its session. Most
    # runs lose them all; once in CI, the context reloaded under load came back with its
    # JSP engine broken ("not configured with a scratch dir") and every user of the target
    # got 500s to the end: unanswered, never kept (docs/findings.md).
    assert effects["kept_on_target"] == 0
    assert effects["lost_on_target"] + effects["unanswered_on_target"] == effects["users_on_target"]
