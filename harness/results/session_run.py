"""Finishing a session run into its folder: the locustfile's raw records become
requests.parquet, every user is judged once, the summary, verdicts.json and run.json are
written. A headless bench and a web UI run finish the same way, through here."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results.columnar_judgement import judge_columns
from harness.results.impact import not_judged
from harness.results.judgement import Judgement, Unfinished
from harness.results.requests import Requests
from harness.results.run_folder import (
    HDR_FILE,
    REQUESTS_FILE,
    convert_raw_run,
    hdr_summary,
    lost_updates,
    manifest,
    summarize,
    unfinished_json,
    write_hdr,
    write_manifest,
    write_records,
)
from harness.results.verdicts import VERDICTS_FILE, verdict_of, write_verdicts

# What else a caller adds to the summary once the users are judged (telemetry, say).
SummaryExtras = Callable[[dict[str, Any], Judgement], None]


@dataclass(frozen=True)
class SessionRun:
    """What a run's folder now holds, for the caller's console table (nothing re-read)."""

    run_dir: Path
    summary: dict[str, Any]
    verdict: dict[str, Any]
    manifest: dict[str, Any]


def _no_extras(_: dict[str, Any], __: Judgement) -> None:
    return None


@dataclass(frozen=True)
class RawRun:
    """What the locustfile wrote: its requests, and those still in flight at the stop."""

    requests: Requests
    unfinished: list[Unfinished]


def read_raw(raws: Sequence[Path], start_epoch: float) -> RawRun:
    """The raw records as columns, relative to the run's start; the raw files are removed
    once read."""
    requests, unfinished = convert_raw_run([p for p in raws if p.exists()], start_epoch)
    for raw in raws:
        raw.unlink(missing_ok=True)
    return RawRun(requests, unfinished)


def finish_session_run(
    run_dir: Path,
    raw: RawRun,
    *,
    start_epoch: float,
    end_epoch: float,
    faults: list[dict[str, Any]],
    balancer: str,
    sessions: str,
    sections: dict[str, Any],
    files: dict[str, str],
    hdr_from_records: bool,
    extras: SummaryExtras = _no_extras,
) -> SessionRun:
    """Write requests, HDR (from the records unless the generator wrote it as it ran),
    verdicts and run.json. sections are run.json's profile, lab, load, versions and any
    other top-level keys the caller has (complete, interrupted_at_s, wall_s...). The
    requests still in flight when the load stopped are judged with the rest."""
    requests, unfinished = raw.requests, raw.unfinished
    write_records(run_dir / REQUESTS_FILE, requests)
    judgement = judge_columns(requests, faults, unfinished)
    summary = summarize(requests, faults, judgement, unfinished)
    summary["unfinished"] = _unfinished_summary(unfinished)
    if hdr_from_records:
        # After the load: HDR recording in Locust would cost generator CPU.
        write_hdr(run_dir / HDR_FILE, requests)
    summary["latency_hdr"] = hdr_summary(run_dir / HDR_FILE)
    extras(summary, judgement)
    verdict = verdict_of(
        judgement,
        balancer=balancer,
        sessions=sessions,
        updates=lost_updates(requests),
        not_judged=not_judged(faults),
    )
    write_verdicts(run_dir, [verdict])
    top = dict(sections)
    data = manifest(
        run_id=run_dir.name,
        start_epoch=start_epoch,
        end_epoch=end_epoch,
        **{k: top.pop(k) for k in ("profile", "lab", "load", "versions") if k in top},
        faults=faults,
        summary=summary,
        verdicts=[verdict],
        files={"requests": REQUESTS_FILE, "latency_hdr": HDR_FILE, "verdicts": VERDICTS_FILE}
        | files,
    )
    data |= top
    data["unfinished_requests"] = unfinished_json(unfinished)
    write_manifest(run_dir, data)
    return SessionRun(run_dir=run_dir, summary=summary, verdict=verdict, manifest=data)


def _unfinished_summary(unfinished: Sequence[Unfinished]) -> dict[str, Any]:
    """How many requests the stop cut off, and the longest any of them had waited."""
    waits = [u.stopped_s - u.sent_s for u in unfinished]
    return {"requests": len(waits), "longest_s": round(max(waits), 3) if waits else None}


def locust_totals(prefix: Path) -> tuple[int, float, int]:
    """(requests, requests/s, failures) from Locust's Aggregated stats row."""
    with Path(f"{prefix}_stats.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return (
                    int(row["Request Count"]),
                    float(row["Requests/s"]),
                    int(row["Failure Count"]),
                )
    raise ValueError(f"{prefix}_stats.csv: no Aggregated row")
