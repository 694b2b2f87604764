"""The lab nodes' readings of themselves: each node's NodeReadings listener (java/
NodeReadings.java, on its class path and named in its server.xml) writes its MBeans as JSON
lines, once a second, to READINGS/PID.jsonl in its CATALINA_BASE. The settings in effect
and the JVM telemetry of a lab node are read from there.

Why not over JMX, as an inventory's nodes are: the agent started in each node by attach
and the reader JVM beside them took about 1.1 s of CPU before every bench's load, on a
machine whose two cores were already busy starting the nodes; read in the node, the same
reading costs milliseconds and opens no port. JMX stays for what only it can do here: an
operation invoked (a context reload, a deployer check, a GC before a heap reading).

A line is the JSON JvmProbe prints for one reading, with "pid"; the first of a process
also has "vm_flags" (the text of `jcmd PID VM.flags`); a reading that failed has "error"
instead of the MBeans.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster.jvm import PROBE_SOURCE, JvmReadError, compiled_jar
from harness.paths import CACHE_DIR

LISTENER_SOURCE = PROBE_SOURCE.parent / "NodeReadings.java"
LISTENER_CLASS = "NodeReadings"
JARS = CACHE_DIR / "node-readings"
JAR_NAME = "tomcat-bench-readings.jar"
READINGS = "readings"  # the folder in a node's CATALINA_BASE
EVERY_MS = 1000
FIRST_READING_WAIT_S = 30.0
# A process's start time as psutil gives it rests on the boot time in whole seconds.
START_SLACK_S = 1.0


def listener_jar(home: Path) -> Path:
    """The listener and JvmProbe compiled against this Tomcat, in a jar, once per source
    text, Tomcat and JDK (jvm.compiled_jar)."""
    return compiled_jar(
        JARS, JAR_NAME, (LISTENER_SOURCE, PROBE_SOURCE), (home / "lib" / "catalina.jar",)
    )


def listener_settings(base: Path) -> dict[str, Any]:
    """server.xml's <Listener> attributes for a node whose CATALINA_BASE is base."""
    return {"class_name": LISTENER_CLASS, "folder": str(base / READINGS), "every_ms": EVERY_MS}


def readings_file(base: Path, pid: int) -> Path:
    return base / READINGS / f"{pid}.jsonl"


def whole_lines(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The readings written after offset, and the offset after the last whole line (a line
    being written now is read next time)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    whole = chunk[: chunk.rfind(b"\n") + 1]
    out = []
    for line in whole.splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out, offset + len(whole)


def first_and_latest(
    base: Path,
    pid: int,
    started_epoch: float,
    alive: Callable[[], bool],
    wait_s: float = FIRST_READING_WAIT_S,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first reading (with its VM flags) and the latest one of the process that started
    at started_epoch, waiting for the first while it lives (its listener writes once the
    server has started). Lines from before its start are an earlier process's that had the
    same pid, appended to the same file: not its own."""
    path = readings_file(base, pid)
    since_ms = (started_epoch - START_SLACK_S) * 1000
    deadline = time.monotonic() + wait_s
    while True:
        first = _first_reading(path, since_ms)
        if first is not None:
            return first, _latest_reading(path, since_ms) or first
        if not alive():
            raise JvmReadError(f"{path}: the node ended before it read itself")
        if time.monotonic() > deadline:
            raise JvmReadError(f"{path}: no reading in {wait_s:.0f} s ({_last_error(path)})")
        time.sleep(0.02)


def _first_reading(path: Path, since_ms: float) -> dict[str, Any] | None:
    """The first reading with the VM flags (an error before it leaves them to the next)."""
    try:
        with path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    return None  # still being written
                reading = json.loads(line)
                if "vm_flags" in reading and float(reading.get("t_ms", 0)) >= since_ms:
                    return dict(reading)
    except (FileNotFoundError, ValueError):
        return None
    return None


def _tail(path: Path, size: int = 1 << 18) -> list[dict[str, Any]]:
    """The whole lines among the file's last bytes: a node read for an hour wrote megabytes."""
    try:
        start = max(path.stat().st_size - size, 0)
    except FileNotFoundError:
        return []
    lines, _ = whole_lines(path, start)
    return lines


def _latest_reading(path: Path, since_ms: float) -> dict[str, Any] | None:
    readings = [
        line
        for line in _tail(path)
        if "error" not in line and "heap" in line and float(line.get("t_ms", 0)) >= since_ms
    ]
    return readings[-1] if readings else None


def _last_error(path: Path) -> str:
    lines = _tail(path)
    if not lines:
        return f"nothing written: is the {LISTENER_CLASS} listener in its server.xml?"
    return str(lines[-1].get("error", "no error said"))


@dataclass
class Tail:
    """A node's readings as they come, process after process (a restart starts a file)."""

    base: Path
    offsets: dict[int, int] = field(default_factory=dict)

    def skip(self, pid: int) -> None:
        """Read the process's file from its end from now on."""
        with contextlib.suppress(FileNotFoundError):
            self.offsets[pid] = readings_file(self.base, pid).stat().st_size

    def new(self, pid: int) -> list[dict[str, Any]]:
        lines, self.offsets[pid] = whole_lines(
            readings_file(self.base, pid), self.offsets.get(pid, 0)
        )
        return lines
