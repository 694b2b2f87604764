"""The records capacity mode's wrk script (harness/load/capacity/session.lua) writes, one
file per wrk thread: end_us,slot,session,node,counter,outcome,latency_us,corrected_us,
status,intended_us. Read here into the same Records a Locust run has."""

from __future__ import annotations

from pathlib import Path

from harness.results.run_folder import Record


def record_files(out_prefix: Path) -> list[Path]:
    return sorted(out_prefix.parent.glob(f"{out_prefix.name}*.csv"))


def _record(line: str, start_us: int, paced: bool) -> Record:
    fields = line.split(",")
    end_us, slot, session, node, counter, outcome, latency_us, corrected_us, status = fields[:9]
    intended_us = fields[9] if len(fields) > 9 else ""
    return Record(
        t_s=(int(end_us) - start_us) / 1e6,
        user=int(slot),
        session=session,
        node=node,
        counter=int(counter) if counter else None,
        outcome=outcome,
        latency_ms=int(latency_us) / 1000.0 if latency_us else 0.0,
        status=int(status),
        corrected_ms=int(corrected_us) / 1000.0 if paced and corrected_us else None,
        intended_s=(int(intended_us) - start_us) / 1e6 if paced and intended_us else None,
    )


def read_records(paths: list[Path], start_epoch: float, *, paced: bool) -> list[Record]:
    """The script's rows (end time in epoch microseconds) as Records relative to the start.

    Corrected latencies are kept only for paced steps: a closed loop has no schedule, so
    there is nothing to correct for."""
    start_us = round(start_epoch * 1e6)
    records: list[Record] = []
    for path in paths:
        with path.open() as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    records.append(_record(line.rstrip("\n"), start_us, paced))
                except ValueError as error:
                    raise ValueError(f"{path}:{number}: malformed wrk record: {error}") from None
    records.sort(key=lambda r: r.t_s)
    return records
