"""The locustfile's raw records (requests.raw.csv), as a bench reads them while its load
runs: whether load flows yet, and when its first request was sent. Apart from
session_run.py, which turns them into results once the load has ended, so that a bench's
start need not import what that takes (numpy, pyarrow)."""

from __future__ import annotations

import csv
from pathlib import Path

from harness.results.outcomes import UNFINISHED

RAW_FILE = "requests.raw.csv"


def first_epoch(paths: list[Path]) -> float | None:
    """The earliest request time: each file is in time order, so its first row suffices.
    A file whose first row is a request cut off at the stop (nothing was answered before
    it) starts when that request was sent, not when it was given up on."""
    firsts = []
    for path in paths:
        with path.open(newline="") as handle:
            row = next(csv.DictReader(handle), None)
            if row:
                waited_s = float(row["latency_ms"]) / 1000 if row["outcome"] == UNFINISHED else 0
                firsts.append(float(row["epoch"]) - waited_s)
    return min(firsts, default=None)


def records_flowing(raw: Path) -> bool:
    """Whether the locustfile's raw records hold a request yet (it flushes its first at
    once): the sign that load flows."""
    if not raw.exists():
        return False
    with raw.open() as handle:
        return bool(handle.readline() and handle.readline())  # header and one request
