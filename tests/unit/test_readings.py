"""A lab node's own readings (harness.cluster.readings), read as they are written: a line
being written is left for the next read, the first reading carries the VM flags, a
restarted node's new process has a file of its own, and the JVM telemetry takes only what
was written after its start. The files are written here as NodeReadings writes them (one
JSON line per reading, tests/fixtures/jvm's JvmProbe reading); the listener itself runs in
the lab's integration tests (test_jvm.py)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import jvm, readings
from harness.cluster.jvm import JvmReadError, NodeTarget
from harness.load.telemetry import JvmSampler

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jvm"


def _reading(pid: int, t_ms: float, **extra: Any) -> dict[str, Any]:
    probe = json.loads((FIXTURES / "probe_small_pool.json").read_text())
    return {"pid": pid, **probe, "t_ms": t_ms, **extra}


def _append(base: Path, pid: int, reading: dict[str, Any], *, whole: bool = True) -> None:
    path = readings.readings_file(base, pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(reading)
    with path.open("a") as handle:
        handle.write(text + "\n" if whole else text[: len(text) // 2])


def test_a_line_still_being_written_is_read_the_next_time(tmp_path: Path) -> None:
    _append(tmp_path, 7, _reading(7, 1000.0))
    _append(tmp_path, 7, _reading(7, 2000.0), whole=False)
    path = readings.readings_file(tmp_path, 7)
    lines, offset = readings.whole_lines(path)
    assert [line["t_ms"] for line in lines] == [1000.0]
    with path.open("a") as handle:  # the rest of the second line
        handle.write(json.dumps(_reading(7, 2000.0))[len(json.dumps(_reading(7, 2000.0))) // 2 :])
        handle.write("\n")
    lines, _ = readings.whole_lines(path, offset)
    assert [line["t_ms"] for line in lines] == [2000.0]


def test_the_settings_are_the_first_reading_with_flags_and_the_latest_mbeans(
    tmp_path: Path,
) -> None:
    _append(tmp_path, 7, {"pid": 7, "t_ms": 500.0, "error": "MBeans not registered yet"})
    _append(tmp_path, 7, _reading(7, 1000.0, vm_flags="-XX:MaxHeapSize=1073741824"))
    _append(tmp_path, 7, _reading(7, 2000.0))
    _append(tmp_path, 7, {"pid": 7, "t_ms": 3000.0, "error": "a passing failure"})
    first, latest = readings.first_and_latest(tmp_path, 7, 0.0, alive=lambda: True)
    assert (first["t_ms"], first["vm_flags"]) == (1000.0, "-XX:MaxHeapSize=1073741824")
    assert latest["t_ms"] == 2000.0


def test_the_first_reading_is_waited_for_while_the_node_starts(tmp_path: Path) -> None:
    def later() -> None:
        time.sleep(0.2)
        _append(tmp_path, 8, _reading(8, 1000.0, vm_flags="-XX:+UseG1GC"))

    writer = threading.Thread(target=later)
    writer.start()
    first, _ = readings.first_and_latest(tmp_path, 8, 0.0, alive=lambda: True, wait_s=10)
    writer.join()
    assert first["vm_flags"] == "-XX:+UseG1GC"


def test_a_node_that_ended_or_never_read_itself_is_named(tmp_path: Path) -> None:
    with pytest.raises(JvmReadError, match=r"9\.jsonl: the node ended before it read itself"):
        readings.first_and_latest(tmp_path, 9, 0.0, alive=lambda: False)
    _append(tmp_path, 9, {"pid": 9, "t_ms": 1.0, "error": "InstanceNotFoundException"})
    with pytest.raises(JvmReadError, match=r"no reading in 0 s \(InstanceNotFoundException\)"):
        readings.first_and_latest(tmp_path, 9, 0.0, alive=lambda: True, wait_s=0.05)


def test_the_telemetry_takes_what_each_process_wrote_after_its_start(tmp_path: Path) -> None:
    """What the lab wrote before the load is not the load's; a node restarted meanwhile is
    read from its new process's first reading; a reading that failed is an error, no row."""
    start = 1_000_000.0
    base = tmp_path / "node1"
    _append(base, 7, _reading(7, start * 1000 - 500, vm_flags=""))  # before the load
    target = {"node1": NodeTarget(7, tmp_path / "console.log", base)}
    sampler = JvmSampler(targets=lambda: target, start_epoch=start, interval_s=60)
    sampler.start()  # no tick for a minute: each is asked for below
    try:
        _append(base, 7, _reading(7, start * 1000 + 1000))
        sampler.tick()
        target["node1"] = NodeTarget(8, tmp_path / "console.log", base)  # restarted
        _append(base, 8, _reading(8, start * 1000 + 3000, vm_flags=""))
        _append(base, 8, {"pid": 8, "t_ms": start * 1000 + 4000, "error": "refused"})
        _append(base, 8, _reading(8, start * 1000 + 5000), whole=False)  # being written
        sampler.tick()
    finally:
        sampler.stop()
    assert [row[0] for row in sampler.rows] == [1.0, 3.0]
    assert sampler.errors == {"node1": "refused"}


def test_an_earlier_process_with_the_same_pid_is_not_read_as_this_one(tmp_path: Path) -> None:
    """Pids wrap (32768 here): a node that gets an earlier JVM's pid appends to its file.
    Only lines from this process's start on are its own (from a helper's audit)."""
    _append(tmp_path, 1780, _reading(1780, 1_000.0, vm_flags="-XX:MaxHeapSize=536870912"))
    _append(tmp_path, 1780, _reading(1780, 2_000.0))
    started = 9_000.0  # seconds: long after the earlier process
    with pytest.raises(JvmReadError, match="no reading in 0 s"):
        readings.first_and_latest(tmp_path, 1780, started, alive=lambda: True, wait_s=0.05)
    _append(tmp_path, 1780, _reading(1780, 9_001_000.0, vm_flags="-XX:MaxHeapSize=1073741824"))
    first, latest = readings.first_and_latest(tmp_path, 1780, started, alive=lambda: True)
    assert first["vm_flags"] == latest["vm_flags"] == "-XX:MaxHeapSize=1073741824"


def test_a_node_restarted_between_two_ticks_keeps_its_old_process_last_reading(
    tmp_path: Path,
) -> None:
    """What the old process wrote after the last tick, before the restart gave the node a
    new pid, is read too (from a helper's audit)."""
    start = 1_000_000.0
    base = tmp_path / "node1"
    target = {"node1": NodeTarget(7, tmp_path / "console.log", base)}
    sampler = JvmSampler(targets=lambda: target, start_epoch=start, interval_s=60)
    sampler.start()
    try:
        _append(base, 7, _reading(7, start * 1000 + 1000))
        sampler.tick()
        _append(base, 7, _reading(7, start * 1000 + 1900))  # its last line, then stopped
        target["node1"] = NodeTarget(8, tmp_path / "console.log", base)
        _append(base, 8, _reading(8, start * 1000 + 4000, vm_flags=""))
        _append(base, 8, {"pid": 8, "t_ms": start * 1000 + 5000, "heap": None})  # unreadable
        sampler.tick()
    finally:
        sampler.stop()
    assert [row[0] for row in sampler.rows] == [1.0, 1.9, 4.0]
    assert "a reading the harness cannot read" in sampler.errors["node1"]


def test_a_jar_compiled_by_another_jdk_is_another_jar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class from a newer javac fails to load in an older java: no node would start. The
    jar's folder is named by the JDK that compiles it too (from a helper's audit)."""
    sources = (readings.LISTENER_SOURCE,)
    catalina = (tmp_path / "apache-tomcat-9.0.117" / "lib" / "catalina.jar",)
    here = jvm.jar_digest(sources, catalina)
    other = tmp_path / "jdk-25" / "bin" / "javac"
    other.parent.mkdir(parents=True)
    other.write_text("")
    monkeypatch.setattr(jvm.shutil, "which", lambda name: str(other))
    assert jvm.jar_digest(sources, catalina) != here


def test_a_jar_compiled_against_another_tomcat_or_manager_is_another_jar(tmp_path: Path) -> None:
    sources = (readings.LISTENER_SOURCE,)
    here = jvm.jar_digest(sources, (tmp_path / "apache-tomcat-9.0.117" / "lib" / "catalina.jar",))
    other = jvm.jar_digest(sources, (tmp_path / "apache-tomcat-9.0.118" / "lib" / "catalina.jar",))
    assert here != other
