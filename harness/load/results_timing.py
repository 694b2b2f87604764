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
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pyarrow as pa

from harness.paths import REPO_ROOT
from harness.results import manifest, summarize, write_manifest
from harness.results import outcomes as o
from harness.results.requests import CSV_FILE, PARQUET_FILE, Requests, write_csv, write_parquet

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


def synthetic_requests(rows: int, *, users: int, nodes: int, seed: int) -> Requests:
    """rows requests of users round-robined over nodes; node1 killed at mid-run."""
    rng = np.random.default_rng(seed)
    duration = max(rows / RATE_PER_S, 10.0)
    t = np.round(np.sort(rng.uniform(0.0, duration, rows)), 6)
    user = rng.integers(1, users + 1, rows)
    latency = np.round(rng.lognormal(1.5, 0.6, rows), 3)
    order = np.argsort(user, kind="stable")
    first = np.zeros(rows, dtype=bool)
    first[order[np.r_[True, user[order][1:] != user[order][:-1]]]] = True
    counter = np.empty(rows, dtype=np.int64)
    counter[order] = np.arange(rows) - np.maximum.accumulate(
        np.where(first[order], np.arange(rows), 0)
    )
    node = (user + counter) % nodes
    fault_at = round(duration / 2, 3)
    outcome = np.where(first, 0, 1)  # 0 new, 1 kept, 2 session_lost, 3 error
    session_gen = np.zeros(rows, dtype=np.int64)
    hit = node == 0
    after = t >= fault_at
    stalled = hit & after & (t < fault_at + FAULT_STALL_S)
    outcome[stalled] = 3
    node = np.where(after & hit, 1 + user % max(nodes - 1, 1), node)
    moved = rng.random(users + 1) < LOST_SHARE
    later = after & (t >= fault_at + FAULT_STALL_S) & moved[user]
    session_gen[later] = 1
    _, first_idx = np.unique(user[later], return_index=True)
    outcome[np.flatnonzero(later)[first_idx]] = 2
    outcome[(rng.random(rows) < ERROR_SHARE) & (outcome == 1)] = 3
    gone = (user % 37 == 5) & after  # never answered again: only errors after the kill
    outcome[gone] = 3
    names = [o.NEW, o.KEPT, o.SESSION_LOST, o.ERROR]
    error = outcome == 3
    session = np.char.add(
        np.char.add("S", user.astype(str)), np.where(session_gen == 1, "b", "a")
    ).astype(object)
    session[error] = ""
    node_names = np.array([f"node{i + 1}" for i in range(nodes)], dtype=object)[node]
    node_names[error] = ""
    table = pa.table(
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
    return Requests(table)


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
    requests as Parquet, or as the CSV older runs have (fmt "csv", schema 3)."""
    folder.mkdir(parents=True)
    requests = synthetic_requests(rows, users=users, nodes=nodes, seed=seed)
    fault_at = round(max(rows / RATE_PER_S, 10.0) / 2, 3)
    faults = [{"action": "sigkill", "target": "node1", "at_s": fault_at,
               "spec": f"sigkill:node1@{fault_at:g}"}]  # fmt: skip
    name = CSV_FILE if fmt == "csv" else PARQUET_FILE
    if fmt == "csv":
        write_csv(folder / name, requests)
    else:
        write_parquet(folder / name, requests)
    data = manifest(
        run_id=folder.name,
        start_epoch=0.0,
        end_epoch=float(requests.t_s[-1]),
        profile={"name": "synthetic"},
        lab={"balancer": "nginx-rr", "session_store": "redis",
             "nodes": [{"name": f"node{i + 1}", "address": ""} for i in range(nodes)]},
        load={"users": users, "tool": "synthetic"},
        faults=faults,
        summary=summarize(requests, faults),
        files={"requests": name},
    )  # fmt: skip
    if fmt == "csv":
        data["schema_version"] = 3  # what a harness before requests.parquet wrote
    write_manifest(folder, data)
    return folder


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
