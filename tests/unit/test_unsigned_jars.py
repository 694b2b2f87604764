"""A signed jar on a lab node's class path is replaced by a copy without its signature:
jars signed here with the JDK's own keytool and jarsigner, the copy checked by jarsigner
and entry by entry against the original."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import zipfile
from pathlib import Path

import pytest

from harness.cluster.lab import unsigned_jars

MANIFEST = (
    b"Manifest-Version: 1.0\r\n"
    b"Implementation-Title: a compiler\r\n"
    # Wrapped at 72 bytes, as jarsigner writes it back.
    b"Export-Package: org.example.one,org.example.two,org.example.three,org.ex\r\n"
    b" ample.four\r\n"
    b"\r\n"
    b"Name: org/example/\r\n"
    b"Sealed: true\r\n"
    b"\r\n"
)
ENTRIES = {
    "org/example/Main.class": b"\xca\xfe\xba\xbe" + bytes(range(256)) * 8,
    "org/example/messages.properties": b"hello=world\n" * 50,
}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unsigned_jars, "UNSIGNED_DIR", tmp_path / "unsigned")


def _jar(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", MANIFEST)
        for name, data in ENTRIES.items():
            jar.writestr(name, data)
    return path


def _signed(tmp_path: Path) -> Path:
    jar = _jar(tmp_path / "ecj.jar")
    keystore, password = tmp_path / "keys.p12", secrets.token_hex(8)
    store = ["-keystore", str(keystore), "-storepass", password]
    key = ["-alias", "eclipse", "-keyalg", "RSA", "-dname", "CN=test", "-validity", "2"]
    subprocess.run(["keytool", "-genkeypair", *store, *key], check=True, capture_output=True)
    subprocess.run(["jarsigner", *store, str(jar), "eclipse"], check=True, capture_output=True)
    assert "jar verified" in _verify(jar)
    return jar


def _verify(jar: Path) -> str:
    return subprocess.run(
        ["jarsigner", "-verify", str(jar)], capture_output=True, text=True, check=False
    ).stdout


def _contents(jar: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(jar) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


def test_a_signed_jar_is_replaced_by_a_copy_with_the_same_classes_and_no_signature(
    tmp_path: Path,
) -> None:
    signed = _signed(tmp_path)
    before = hashlib.sha256(signed.read_bytes()).hexdigest()
    original = _contents(signed)
    assert {"META-INF/ECLIPSE.SF", "META-INF/ECLIPSE.RSA"} <= original.keys()
    assert b"SHA-256-Digest" in original["META-INF/MANIFEST.MF"]

    copy = unsigned_jars.class_path_jar(signed)

    assert copy.parent == tmp_path / "unsigned" and copy.name.startswith("ecj-")
    assert "jar is unsigned" in _verify(copy)
    contents = _contents(copy)
    assert contents.keys() == original.keys() - {"META-INF/ECLIPSE.SF", "META-INF/ECLIPSE.RSA"}
    assert {name: contents[name] for name in ENTRIES} == ENTRIES
    # The main attributes and the package's sealing as they were; the digests gone.
    assert contents["META-INF/MANIFEST.MF"] == MANIFEST
    assert hashlib.sha256(signed.read_bytes()).hexdigest() == before  # untouched
    assert not list(copy.parent.glob(".partial-*"))


def test_the_copy_is_made_once_and_an_unsigned_jar_is_opened_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = unsigned_jars.class_path_jar(_signed(tmp_path))
    made = copy.stat().st_mtime_ns
    plain = _jar(tmp_path / "catalina.jar")
    assert unsigned_jars.class_path_jar(plain) == plain

    def never(*_: object, **__: object) -> None:
        raise AssertionError("opened again")

    monkeypatch.setattr(unsigned_jars.zipfile, "ZipFile", never)
    assert unsigned_jars.class_path_jar(tmp_path / "ecj.jar") == copy
    assert copy.stat().st_mtime_ns == made
    assert unsigned_jars.class_path_jar(plain) == plain


def test_a_jar_changed_since_is_looked_at_again(tmp_path: Path) -> None:
    """A Tomcat unpacked again (the same path, another time) gets its own copy."""
    signed = _signed(tmp_path)
    first = unsigned_jars.class_path_jar(signed)
    signed.touch()
    assert unsigned_jars.class_path_jar(signed) not in (first, signed)


def test_a_missing_or_damaged_jar_is_left_as_it_is(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.jar"
    damaged.write_bytes(b"not a zip")
    assert unsigned_jars.class_path_jar(damaged) == damaged
    assert unsigned_jars.class_path_jar(tmp_path / "gone.jar") == tmp_path / "gone.jar"
    assert not list((tmp_path / "unsigned").glob("*"))


def test_only_the_signatures_digests_leave_the_manifest() -> None:
    signed = (
        b"Manifest-Version: 1.0\nCreated-By: x\n\n"
        b"Name: a/B.class\nSHA-256-Digest: q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8=\n\n"
        b"Name: a/\nImplementation-Version: 3\nSHA1-Digest: 2jmj7l5rSw0yVb/vlWAYkK/YBwk\n"
        b" =\n\n"
    )
    assert unsigned_jars.without_digests(signed) == (
        b"Manifest-Version: 1.0\r\nCreated-By: x\r\n\r\n"
        b"Name: a/\r\nImplementation-Version: 3\r\n\r\n"
    )
