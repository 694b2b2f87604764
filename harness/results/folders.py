"""Where a run's results go: one fresh folder per run, never reused.

Apart from run_folder.py, which reads and writes what the folder holds, so that a bench's
start (which makes its folder before the load) need not import numpy and pyarrow: 0.15 s
of the operator's wait before the lab starts."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from harness.paths import REPO_ROOT

RESULTS_DIR = Path(os.environ.get("TOMCAT_BENCH_RESULTS", REPO_ROOT / "results"))


def new_run_dir(label: str, parent: Path = RESULTS_DIR) -> Path:
    """A fresh results/<UTC time>-<label> folder; an existing one is never reused."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        candidate = parent / f"{stamp}-{label}{suffix}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{parent}: no free run folder name for {stamp}-{label}")
