"""A lab's start on a real lab (127.0.99.x): the JSPs one lab compiled are kept, and the
next lab's nodes serve them without compiling them again; `lab warm` keeps a store's
start once."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from harness.cluster import hsperf, jvm
from harness.cluster.artifacts import catalina_home, find_artifacts
from harness.cluster.lab import Lab, Topology, compiled_jsps, unsigned_jars
from harness.cluster.lab.cold import without_kept_starts
from harness.cluster.lab.lab import starts_kept
from harness.cluster.lab.tomcat import SystemClassPath, health
from harness.cluster.lab.warm import warm_starts
from harness.config.profile import load_profile
from harness.paths import REPO_ROOT
from tests.integration.conftest import Browser, assert_lab_gone

pytestmark = pytest.mark.integration

LAB_NET = "127.0.99"


def _started_at(pid: int) -> float:
    """When the JVM began to create itself, to the millisecond, from its own perf counters
    (/proc's start time is to the clock tick, and its conversion to wall time drifts by
    more than the millisecond between restoring the classes and starting the JVM)."""
    began = hsperf.counters(hsperf.perf_file(pid))["sun.rt.createVmBeginTime"]
    assert isinstance(began, int)
    return began / 1000


def _ran_jasper_compiler(pid: int) -> bool:
    """Whether the JVM ever loaded the Java compiler Jasper runs on a page it translated
    (ecj's; Jasper's own JDTCompiler is loaded for every page, compiled or not). A class
    on the system class path is never unloaded."""
    loaded = jvm.run(["jcmd", str(pid), "VM.class_hierarchy"])
    return "org.eclipse.jdt.internal.compiler.Compiler/" in loaded


def _up_and_down(run_dir: Path) -> dict[str, tuple[float, float, bool]]:
    """Start a lab, use session.jsp, stop it; each node's JVM start time, the newest
    change (ctime) of its compiled servlets and whether it ran Jasper's compiler."""
    lab = Lab(Topology(net=LAB_NET, run_dir=run_dir))
    lab.up(load_profile("best-practice"), balancer_name="nginx-rr", sessions="none")
    try:
        assert lab.state is not None
        assert Browser(lab.topology.balancer_url).session_page().node in ("node1", "node2")
        out = {}
        for node in lab.topology.nodes:
            assert health(node.http) is not None
            started = _started_at(lab.state.processes[node.name].pid)
            work = run_dir / node.name / compiled_jsps.WORK
            changed = max(f.stat().st_ctime for f in work.iterdir())
            pid = lab.state.processes[node.name].pid
            out[node.name] = (started, changed, _ran_jasper_compiler(pid))
        return out
    finally:
        lab.down()
        assert_lab_gone(lab)


def test_a_second_lab_serves_the_first_labs_compiled_jsps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled_jsps, "CACHE", tmp_path / "cache")
    first = _up_and_down(tmp_path / "first")
    # Nothing kept yet: each node has its pages from after its JVM started. The first
    # compiled them; the other was handed its classes (two compiling at once on two cores
    # cost a lab with none kept 0.5 s).
    assert all(changed > started for started, changed, _ in first.values())
    assert {name: compiled for name, (_, _, compiled) in first.items()} == {
        "node1": True,
        "node2": False,
    }
    kept = list((tmp_path / "cache").iterdir())
    assert len(kept) == 1
    assert {f.name for f in kept[0].iterdir()} >= {"health_jsp.class", "session_jsp.class"}
    second = _up_and_down(tmp_path / "second")
    # Restored before the JVMs started, and never written again: Jasper used them.
    assert all(changed < started for started, changed, _ in second.values()), second
    assert not any(compiled for _, _, compiled in second.values()), second


@pytest.mark.parametrize("store", ["redis", "memcached"])
def test_a_lab_nodes_class_path_holds_no_signed_jar_and_its_compiler_still_runs(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tomcat's ecj comes signed (unsigned_jars.py: what that cost each start)."""
    monkeypatch.setattr(unsigned_jars, "UNSIGNED_DIR", tmp_path)
    artifacts = find_artifacts()
    home = catalina_home(artifacts)
    jars = SystemClassPath.of(home, {"kind": store}, artifacts).jars
    for jar in jars:
        with zipfile.ZipFile(jar) as opened:
            assert not [n for n in opened.namelist() if n.upper().endswith(".SF")], jar
    (compiler,) = [jar for jar in jars if jar.name.startswith("ecj-")]
    assert compiler.parent == tmp_path
    # Tomcat's, the manager's (Redisson's two and its config listener: redisson_config.py;
    # msm's three) and the nodes' readings listener (readings.py).
    assert len(jars) == len(list((home / "lib").glob("*.jar"))) + 4
    version = subprocess.run(
        ["java", "-cp", str(compiler), "org.eclipse.jdt.internal.compiler.batch.Main", "-version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Eclipse Compiler for Java" in version.stdout


def test_lab_warm_keeps_each_stores_start_once_and_then_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """...and compiles the JMX reader: a clean clone's first bench read its nodes in 2.0 s
    instead of 0.5 while javac ran."""
    profile = load_profile("best-practice")
    topo = Topology(net=LAB_NET, run_dir=tmp_path / "unused")
    monkeypatch.setattr(jvm, "PROBE_CLASSES", tmp_path / "jvmprobe")
    with without_kept_starts():  # empty caches, as on a fresh clone
        assert not starts_kept(topo, profile, "none")
        assert warm_starts(profile, stores=("none",), net=LAB_NET) == ["none"]
        assert starts_kept(topo, profile, "none")
        assert list((tmp_path / "jvmprobe").glob("*/JvmProbe.class"))
        assert not starts_kept(topo, profile, "redis")  # another store: its own archive
        assert warm_starts(profile, stores=("none",), net=LAB_NET) == []
    assert not (tmp_path / "unused").exists()


def test_setup_asks_lab_warm_only_when_what_it_keeps_depends_on_changed() -> None:
    """`make setup` runs before every `make bench`: asking `lab warm` (a Python start and
    the harness's imports, 0.5 s) every time only to hear that everything is kept was a
    sixth of a short bench's wait beyond its load. Its stamp now answers; without it (or
    after a change to what the kept files depend on) the warm runs, once."""
    cache = REPO_ROOT / ".cache"
    log = cache / "warm.log"
    for stamp in cache.glob(".warm-*"):
        stamp.unlink()
    subprocess.run([REPO_ROOT / "scripts" / "setup"], check=True, capture_output=True)
    (stamp,) = cache.glob(".warm-*")
    warmed = log.stat().st_mtime_ns
    subprocess.run([REPO_ROOT / "scripts" / "setup"], check=True, capture_output=True)
    assert log.stat().st_mtime_ns == warmed, "lab warm ran again with nothing changed"
    assert list(cache.glob(".warm-*")) == [stamp]
