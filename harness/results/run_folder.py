"""A run's folder and its files (the format is in harness/results/__init__.py): made once,
never overwritten; the raw records converted into requests.parquet, the summary, the HDR
histograms and run.json written, and each read back."""

from __future__ import annotations

import binascii
import csv
import gzip
import io
import json
import math
import os
import platform
import subprocess
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pa_csv
from hdrh.histogram import HdrHistogram

from harness import __version__
from harness.files import write_atomically
from harness.paths import REPO_ROOT
from harness.results import models, outcomes
from harness.results.columnar_judgement import judge_columns
from harness.results.impact import impact_columns
from harness.results.judgement import Judgement, Unfinished
from harness.results.requests import (
    CSV_FILE,
    FIELDS,
    OPEN_MODEL_FIELDS,
    PARALLEL_FIELDS,
    PARQUET_FILE,
    TYPES,
    Requests,
    as_requests,
    empty_table,
    read_requests,
    sorted_by_time,
    write_parquet,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

SCHEMA = "tomcat-bench/run"
SCHEMA_VERSION = 4
# 2 added latency_hdr.json and summary.latency_hdr. 3 added summary.judgement (one fate per
# user and fault) with the session counts read from it, and made rps, the percentiles and
# the HDR histograms those of answered requests (errors beside them); complete and
# interrupted_at_s. 4 writes the requests as requests.parquet (files.requests names it),
# which a harness reading only CSV must refuse rather than misread. Older folders are
# read as they are: compare and report judge them from their records in the same way.
READABLE_VERSIONS = (1, 2, 3, 4)
HDR_FILE = "latency_hdr.json"
HDR_FORMAT = "tomcat-bench/latency-hdr"
REQUESTS_FILE = PARQUET_FILE
# What runs before schema 4 wrote, and what `export --csv` writes.
CSV_REQUESTS_FILE = CSV_FILE
# bench --repeat N: one folder, its runs under runs/, listed in this index.
REPEATS_FILE = "repeats.json"
REPEATS_SCHEMA = "tomcat-bench/repeats"
STOREBENCH_SCHEMA = "tomcat-bench/storebench"


class Record(NamedTuple):
    """One request as the load generator wrote it (a NamedTuple: cheap to build by the million)."""

    t_s: float
    user: int
    session: str
    node: str
    counter: int | None
    outcome: str
    latency_ms: float
    status: int
    # Latency from the moment the schedule meant to send the request (wrk2's correction for
    # coordinated omission); None in closed-model runs, where no schedule exists.
    corrected_ms: float | None = None
    intended_s: float | None = None  # when the schedule meant to send it (open model)
    # The parallel scenario: how many acknowledged updates this reply was the first to show
    # lost (None in every other scenario).
    lost_updates: int | None = None


def dig(obj: object, *keys: str) -> object:
    """Walk nested dicts, yielding None instead of raising: old runs may lack newer keys."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def number(obj: object) -> float | None:
    """A manifest value as a float, or None if it is no number."""
    # bool is an int to Python, but "true" is no count; NaN is how summarize writes "none".
    if isinstance(obj, bool) or not isinstance(obj, int | float) or math.isnan(obj):
        return None
    return float(obj)


RAW_TYPES = {
    "epoch": pa.float64(),
    "intended_epoch": pa.float64(),
    **{name: kind for name, kind in TYPES.items() if name not in ("t_s", "intended_s")},
}


def convert_raw(raw_paths: Iterable[Path], start_epoch: float) -> Requests:
    """The locustfile's raw CSV rows (epoch time) as columns relative to the run's start,
    in time order; read vectorised, one file after another. The requests unfinished at the
    stop are left out (convert_raw_run has them)."""
    return convert_raw_run(raw_paths, start_epoch)[0]


def convert_raw_run(
    raw_paths: Iterable[Path], start_epoch: float
) -> tuple[Requests, list[Unfinished]]:
    """convert_raw, and the requests still in flight when the load stopped (the raw rows
    of outcome "unfinished": sent latency_ms before their time), apart."""
    import pyarrow.compute as pc  # noqa: PLC0415  (slow to import; only once a run ends)

    tables = [_raw_table(path, start_epoch) for path in raw_paths]
    tables = [t for t in tables if t is not None]
    if not tables:
        return Requests(empty_table()), []
    table = pa.concat_tables(tables)
    open_rows = pc.equal(table.column("outcome"), outcomes.UNFINISHED)
    unfinished = _unfinished(table.filter(open_rows))
    table = table.filter(pc.invert(open_rows))
    # The optional columns only when some request has them, as write_records always did.
    keep = list(FIELDS)
    if table.column("corrected_ms").null_count < len(table):
        keep += OPEN_MODEL_FIELDS
    if table.column("lost_updates").null_count < len(table):
        keep += PARALLEL_FIELDS
    return sorted_by_time(Requests(table.select(keep))), unfinished


def _unfinished(rows: pa.Table) -> list[Unfinished]:
    stopped = rows.column("t_s").to_pylist()
    waited = rows.column("latency_ms").to_pylist()
    users = rows.column("user").to_pylist()
    return sorted(
        (
            Unfinished(user, round(stop - wait / 1000, 6), stop)
            for user, stop, wait in zip(users, stopped, waited, strict=True)
        ),
        key=lambda u: (u.stopped_s, u.user),
    )


def _raw_table(path: Path, start_epoch: float) -> pa.Table | None:
    with path.open("rb") as handle:
        if not handle.readline():
            return None  # not even a header: the process never wrote
    convert = pa_csv.ConvertOptions(
        column_types=RAW_TYPES,
        null_values=[""],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        raw = pa_csv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as error:
        raise ValueError(f"{path}: malformed raw records: {error}") from None

    def since_start(name: str) -> pa.Array:
        epochs = raw.column(name).fill_null(math.nan).to_numpy()
        return pa.array(np.round(epochs - start_epoch, 6), mask=np.isnan(epochs))

    columns: dict[str, Any] = {"t_s": since_start("epoch")}
    for name in FIELDS[1:]:
        columns[name] = raw.column(name)
    columns["intended_s"] = (
        since_start("intended_epoch")
        if "intended_epoch" in raw.column_names
        else pa.nulls(len(raw), pa.float64())
    )
    for name in ("corrected_ms", "lost_updates"):
        columns[name] = (
            raw.column(name) if name in raw.column_names else pa.nulls(len(raw), TYPES[name])
        )
    return pa.table(columns)


def unfinished_json(unfinished: Sequence[Unfinished]) -> list[dict[str, float]]:
    """run.json's unfinished_requests."""
    return [{"user": u.user, "sent_s": u.sent_s, "stopped_s": u.stopped_s} for u in unfinished]


def unfinished_of(manifest: dict[str, Any]) -> list[Unfinished] | None:
    """run.json's unfinished_requests; None for a run from before they were kept (its
    users' waits and fates never saw a request hung at the stop)."""
    rows = manifest.get("unfinished_requests")
    if not isinstance(rows, list):
        return None
    return [Unfinished(int(r["user"]), float(r["sent_s"]), float(r["stopped_s"])) for r in rows]


def convert_raw_records(raw_paths: Iterable[Path], start_epoch: float) -> list[Record]:
    """convert_raw as Records, for code that walks them one by one."""
    return convert_raw(raw_paths, start_epoch).to_records()


def write_records(path: Path, records: Requests | Sequence[Record]) -> None:
    """The requests file at path: Parquet for a .parquet name, else the gzip CSV older runs
    have (tests and exports still write it)."""
    if path.suffix == ".parquet":
        write_parquet(path, as_requests(records))
        return
    _write_csv_records(path, records.to_records() if isinstance(records, Requests) else records)


def _write_csv_records(path: Path, records: Sequence[Record]) -> None:
    # The corrected column only when some request has a schedule: closed-model files
    # stay byte for byte what they were.
    corrected = any(r.corrected_ms is not None for r in records)
    parallel = any(r.lost_updates is not None for r in records)
    header = (
        *FIELDS,
        *(OPEN_MODEL_FIELDS if corrected else ()),
        *(PARALLEL_FIELDS if parallel else ()),
    )
    # mtime=0 keeps the gzip bytes a function of the data alone.
    with (
        gzip.GzipFile(path, "wb", mtime=0) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(header)
        for r in records:
            row: tuple[object, ...] = (
                f"{r.t_s:.6f}",
                r.user,
                r.session,
                r.node,
                "" if r.counter is None else r.counter,
                r.outcome,
                f"{r.latency_ms:.3f}",
                r.status,
            )
            if corrected:
                row += (
                    "" if r.intended_s is None else f"{r.intended_s:.6f}",
                    "" if r.corrected_ms is None else f"{r.corrected_ms:.3f}",
                )
            if parallel:
                row += ("" if r.lost_updates is None else r.lost_updates,)
            writer.writerow(row)


def load_records(path: Path) -> list[Record]:
    """A requests file (Parquet or gzip CSV) as Records; columns are located by name,
    extra columns ignored. The columnar readers use read_requests instead."""
    return read_requests(path).to_records()


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value such that at least p% of values are <= it."""
    return nearest_rank(sorted(values), p)


def nearest_rank(ordered: Sequence[float] | NDArray[np.float64], p: float) -> float:
    if len(ordered) == 0:
        raise ValueError("percentile of no values")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile {p} outside [0, 100]")
    # Fraction(repr(p)) reads 99.9 as exactly 999/10; in floats 99.9 / 100 * 1000 is
    # 999.0000000000001, whose ceiling would pick the wrong rank.
    rank = math.ceil(Fraction(repr(p)) * len(ordered) / 100)
    return float(ordered[max(rank, 1) - 1])


def summarize(
    records: Requests | Sequence[Record],
    faults: Sequence[dict[str, Any]],
    judgement: Judgement | None = None,
    unfinished: Sequence[Unfinished] = (),
) -> dict[str, Any]:
    """run.json's summary: the one judgement of every user (judge(records, faults,
    unfinished), made here unless given), and numbers that cannot reward failure: latency
    and throughput are of answered requests, errors counted beside."""
    requests = sorted_by_time(as_requests(records))
    judgement = judgement or judge_columns(requests, faults, unfinished)
    latencies = np.sort(requests.latency_ms[~requests.is_error()])
    summary = summary_numbers(
        n=len(requests),
        failures=int(requests.is_failed().sum()),
        by_outcome=_by_outcome(requests),
        span_s=requests.span_s(),
        latency_at=(lambda p: nearest_rank(latencies, p)) if len(latencies) else None,
        judgement=judgement,
        faults=faults,
    )
    summary["fault_effects"] = _effects(requests, judgement, faults, unfinished)
    summary |= latency_bases(requests)
    summary |= lost_updates(requests)
    return summary


def summary_numbers(
    *,
    n: int,
    failures: int,
    by_outcome: dict[str, int],
    span_s: float,
    latency_at: Callable[[float], float] | None,
    judgement: Judgement,
    faults: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The summary's numbers from what a run's rows add up to, however they were read
    (all at once, or batch by batch): latency_at(p) is the nearest-rank percentile of the
    answered requests' latencies (None: no answered request)."""
    errors = by_outcome[outcomes.ERROR]
    fates = judgement.counts()
    users = judgement.users
    recovery = judgement.recovery_s

    def pct_ms(p: float) -> float:
        return round(latency_at(p), 3) if latency_at is not None else math.nan

    return {
        "requests": n,
        "answered": n - errors,
        "failures": failures,
        "errors": errors,
        # No request: no rate, and no check passes on it.
        "error_rate": round(errors / n, 6) if n else None,
        # Answered requests per second: a fast error is no throughput.
        "rps": round((n - errors) / span_s, 2) if span_s > 0 else 0.0,
        "requests_rps": round(n / span_s, 2) if span_s > 0 else 0.0,
        "p50_ms": pct_ms(50.0),
        "p95_ms": pct_ms(95.0),
        "p99_ms": pct_ms(99.0),
        "max_ms": pct_ms(100.0),
        "users": users,
        "users_seen": judgement.users_seen,
        "sessions_kept": users - fates[outcomes.LOST] - fates[outcomes.UNANSWERED],
        "sessions_lost": fates[outcomes.LOST],
        "data_lost": fates[outcomes.DATA],
        "unanswered": fates[outcomes.UNANSWERED],
        "answered_again": len(judgement.answered_again()),
        "replayed": fates[outcomes.REPLAY],
        "kept_everything": fates[outcomes.KEPT_FATE],
        "failed_requests": judgement.failed_requests,
        "recovery_s": recovery if recovery is not None and math.isfinite(recovery) else None,
        "recovered": None if recovery is None else math.isfinite(recovery),
        "longest_wait_s": judgement.longest_wait_s,
        "outcomes": by_outcome,
        "faults": [
            {"at_s": f.get("at_s"), "target": f.get("target"), "action": f.get("action")}
            for f in faults
            if not str(f.get("action", "")).startswith("director")
        ],
        "judgement": judgement.to_json(),
    }


def _by_outcome(requests: Requests) -> dict[str, int]:
    """Requests per outcome: every known outcome (zero if none), then any other seen."""
    by_outcome = dict.fromkeys(outcomes.OUTCOMES, 0)
    outcome = requests.outcome
    counts = np.bincount(outcome.codes, minlength=len(outcome.names))
    for name, count in zip(outcome.names, counts.tolist(), strict=True):
        if count or name in by_outcome:
            by_outcome[name] = by_outcome.get(name, 0) + count
    return by_outcome


def lost_updates(records: Requests | Sequence[Record]) -> dict[str, Any]:
    """The parallel scenario's exact count: acknowledged updates (good replies) and how many
    of them a later reply of the same session lacked. Other scenarios get neither key."""
    requests = as_requests(records)
    lost = requests.lost_updates
    counted = ~np.isnan(lost) if lost is not None else None
    if lost is None or counted is None or not counted.any():
        return {}
    return {
        "acknowledged_updates": int((counted & ~requests.is_error()).sum()),
        "lost_updates": int(lost[counted].sum()),
    }


def _effects(
    requests: Requests,
    judgement: Judgement,
    faults: Sequence[dict[str, Any]],
    unfinished: Sequence[Unfinished],
) -> list[dict[str, Any]]:
    events = {str(f.get("spec") or f"{f.get('action')}:{f.get('target')}"): f for f in faults}
    return [
        impact_columns(requests, window, events.get(window.spec or "", {}), unfinished)
        for window in judgement.faults
    ]


def latency_bases(records: Requests | Sequence[Record]) -> dict[str, Any]:
    """Which latency the verdicts use, and the corrected percentiles beside the measured.

    An open-model run (every request with an intended send time) is judged by its corrected
    latency: the measured one hides the time a request waited for a slow predecessor.
    Closed-model runs get neither key (absent means uncorrected), so their summaries stay
    as they were. Like the measured ones, they are the answered requests' percentiles: a
    fast error is no reply, and counting it would make a failing run read fast. An open
    run with no answered request gets NaN, which no check passes."""
    requests = as_requests(records)
    values = requests.corrected_ms
    if values is None or np.isnan(values).all():
        return {}
    corrected = np.sort(values[~np.isnan(values) & ~requests.is_error()])

    def pct_ms(p: float) -> float:
        return round(nearest_rank(corrected, p), 3) if len(corrected) else math.nan

    return {
        "latency_for_verdicts": "corrected",
        "corrected": {
            "p50_ms": pct_ms(50.0),
            "p95_ms": pct_ms(95.0),
            "p99_ms": pct_ms(99.0),
            "max_ms": pct_ms(100.0),
        },
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain")) if commit else None,
    }


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def manifest(
    *,
    run_id: str,
    start_epoch: float,
    end_epoch: float,
    **sections: Any,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "harness": {"version": __version__, "git": git_state()},
        "started_at": iso(start_epoch),
        "ended_at": iso(end_epoch),
        "start_epoch": start_epoch,
        "duration_s": round(end_epoch - start_epoch, 3),
        "machine": machine(),
        "written_at": iso(time.time()),
        **sections,
    }


def write_repeats(folder: Path, runs: Sequence[Path], *, complete: bool) -> Path:
    """repeats.json: the runs of one plan (bench --repeat N), which compare reads as one side."""
    data = {
        "schema": REPEATS_SCHEMA,
        "schema_version": 1,
        "complete": complete,
        "runs": [{"run": str(run.relative_to(folder))} for run in runs],
    }
    return models.write_document(folder / REPEATS_FILE, data, "repeats")


def write_manifest(run_dir: Path, data: dict[str, Any]) -> Path:
    """run.json, checked against its model first: a writer cannot leave a document its
    readers would refuse."""
    kind = str(data.get("schema", "")).removeprefix("tomcat-bench/")
    models.check(data, kind, run_dir / "run.json")
    # Whole or not at all: a bench writes it again once its cluster is down.
    return write_atomically(run_dir / "run.json", json.dumps(data, indent=2) + "\n")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """run.json as a dict, once results/models.py has checked its kind, version and shape."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise ValueError(f"{path}: not a results folder (no run.json)")
    models.read(path, "run")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def load_histograms(path: Path) -> dict[str, HdrHistogram]:
    """The HDR histograms of a latency_hdr.json, by name ("all", then one per node)."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != HDR_FORMAT:
        raise ValueError(f"{path}: format: expected {HDR_FORMAT!r}")
    if data.get("unit") != "us":
        raise ValueError(f"{path}: unit: expected 'us', got {data.get('unit')!r}")
    histograms = data.get("histograms")
    if not isinstance(histograms, dict):
        raise ValueError(f"{path}: histograms: expected an object of name -> base64")
    try:
        return {str(k): HdrHistogram.decode(str(v).encode("ascii")) for k, v in histograms.items()}
    except (ValueError, TypeError, zlib.error, binascii.Error) as error:
        raise ValueError(f"{path}: histograms: not HdrHistogram's encoding: {error}") from None


def hdr_percentiles(histogram: HdrHistogram) -> dict[str, float]:
    """Percentiles in ms from a microsecond histogram (each within 0.1% of the true value)."""

    def at(p: float) -> float:
        return round(int(histogram.get_value_at_percentile(p)) / 1000, 3)

    return {
        "count": int(histogram.get_total_count()),
        "p50_ms": at(50.0),
        "p95_ms": at(95.0),
        "p99_ms": at(99.0),
        "p999_ms": at(99.9),
        "max_ms": round(histogram.get_max_value() / 1000, 3),
    }


def hdr_summary(path: Path) -> dict[str, Any] | None:
    """summary.latency_hdr: percentiles of all requests and per node; None without the file."""
    if not path.is_file():
        return None
    histograms = load_histograms(path)
    data = json.loads(path.read_text())
    summary: dict[str, Any] = {
        "unit": "us",
        "processes": data.get("processes"),
        # Files before issue 13 held every request's measured latency, errors included.
        "latency": data.get("latency", "measured, errors included"),
    }
    if "all" in histograms and histograms["all"].get_total_count():
        summary |= hdr_percentiles(histograms["all"])
    if HDR_MEASURED in histograms and histograms[HDR_MEASURED].get_total_count():
        summary["measured"] = hdr_percentiles(histograms[HDR_MEASURED])
    summary["per_node"] = {
        name: hdr_percentiles(h)
        for name, h in sorted(histograms.items())
        if name not in ("all", HDR_MEASURED) and h.get_total_count()
    }
    return summary


# The same histogram shape as the locustfile's (session_board.py), so files merge.
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000
HDR_DIGITS = 3
HDR_NO_REPLY = "(no reply)"
HDR_MEASURED = "measured"  # open model: the measured latency beside the corrected "all"


def _micros(latency_ms: NDArray[np.float64]) -> NDArray[np.int64]:
    # np.rint rounds half to even, as round() does.
    micros = np.rint(latency_ms * 1000)
    return np.clip(micros, HDR_LOWEST_US, HDR_HIGHEST_US).astype(np.int64)


def _histogram(micros: NDArray[np.int64]) -> HdrHistogram:
    """One histogram of these values. The values of one sub-bucket are one value to it, so
    each sub-bucket is recorded once with its count: a few thousand calls to hdrh, not one
    per distinct microsecond (23,000 of them in a 120 s bench: 0.020 s, now 0.012 s; the
    count grows with the run)."""
    histogram = HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)
    values, counts = np.unique(lowest_equivalent(histogram, micros), return_counts=True)
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        histogram.record_value(value, count)
    return histogram


def lowest_equivalent(histogram: HdrHistogram, values: NDArray[np.int64]) -> NDArray[np.int64]:
    """hdrh's get_lowest_equivalent_value of each value, as arrays: a value's bucket is the
    bit length of (value | sub_bucket_mask) less the sub-bucket's magnitude, and its
    sub-bucket drops the value's bits below that. frexp's exponent is a bit length, exact
    for these integers (under 2^53)."""
    bits = np.frexp((values | histogram.sub_bucket_mask).astype(np.float64))[1]
    shift = bits.astype(np.int64) - (histogram.sub_bucket_half_count_magnitude + 1)
    lowest: NDArray[np.int64] = (values >> shift) << shift
    return lowest


def write_hdr(path: Path, records: Requests | Sequence[Record], processes: int = 1) -> Path:
    """latency_hdr.json built from the answered requests (an error's latency is no
    service): "all" and one histogram per node; in the open model these hold the latency
    corrected for coordinated omission, and "measured" the measured one beside it."""
    requests = as_requests(records)
    answered = ~requests.is_error()
    measured = requests.latency_ms[answered]
    corrected_all = requests.corrected_ms
    corrected = (
        corrected_all is not None
        and bool(answered.any())
        and not np.isnan(corrected_all[answered]).any()
    )
    latency = corrected_all[answered] if corrected and corrected_all is not None else measured
    micros = _micros(latency)
    node = requests.node
    codes = node.codes[answered]
    histograms: dict[str, HdrHistogram] = {}
    if len(micros):
        histograms["all"] = _histogram(micros)
    present, first = np.unique(codes, return_index=True)
    for code in present[np.argsort(first)].tolist():
        name = node.names[code] or HDR_NO_REPLY
        mine = micros[codes == code]
        if name in histograms:  # "" and a node literally named "(no reply)"
            histograms[name].add(_histogram(mine))
        else:
            histograms[name] = _histogram(mine)
        if corrected and HDR_MEASURED not in histograms:
            histograms[HDR_MEASURED] = _histogram(_micros(measured))
    data = {
        "format": HDR_FORMAT,
        "unit": "us",
        "latency": "corrected, answered requests" if corrected else "measured, answered requests",
        "lowest_us": HDR_LOWEST_US,
        "highest_us": HDR_HIGHEST_US,
        "significant_digits": HDR_DIGITS,
        "processes": processes,
        "histograms": {name: h.encode().decode("ascii") for name, h in histograms.items()},
    }
    return write_atomically(path, json.dumps(data, indent=1) + "\n")


def hdr_latency_ms(summary: dict[str, Any], key: str) -> float | None:
    """A percentile from summary.latency_hdr if the run has one (schema 2), else None."""
    return number(dig(summary, "latency_hdr", key))
