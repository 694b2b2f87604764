"""A run's telemetry files: what the samplers saw once a second (telemetry.csv: CPU and
memory per part; jvm_telemetry.csv: each node's pool, heap and GC)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TELEMETRY_FILE = "telemetry.csv"
FIELDS = ("t_s", "part", "cpu_cores", "rss_bytes")
JVM_TELEMETRY_FILE = "jvm_telemetry.csv"
JVM_FIELDS = (
    "t_s",
    "node",
    "pool_current",
    "pool_busy",
    "pool_max",
    "queue_size",
    "rejections",
    "heap_used_bytes",
    "heap_committed_bytes",
    "heap_max_bytes",
    "young_gc_count",
    "young_gc_time_ms",
    "old_gc_count",
    "old_gc_time_ms",
    "live_threads",
    "sessions",
)


def write_telemetry(run_dir: Path, rows: Iterable[tuple[Any, ...]]) -> Path:
    return _write(run_dir / TELEMETRY_FILE, FIELDS, rows)


def write_jvm_telemetry(run_dir: Path, rows: Iterable[tuple[Any, ...]]) -> Path:
    """In time order, node by node within a second, whatever order the probes answered in."""
    ordered = sorted(rows, key=lambda row: (float(row[0]), str(row[1])))
    return _write(run_dir / JVM_TELEMETRY_FILE, JVM_FIELDS, ordered)


def _write(path: Path, fields: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        writer.writerows(rows)
    return path


TelemetryRow = tuple[float, str, float, int]


def load_telemetry(path: Path) -> list[TelemetryRow]:
    """telemetry.csv rows (t_s, part, cpu_cores, rss_bytes); empty if the run has none."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            (float(row["t_s"]), row["part"], float(row["cpu_cores"]), int(row["rss_bytes"]))
            for row in csv.DictReader(handle)
        ]


def load_jvm_telemetry(path: Path) -> list[dict[str, Any]]:
    """jvm_telemetry.csv (telemetry.JvmSampler's) as dicts of numbers, None where empty."""
    if not path.is_file():
        return []
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out.append(
                {k: (v if k == "node" else (float(v) if v != "" else None)) for k, v in row.items()}
            )
    return out


def any_bound(bounds: list[bool | None]) -> bool | None:
    """Several runs' (or load hosts') generator_bound as one: bound if any was; unknown if
    none was and one could not be judged."""
    return True if True in bounds else None if None in bounds else False


def bound_word(bound: object) -> str:
    """A run's generator_bound in a table's cell: YES, no, or ? when it could not be judged
    (no steady second, a load host unread), which must never read as no."""
    return "?" if bound is None else "YES" if bound else "no"
