"""Tomcat's tarball unpacked into .cache/tomcat/: on every Python the README's machine may
have, Debian 12's 3.11.2 among them (no extraction filters, added in 3.11.4), and never
writing outside its folder. The tarballs here are small stand-ins made by the test."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from harness.cluster import artifacts
from harness.cluster.artifacts import Artifacts, catalina_home

VERSION = "9.0.999"
TOP = f"apache-tomcat-{VERSION}"


def _tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Artifacts:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return Artifacts(tomcat_tarball=path, redisson_jars=(), msm_jars=())


def _file(name: str, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, b"#!/bin/sh\n"


@pytest.fixture(params=["filters", "no filters"])
def python(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Each test on both: this Python as it is, and as one without tarfile's filters."""
    if request.param == "no filters":
        monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    elif not hasattr(tarfile, "tar_filter"):
        pytest.skip("this Python has no tarfile filters: the other case covers it")
    monkeypatch.setattr(artifacts, "CACHE_DIR", tmp_path / "cache")
    return str(request.param)


def test_tomcat_is_unpacked_with_its_scripts_runnable(python: str, tmp_path: Path) -> None:
    found = _tarball(
        tmp_path / f"{TOP}.tar.gz",
        [_file(f"{TOP}/bin/catalina.sh"), _file(f"{TOP}/conf/server.xml", mode=0o4777)],
    )
    home = catalina_home(found)
    assert home == tmp_path / "cache" / "tomcat" / TOP
    assert (home / "bin" / "catalina.sh").stat().st_mode & 0o755 == 0o755
    mode = (home / "conf" / "server.xml").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IWOTH | stat.S_IWGRP)  # as filter="tar" does


@pytest.mark.parametrize("name", ["../escaped.sh", "/tmp/absolute-escape.sh"])
def test_a_member_outside_its_folder_refuses_the_archive(
    python: str, tmp_path: Path, name: str
) -> None:
    found = _tarball(tmp_path / f"{TOP}.tar.gz", [_file(f"{TOP}/bin/catalina.sh"), _file(name)])
    with pytest.raises(ValueError, match="outside the folder it unpacks to"):
        catalina_home(found)
    assert not (tmp_path / "cache" / "tomcat" / TOP).exists()  # no half-checked Tomcat
    assert not (tmp_path / "cache" / "tomcat" / "escaped.sh").exists()
    assert not Path("/tmp/absolute-escape.sh").exists()


def test_a_link_refuses_the_archive(python: str, tmp_path: Path) -> None:
    # filter="tar" alone would make this link to outside the folder.
    link = tarfile.TarInfo(f"{TOP}/bin/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    found = _tarball(tmp_path / f"{TOP}.tar.gz", [_file(f"{TOP}/bin/catalina.sh"), (link, b"")])
    with pytest.raises(ValueError, match="not a file or a folder"):
        catalina_home(found)
    assert not (tmp_path / "cache" / "tomcat" / TOP).exists()
