"""How long `report` and `compare` take on a run of N requests, and how much memory.

A kept benchmark: make_run writes a synthetic but realistic results folder (users on
several nodes, one node killed in the middle, the users it served erroring and some
losing their session, a few never answered again, errors sprinkled through), and
time_results runs `python -m harness report` and `compare` on such folders in a
subprocess each, returning wall seconds and the subprocess's peak RSS.

    python -m harness.load.results_timing --rows 1000000
    python -m harness.load.results_timing --rows 1000000 --format csv --harness /tmp/old

--harness runs the commands against another checkout (an older harness, to measure
before a change); --format csv writes requests.csv.gz as runs before schema 4 have it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from harness.paths import REPO_ROOT
from harness.results import outcomes as o
from harness.results.columnar_judgement import BatchJudge
from harness.results.requests import (
    CSV_FILE,
    PARQUET_FILE,
    ParquetRequestsWriter,
    Requests,
    write_csv,
    write_parquet,
)
from harness.results.run_folder import manifest, summarize, summary_numbers, write_manifest
from harness.results.streaming import CountedValues

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

RATE_PER_S = 3000.0  # requests a second of the synthetic run (so 1M rows: 333 s)
FAULT_STALL_S = 2.0  # the killed node's users error this long before failing over
LOST_SHARE = 0.3  # of the killed node's users, those failed over to a new session
ERROR_SHARE = 0.002  # background errors anywhere in the run


@dataclass(frozen=True)
class Timing:
    rows: int
    format: str
    report_s: float
    report_peak_mb: float
    compare_s: float
    compare_peak_mb: float
    compare_exit: int


# A synthetic run is made this many rows at a time (on average; the rows of each chunk's
# slice of time are drawn): the generator and the run's summary never hold all rows, so a
# run of 100M requests is made in the memory of one chunk. A run of at most this many
# rows is one chunk, drawn exactly as before chunks.
CHUNK_ROWS = 1_000_000


@dataclass
class _Users:
    """What the synthetic generator carries of each user from one chunk to the next."""

    requests: NDArray[np.int64]  # requests so far (the next one's counter)
    moved: NDArray[np.bool_] | None = None  # failed over to a new session at the kill
    relocated: NDArray[np.bool_] | None = None  # has had its first request there


def synthetic_chunks(rows: int, *, users: int, nodes: int, seed: int) -> Iterator[pa.Table]:
    """rows requests of users round-robined over nodes, node1 killed at mid-run, as tables
    in time order. The times are those of rows uniform draws: how many fall in each of
    equal slices of the run is drawn once (a multinomial), then each slice's own."""
    rng = np.random.default_rng(seed)
    duration = max(rows / RATE_PER_S, 10.0)
    slices = max(math.ceil(rows / CHUNK_ROWS), 1)
    counts = rng.multinomial(rows, [1 / slices] * slices) if slices > 1 else [rows]
    carry = _Users(np.zeros(users + 1, dtype=np.int64))
    for k, count in enumerate(counts):
        span = (duration * k / slices, duration * (k + 1) / slices)
        yield _chunk(rng, int(count), span, carry, duration=duration, nodes=nodes)


def _chunk(
    rng: np.random.Generator,
    rows: int,
    span: tuple[float, float],
    carry: _Users,
    *,
    duration: float,
    nodes: int,
) -> pa.Table:
    """One slice of time's requests (the draws in the order the whole run once made)."""
    users = len(carry.requests) - 1
    t = cast("NDArray[np.float64]", np.round(np.sort(rng.uniform(span[0], span[1], rows)), 6))
    user = rng.integers(1, users + 1, rows)
    latency = np.round(rng.lognormal(1.5, 0.6, rows), 3)
    if carry.moved is None:
        carry.moved = rng.random(users + 1) < LOST_SHARE
        carry.relocated = np.zeros(users + 1, dtype=bool)
    counter = _counters(user, carry)
    first = counter == 0
    node = (user + counter) % nodes
    fault_at = round(duration / 2, 3)
    outcome = np.where(first, 0, 1)  # 0 new, 1 kept, 2 session_lost, 3 error
    session_gen = np.zeros(rows, dtype=np.int64)
    hit = node == 0
    after = t >= fault_at
    stalled = hit & after & (t < fault_at + FAULT_STALL_S)
    outcome[stalled] = 3
    node = np.where(after & hit, 1 + user % max(nodes - 1, 1), node)
    later = after & (t >= fault_at + FAULT_STALL_S) & carry.moved[user]
    session_gen[later] = 1
    outcome[_first_in_new_session(user, later, carry)] = 2
    outcome[(rng.random(rows) < ERROR_SHARE) & (outcome == 1)] = 3
    gone = (user % 37 == 5) & after  # never answered again: only errors after the kill
    outcome[gone] = 3
    return _table(
        t=t, user=user, node=node, counter=counter, outcome=outcome,
        session_gen=session_gen, latency=latency, nodes=nodes,
    )  # fmt: skip


def _counters(user: NDArray[np.int64], carry: _Users) -> NDArray[np.int64]:
    """Each request's place among its user's requests so far (0: the user's first)."""
    rows = len(user)
    order = np.argsort(user, kind="stable")
    ordered = user[order]
    starts = np.ones(rows, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    within = np.arange(rows) - np.maximum.accumulate(np.where(starts, np.arange(rows), 0))
    counter = np.empty(rows, dtype=np.int64)
    counter[order] = within + carry.requests[ordered]
    carry.requests += np.bincount(user, minlength=len(carry.requests))
    return counter


def _first_in_new_session(
    user: NDArray[np.int64], later: NDArray[np.bool_], carry: _Users
) -> NDArray[np.int64]:
    """The rows where a moved user first asks in its new session (not in an earlier chunk)."""
    assert carry.relocated is not None
    _, first_idx = np.unique(user[later], return_index=True)
    rows = np.flatnonzero(later)[first_idx]
    rows = rows[~carry.relocated[user[rows]]]
    carry.relocated[user[later]] = True
    return rows


def _table(
    *,
    t: NDArray[np.float64],
    user: NDArray[np.int64],
    node: NDArray[np.int64],
    counter: NDArray[np.int64],
    outcome: NDArray[np.int64],
    session_gen: NDArray[np.int64],
    latency: NDArray[np.float64],
    nodes: int,
) -> pa.Table:
    names = [o.NEW, o.KEPT, o.SESSION_LOST, o.ERROR]
    error = outcome == 3
    # "S<user>a", "b" after the move: labels picked per row (formatting a string per row
    # would take most of the generator's time).
    labels = np.array([f"S{u}{g}" for u in range(len(node) and int(user.max()) + 1)
                       for g in "ab"] + [""], dtype=object)  # fmt: skip
    session = labels[np.where(error, len(labels) - 1, 2 * user + session_gen)]
    node_names = np.array([f"node{i + 1}" for i in range(nodes)], dtype=object)[node]
    node_names[error] = ""
    return pa.table(
        {
            "t_s": t,
            "user": user,
            "session": pa.array(session, type=pa.string()).dictionary_encode(),
            "node": pa.array(node_names, type=pa.string()).dictionary_encode(),
            "counter": pa.array(counter + 1, mask=error),
            "outcome": pa.array(
                np.array(names, dtype=object)[outcome], type=pa.string()
            ).dictionary_encode(),
            "latency_ms": latency,
            "status": pa.array(np.where(error, 502, 200).astype(np.int32)),
        }
    )


def synthetic_requests(rows: int, *, users: int, nodes: int, seed: int) -> Requests:
    """synthetic_chunks as one table (for a run small enough to hold)."""
    chunks = list(synthetic_chunks(rows, users=users, nodes=nodes, seed=seed))
    return Requests(pa.concat_tables(chunks) if len(chunks) > 1 else chunks[0])


def make_run(
    folder: Path,
    rows: int,
    *,
    users: int = 100,
    nodes: int = 4,
    seed: int = 1,
    fmt: str = "parquet",
) -> Path:
    """A results folder of rows synthetic requests: run.json (with its summary) and the
    requests as Parquet, or as the CSV older runs have (fmt "csv", schema 3). A run of
    more than CHUNK_ROWS is written chunk by chunk and summarised batch by batch."""
    folder.mkdir(parents=True)
    fault_at = round(max(rows / RATE_PER_S, 10.0) / 2, 3)
    faults = [{"action": "sigkill", "target": "node1", "at_s": fault_at,
               "spec": f"sigkill:node1@{fault_at:g}"}]  # fmt: skip
    name = CSV_FILE if fmt == "csv" else PARQUET_FILE
    if rows <= CHUNK_ROWS:
        requests = synthetic_requests(rows, users=users, nodes=nodes, seed=seed)
        if fmt == "csv":
            write_csv(folder / name, requests)
        else:
            write_parquet(folder / name, requests)
        summary, end_s = summarize(requests, faults), float(requests.t_s[-1])
    else:
        chunks = synthetic_chunks(rows, users=users, nodes=nodes, seed=seed)
        summary, end_s = _write_chunks(folder / name, chunks, faults)
    data = manifest(
        run_id=folder.name,
        start_epoch=0.0,
        end_epoch=end_s,
        profile={"name": "synthetic"},
        lab={"balancer": "nginx-rr", "session_store": "redis",
             "nodes": [{"name": f"node{i + 1}", "address": ""} for i in range(nodes)]},
        load={"users": users, "tool": "synthetic"},
        faults=faults,
        summary=summary,
        files={"requests": name},
    )  # fmt: skip
    if fmt == "csv":
        data["schema_version"] = 3  # what a harness before requests.parquet wrote
    write_manifest(folder, data)
    return folder


def _write_chunks(
    path: Path, chunks: Iterator[pa.Table], faults: list[dict[str, Any]]
) -> tuple[dict[str, Any], float]:
    """Each chunk written and summed as it is made: the summary and the last time."""
    sums = _SummarySums(faults)

    def summed() -> Iterator[pa.Table]:
        for table in chunks:
            sums.add(Requests(table))
            yield table

    if path.suffix == ".parquet":
        writer: ParquetRequestsWriter | None = None
        for table in summed():
            writer = writer or ParquetRequestsWriter(path, table.schema)
            writer.write(table)
        if writer is not None:
            writer.close()
    else:
        write_csv(path, summed())
    return sums.summary(), sums.last_t


class _SummarySums:
    """results.summarize of a run too large to hold, from its chunks: the same keys and
    numbers (the judgement by BatchJudge, percentiles by count), but for fault_effects,
    which needs each fault's users' rows; a synthetic run's report does without it."""

    def __init__(self, faults: list[dict[str, Any]]) -> None:
        self.faults = faults
        self.judge = BatchJudge(faults)
        self.rows = self.failures = 0
        self.first_t = self.last_t = 0.0
        self.outcomes: dict[str, int] = dict.fromkeys(o.OUTCOMES, 0)
        self.latencies = CountedValues()

    def add(self, requests: Requests) -> None:
        if not len(requests):
            return
        self.judge.add(requests, self.rows)
        t = requests.t_s
        self.first_t = float(t[0]) if not self.rows else self.first_t
        self.rows += len(requests)
        self.last_t = float(t[-1])
        self.failures += int(requests.is_failed().sum())
        outcome = requests.outcome
        counts = np.bincount(outcome.codes, minlength=len(outcome.names)).tolist()
        for name, count in zip(outcome.names, counts, strict=True):
            self.outcomes[name] = self.outcomes.get(name, 0) + count
        self.latencies.add(requests.latency_ms[~requests.is_error()])

    def summary(self) -> dict[str, Any]:
        latencies = self.latencies
        return summary_numbers(
            n=self.rows,
            failures=self.failures,
            by_outcome=self.outcomes,
            span_s=self.last_t - self.first_t if self.rows > 1 else 0.0,
            latency_at=latencies.percentile if len(latencies) else None,
            judgement=self.judge.judgement(),
            faults=self.faults,
        )


# Runs `python -m harness ...` and then writes the process's own peak RSS (VmHWM) to the
# file named by argv[1]. The rusage of a child is no use here: exec carries the forking
# parent's high-water mark into it, and this parent holds the synthetic runs it made.
_PEAK_WRAPPER = """
import runpy, sys
from pathlib import Path
out = sys.argv.pop(1)
code = 0
try:
    runpy.run_module("harness", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code if isinstance(stop.code, int) else 1
status = Path("/proc/self/status").read_text()
kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
Path(out).write_text(kb)
sys.exit(code)
"""


def timed(arguments: list[str], harness: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of `python -m harness ARGUMENTS`."""
    env = {**os.environ, "PYTHONPATH": str(harness)}
    with TemporaryDirectory(prefix="peak-") as scratch:
        peak_file = Path(scratch) / "vmhwm"
        command = [sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), *arguments]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=harness, env=env, capture_output=True, check=False)
        seconds = time.perf_counter() - began
        if done.returncode not in (0, 1):
            stderr = done.stderr.decode(errors="replace")[-800:]
            raise RuntimeError(f"harness {' '.join(arguments)} exited {done.returncode}: {stderr}")
        peak_mb = int(peak_file.read_text()) / 1024
    return round(seconds, 3), round(peak_mb, 1), done.returncode


def time_results(
    rows: int, *, fmt: str = "parquet", harness: Path = REPO_ROOT, folder: Path | None = None
) -> Timing:
    """Report of one synthetic run and compare of two (seeds 1 and 2), each timed."""
    with TemporaryDirectory(prefix="results-timing-") as scratch:
        parent = folder or Path(scratch)
        base = make_run(parent / f"base-{rows}-{fmt}", rows, seed=1, fmt=fmt)
        head = make_run(parent / f"head-{rows}-{fmt}", rows, seed=2, fmt=fmt)
        report_s, report_mb, _ = timed(["report", str(base)], harness)
        compare_s, compare_mb, code = timed(["compare", str(base), str(head)], harness)
    return Timing(rows, fmt, report_s, report_mb, compare_s, compare_mb, code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.load.results_timing")
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--harness", type=Path, default=REPO_ROOT, help="checkout to run")
    parser.add_argument("--keep", type=Path, help="write the runs here and keep them")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for rows in args.rows or [1_000_000]:
        timing = time_results(rows, fmt=args.format, harness=args.harness, folder=args.keep)
        log.info("%s", json.dumps(asdict(timing)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
