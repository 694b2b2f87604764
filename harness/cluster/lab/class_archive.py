"""Class-data sharing (Java's AppCDS) for the lab's Tomcat nodes: a node starting with an
archive of the classes an earlier node loaded maps them instead of loading and verifying
them again. Redisson's 21 MB of classes made a node's start 2.3-2.6 s; with the archive,
1.5-1.9 s (measured one node at a time on this machine).

One archive per combination of JVM, class path (Tomcat's jars and the session manager's,
see tomcat.SystemClassPath) and JVM flags, under .cache/class-archives/. A lab without one
has its last node record one (the JVM writes it when it exits normally, at lab down); it
is moved into place only then, whole, so a node never maps a half-written file. A node
killed by a fault writes nothing: a later lab records it again. A stale or damaged archive
costs nothing but the gain: the JVM checks it and runs without (-Xshare:auto, its
default)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.paths import CACHE_DIR

log = logging.getLogger(__name__)

ARCHIVE_DIR = CACHE_DIR / "class-archives"
# Written by the recording node in its CATALINA_BASE; names where it goes at lab down.
RECORDING = "class-archive.jsa"
TARGET = "class-archive.target"
# The dump warns about every class it cannot keep (generated accessors): no use in a log.
_QUIET = "-Xlog:cds=off,cds+dynamic=off"


def archive_for(classpath: Sequence[Path], jvm_flags: Sequence[str]) -> Path:
    """Where the archive of this combination is (or will be) kept. Each jar of the class
    path counts by path, size and time: the JVM refuses an archive whose class path has
    changed, so a Tomcat unpacked again gets an archive of its own."""
    java = Path(shutil.which("java") or "java").resolve()
    parts = [str(java), str(java.stat().st_mtime_ns) if java.exists() else ""]
    for jar in classpath:
        stat = jar.stat() if jar.exists() else None
        parts.append(f"{jar}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{jar}:")
    parts += list(jvm_flags)
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return ARCHIVE_DIR / f"tomcat-{digest}.jsa"


def node_flags(archive: Path, base: Path, *, records: bool) -> list[str]:
    """The JVM flags for one node: use the archive if it exists; else, on the node chosen
    to record it, record into base (moved into place by keep_recorded)."""
    if archive.exists():
        return [_QUIET, f"-XX:SharedArchiveFile={archive}"]
    if not records:
        return []
    base.mkdir(parents=True, exist_ok=True)  # a lab's first start renders into a new folder
    (base / TARGET).write_text(str(archive))
    (base / RECORDING).unlink(missing_ok=True)
    return [_QUIET, f"-XX:ArchiveClassesAtExit={base / RECORDING}"]


def keep_recorded(base: Path) -> None:
    """After the node's JVM has exited: its recorded archive into place, if it wrote one."""
    target, recorded = base / TARGET, base / RECORDING
    if not target.exists():
        return
    archive = Path(target.read_text().strip())
    target.unlink()
    if not recorded.exists() or recorded.stat().st_size == 0:
        return  # killed, not stopped: nothing written
    archive.parent.mkdir(parents=True, exist_ok=True)
    recorded.replace(archive)
    log.info("class archive kept for later labs: %s", archive)
