"""The downloaded parts of the lab: found in the cache that `make setup` fills with Maven."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.paths import CACHE_DIR

ARTIFACTS_DIR = CACHE_DIR / "artifacts"


class MissingArtifact(RuntimeError):
    pass


def _one(pattern: str) -> Path:
    matches = sorted(ARTIFACTS_DIR.glob(pattern))
    if not matches:
        raise MissingArtifact(
            f"{ARTIFACTS_DIR / pattern}: not found; run `make setup` to fetch it with Maven"
        )
    return matches[-1]


def version_of(path: Path) -> str:
    found = re.search(r"-(\d[\w.]*?)(?:\.jar|\.tar\.gz)$", path.name)
    return found.group(1) if found else "unknown"


@dataclass(frozen=True)
class Artifacts:
    tomcat_tarball: Path
    redisson_jars: tuple[Path, ...]
    msm_jars: tuple[Path, ...]

    @property
    def tomcat_version(self) -> str:
        return version_of(self.tomcat_tarball)

    @property
    def redisson_version(self) -> str:
        return version_of(self.redisson_jars[0])


def find_artifacts() -> Artifacts:
    return Artifacts(
        tomcat_tarball=_one("tomcat-9.*.tar.gz"),
        redisson_jars=(_one("redisson-all-*.jar"), _one("redisson-tomcat-9-*.jar")),
        msm_jars=(
            _one("memcached-session-manager-[0-9]*.jar"),
            _one("memcached-session-manager-tc9-*.jar"),
            _one("spymemcached-*.jar"),
        ),
    )


def catalina_home(artifacts: Artifacts) -> Path:
    """The unpacked distribution, shared read-only by every node; unpacked once."""
    home = CACHE_DIR / "tomcat" / f"apache-tomcat-{artifacts.tomcat_version}"
    if (home / "bin" / "catalina.sh").exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and rename, so an interrupted unpack is never reused.
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=".unpack-"))
    try:
        with tarfile.open(artifacts.tomcat_tarball) as archive:
            _unpack(archive, staging, artifacts.tomcat_tarball)
        unpacked = staging / home.name
        for script in (unpacked / "bin").glob("*.sh"):
            script.chmod(0o755)
        unpacked.rename(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def _unpack(archive: tarfile.TarFile, into: Path, source: Path) -> None:
    """Every member inside into: only files and folders, nothing outside it, no setuid bit,
    nothing writable by others, owned by whoever unpacks it; the archive refused whole if a
    member fails. Checked here, not left to tarfile's filters: Debian 12's Python 3.11.2
    has none (they came in 3.11.4), and filter="tar" lets a link point anywhere."""
    root = into.resolve()
    members = archive.getmembers()
    for member in members:
        if not (member.isfile() or member.isdir()):
            raise ValueError(f"{source}: {member.name}: not a file or a folder")
        if not (root / member.name).resolve().is_relative_to(root):
            raise ValueError(f"{source}: {member.name}: outside the folder it unpacks to")
        member.mode &= ~_UNSAFE_MODE_BITS
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    if hasattr(tarfile, "tar_filter"):
        archive.extractall(into, members, filter="tar")  # the same checks again
    else:
        archive.extractall(into, members)  # noqa: S202 - each member checked above


# What filter="tar" clears too: setuid, setgid, sticky, and group and others' write.
_UNSAFE_MODE_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH
