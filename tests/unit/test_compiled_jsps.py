"""The lab's compiled JSPs: one cache per JVM, Tomcat and page sources; restored with
each page's modification time (what Jasper checks); kept once, whole."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.lab import compiled_jsps


def _webapp(folder: Path, session: str = "<% a %>") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "session.jsp").write_text(session)
    (folder / "health.jsp").write_text("<% b %>")
    return folder


def test_the_cache_is_one_per_tomcat_and_page_sources(tmp_path: Path) -> None:
    home = tmp_path / "apache-tomcat-9.0.117"
    one = compiled_jsps.cache_for(home, _webapp(tmp_path / "a"))
    assert one == compiled_jsps.cache_for(home, _webapp(tmp_path / "b"))
    assert one != compiled_jsps.cache_for(home, _webapp(tmp_path / "c", "<% changed %>"))
    assert one != compiled_jsps.cache_for(tmp_path / "apache-tomcat-9.0.118", tmp_path / "a")


def test_kept_once_and_restored_with_each_pages_time(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "key"
    compiled = tmp_path / "node1" / compiled_jsps.WORK
    compiled.mkdir(parents=True)
    for name in ("session_jsp.class", "session_jsp$1.class", "health_jsp.java"):
        (compiled / name).write_bytes(name.encode())
    compiled_jsps.keep(cache, tmp_path / "node1")
    assert sorted(f.name for f in cache.iterdir()) == [
        "health_jsp.java", "session_jsp$1.class", "session_jsp.class",
    ]  # fmt: skip
    (compiled / "session_jsp.class").write_bytes(b"later")
    compiled_jsps.keep(cache, tmp_path / "node1")  # kept already: left as it was
    assert (cache / "session_jsp.class").read_bytes() == b"session_jsp.class"
    assert not list(cache.parent.glob("*.partial"))

    base = tmp_path / "node2"
    root = _webapp(base / "webapps" / "ROOT")
    (root / "health.jsp").unlink()  # a page gone: its servlet is not restored
    assert compiled_jsps.restore(cache, base) == 1
    restored = base / compiled_jsps.WORK
    restored_names = sorted(f.name for f in restored.iterdir())
    assert restored_names == ["session_jsp$1.class", "session_jsp.class"]
    page_time = (root / "session.jsp").stat().st_mtime_ns
    assert {f.stat().st_mtime_ns for f in restored.iterdir()} == {page_time}
    assert compiled_jsps.restore(tmp_path / "no-cache", base) == 0
