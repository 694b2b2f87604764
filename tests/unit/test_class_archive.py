"""The lab's class archive: used when kept, recorded by one node otherwise, and moved into
place only once written whole."""

from __future__ import annotations

import os
from pathlib import Path

from harness.cluster.lab import class_archive


def _jar(tmp_path: Path, name: str, size: int) -> Path:
    jar = tmp_path / name
    jar.write_bytes(b"x" * size)
    return jar


def test_the_archive_is_one_per_jvm_flags_and_class_path(tmp_path: Path) -> None:
    catalina = _jar(tmp_path, "catalina.jar", 10)
    redisson = _jar(tmp_path, "redisson.jar", 10)
    one = class_archive.archive_for([catalina, redisson], ["-Xmx1g"])
    assert one == class_archive.archive_for([catalina, redisson], ["-Xmx1g"])
    assert one != class_archive.archive_for([catalina, redisson], ["-Xmx2g"])
    assert one != class_archive.archive_for([catalina], ["-Xmx1g"])
    assert one != class_archive.archive_for([redisson, catalina], ["-Xmx1g"])
    os.utime(catalina, ns=(0, 10**18))  # the same Tomcat unpacked again
    touched = class_archive.archive_for([catalina, redisson], ["-Xmx1g"])
    assert touched != one
    _jar(tmp_path, "redisson.jar", 11)
    assert class_archive.archive_for([catalina, redisson], ["-Xmx1g"]) not in (one, touched)


def test_a_kept_archive_is_used_by_every_node(tmp_path: Path) -> None:
    archive = tmp_path / "kept.jsa"
    archive.write_bytes(b"archive")
    for records in (True, False):
        flags = class_archive.node_flags(archive, tmp_path, records=records)
        assert f"-XX:SharedArchiveFile={archive}" in flags
    assert not (tmp_path / class_archive.TARGET).exists()


def test_without_one_only_the_recording_node_records_and_it_moves_in_whole(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "cache" / "tomcat.jsa"
    assert class_archive.node_flags(archive, tmp_path / "node1", records=False) == []
    base = tmp_path / "lab" / "node2"  # not there yet: a fresh lab's node
    flags = class_archive.node_flags(archive, base, records=True)
    assert f"-XX:ArchiveClassesAtExit={base / class_archive.RECORDING}" in flags
    class_archive.keep_recorded(base)  # killed: the JVM wrote nothing
    assert not archive.exists()
    class_archive.node_flags(archive, base, records=True)
    (base / class_archive.RECORDING).write_bytes(b"classes")  # what a stopped JVM writes
    class_archive.keep_recorded(base)
    assert archive.read_bytes() == b"classes"
    assert not (base / class_archive.RECORDING).exists()
    assert not (base / class_archive.TARGET).exists()
