"""The lab webapp's JSPs, compiled once and kept: a node whose work folder already holds
them serves its first request without starting Jasper's compiler. Compiling health.jsp
and session.jsp took about 1.4 s of each node's start, two nodes at once on two cores.

Kept under .cache/compiled-jsps/, one folder per JVM, Tomcat and set of JSP sources,
copied there from the first lab node that compiled them (whole, then renamed into place,
so no node ever reads half a copy). Jasper holds a compiled page current when the class
file's modification time equals the page's, to the millisecond (it sets it so itself
after compiling): a restored class gets its page's time. If Jasper disagrees with a
restored file for any reason, it compiles the page again, as it would without it: the
cache can cost its gain, never a wrong page.

A lab with none kept has its first node compile them and hands its classes to the others
before they are asked for a page (lab.py, _share_compiled_pages): two nodes compiling at
once on two cores made such a lab 0.5 s slower."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from harness.cluster.lab.render import WEBAPP_DIR
from harness.paths import CACHE_DIR

log = logging.getLogger(__name__)

CACHE = CACHE_DIR / "compiled-jsps"
# Where Tomcat 9 puts the ROOT context's generated servlets, under CATALINA_BASE.
WORK = Path("work") / "Catalina" / "localhost" / "ROOT" / "org" / "apache" / "jsp"


def cache_for(home: Path, webapp: Path = WEBAPP_DIR) -> Path:
    """The folder this JVM, Tomcat and these JSP sources compile into."""
    java = Path(shutil.which("java") or "java").resolve()
    digest = hashlib.sha256()
    digest.update(f"{java}\n{java.stat().st_mtime_ns if java.exists() else ''}\n".encode())
    digest.update(f"{home.name}\n".encode())
    for page in sorted(webapp.glob("*.jsp")):
        digest.update(page.name.encode() + b"\0" + page.read_bytes() + b"\0")
    return CACHE / digest.hexdigest()[:16]


def _page(generated: Path, root: Path) -> Path:
    """session_jsp.class (or session_jsp$1.class) -> ROOT/session.jsp (the lab's pages
    have plain names)."""
    stem = generated.name.split(".", 1)[0].split("$", 1)[0].removesuffix("_jsp")
    return root / f"{stem}.jsp"


def restore(cache: Path, base: Path) -> int:
    """Copy the kept servlets into a node's work folder, each with its page's modification
    time; returns how many pages were restored (0 without a cache)."""
    if not cache.is_dir():
        return 0
    target, root = base / WORK, base / "webapps" / "ROOT"
    target.mkdir(parents=True, exist_ok=True)
    pages = set()
    for kept in cache.iterdir():
        page = _page(kept, root)
        if not page.exists():
            continue
        shutil.copyfile(kept, target / kept.name)
        mtime = page.stat().st_mtime_ns
        os.utime(target / kept.name, ns=(mtime, mtime))
        pages.add(page.name)
    return len(pages)


def keep(cache: Path, base: Path) -> None:
    """Keep a node's compiled servlets for later labs, once."""
    source = base / WORK
    if cache.exists() or not source.is_dir():
        return
    files = [f for f in source.iterdir() if f.suffix in (".class", ".java")]
    if not files:
        return
    partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for file in files:
        shutil.copyfile(file, partial / file.name)
    try:
        partial.rename(cache)
        log.info("compiled JSPs kept for later labs: %s", cache)
    except OSError:  # another lab kept them first
        shutil.rmtree(partial, ignore_errors=True)
