"""A lab node's class path with no signed jar on it: a signed jar is replaced by a copy
without its signature, kept under .cache/unsigned-jars/.

Why: Tomcat ships its JSP compiler, lib/ecj-*.jar, signed by Eclipse, and a signed jar
slows every node's start. The JVM checks the signature (an RSA verify, and a 120 KB
manifest of per-class digests parsed) the first time anything reads from the jar, and
two things do on the way to a node's first answer: Redisson's start reads every jar's
manifest, and Jasper loads the compiler at the first request to a JSP, even one compiled
already. Class-data sharing (class_archive.py) also archives no class of a signed jar.
One Redis node alone, five alternating starts each, each with an archive recorded for it:
health.jsp answered in a median 2.55 s and 4.4 s of CPU without the signature, against
3.05 s and 5.2 s with it (in the note of issue 18).

The copy holds the same entries, byte for byte, less the signature files and the
manifest's per-entry digests. It changes no behaviour Tomcat has: the signature guards
the jar's integrity in transit, which Maven's checksums already did when it fetched
Tomcat. A stock Tomcat on the operator's own machines keeps its signed jar.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from pathlib import Path

from harness.paths import CACHE_DIR

UNSIGNED_DIR = CACHE_DIR / "unsigned-jars"
_MANIFEST = "META-INF/MANIFEST.MF"
# The files a jar signature is made of (java.util.jar.JarFile's own rule: in META-INF
# itself, not below it).
_SIGNATURE = re.compile(r"^META-INF/[^/]+\.(SF|RSA|DSA|EC)$|^META-INF/SIG-[^/]+$", re.I)


def class_path_jar(jar: Path) -> Path:
    """jar itself if it is not signed, else its unsigned copy (made on first use). Each
    jar is opened once per path, size and time: a marker remembers an unsigned one."""
    try:
        kept, plain = _kept_paths(jar)
        if kept.exists():
            return kept
        if plain.exists():
            return jar
        UNSIGNED_DIR.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(jar) as source:
            if not any(_SIGNATURE.match(info.filename) for info in source.infolist()):
                plain.touch()
                return jar
            _write_unsigned(source, kept)
    except (OSError, zipfile.BadZipFile):
        return jar  # missing or not a zip: left as it is, for the JVM to refuse
    return kept


def _kept_paths(jar: Path) -> tuple[Path, Path]:
    """Where jar's unsigned copy goes, and its marker when it needs none: keyed by the
    jar's path, size and time, so a Tomcat unpacked again is looked at again."""
    stat = jar.stat()
    key = hashlib.sha256(f"{jar.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    stem = f"{jar.stem}-{key.hexdigest()[:16]}"
    return UNSIGNED_DIR / f"{stem}.jar", UNSIGNED_DIR / f"{stem}.not-signed"


def _write_unsigned(source: zipfile.ZipFile, kept: Path) -> None:
    """Every entry but the signature's, into a file moved to kept only once whole (two
    labs making it at once each write their own and the last rename wins, both whole)."""
    handle, name = tempfile.mkstemp(dir=kept.parent, prefix=".partial-", suffix=".jar")
    os.close(handle)
    partial = Path(name)
    try:
        with zipfile.ZipFile(partial, "w") as copy:
            for info in source.infolist():
                if _SIGNATURE.match(info.filename):
                    continue
                data = source.read(info)
                if info.filename.upper() == _MANIFEST:
                    data = without_digests(data)
                copy.writestr(info, data)
        partial.replace(kept)
    finally:
        partial.unlink(missing_ok=True)


def without_digests(manifest: bytes) -> bytes:
    """The manifest less the signature's per-entry digests (SHA-256-Digest and the like):
    the main attributes and any other per-entry attribute (a package's version, its
    sealing) stay as they were; a section left with its name alone goes."""
    text = manifest.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    sections = [s for s in re.split(rb"\n{2,}", text) if s.strip(b"\n")]
    kept = sections[:1]
    for section in sections[1:]:
        # An attribute is its line and the lines continuing it (each begins with a space).
        attributes = re.split(rb"\n(?! )", section.strip(b"\n"))
        left = [a for a in attributes if not _DIGEST.match(a)]
        if len(left) > 1 or (left and not left[0].lower().startswith(b"name:")):
            kept.append(b"\n".join(left))
    return b"".join(s.strip(b"\n").replace(b"\n", b"\r\n") + b"\r\n\r\n" for s in kept)


_DIGEST = re.compile(rb"^[\w-]+-Digest(-[\w-]+)?:", re.I)
