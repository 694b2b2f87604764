"""Where the repository and its caches are: plumbing any stage may import."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("TOMCAT_BENCH_CACHE", REPO_ROOT / ".cache"))
PROFILES_DIR = REPO_ROOT / "profiles"
LOCUSTFILES_DIR = REPO_ROOT / "locustfiles"
