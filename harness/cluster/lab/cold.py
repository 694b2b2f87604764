"""A lab start as a clean clone's first: neither the class archive nor the compiled JSPs
that earlier labs kept under .cache/ (the timing benchmark's "first" lab up)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.cluster.lab import class_archive, compiled_jsps


@contextmanager
def without_kept_starts() -> Iterator[None]:
    """Labs started inside see empty caches; what they keep is thrown away after."""
    kept = class_archive.ARCHIVE_DIR, compiled_jsps.CACHE
    with tempfile.TemporaryDirectory(prefix="tomcat-bench-cold-") as folder:
        class_archive.ARCHIVE_DIR = Path(folder) / "class-archives"
        compiled_jsps.CACHE = Path(folder) / "compiled-jsps"
        try:
            yield
        finally:
            class_archive.ARCHIVE_DIR, compiled_jsps.CACHE = kept
