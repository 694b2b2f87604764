"""The per-request records file of the session scenarios: one CSV row per request.

Pure Python without Locust (like session_tracking.py), so unit tests check its lines
against the csv module without gevent's monkey-patching.
"""

from __future__ import annotations

import csv
import io

from session_tracking import Reply

RECORD_FIELDS = (
    "epoch",
    "user",
    "session",
    "node",
    "counter",
    "outcome",
    "latency_ms",
    "status",
    "intended_epoch",  # open model only: when this user's schedule meant to send it
    "corrected_ms",  # open model only: latency counted from then if the user was held back
    "lost_updates",  # parallel scenario only: acknowledged ids this reply first showed lost
)

# One request's record before formatting: epoch, user, reply (None: none read), outcome,
# latency_ms, HTTP status (0: none), the open model's intended epoch and corrected_ms
# (None in the closed model), whether the reply's fields need no CSV quoting, and the
# lost updates it showed (None but in the parallel scenario).
Raw = tuple[float, int, Reply | None, str, float, int, float | None, float | None, bool, int | None]


def record_line(raw: Raw) -> str:
    """The records file's line for one request, exactly as csv.writer writes it."""
    now, user, reply, outcome, latency_ms, status, intended, corrected, plain, lost = raw
    session, node, counter = reply if reply is not None else ("", "", "")
    intended_s = "" if intended is None else f"{intended:.6f}"
    corrected_s = "" if corrected is None else f"{corrected:.3f}"
    lost_s = "" if lost is None else lost
    if plain:  # csv.writer's output for fields without a comma, quote, CR or LF
        return (
            f"{now:.6f},{user},{session},{node},{counter},{outcome},"
            f"{latency_ms:.3f},{status},{intended_s},{corrected_s},{lost_s}\r\n"
        )
    quoted = io.StringIO()
    csv.writer(quoted).writerow(
        (f"{now:.6f}", user, session, node, counter, outcome, f"{latency_ms:.3f}", status,
         intended_s, corrected_s, lost_s)
    )  # fmt: skip
    return quoted.getvalue()


class RecordWriter:
    """Buffered CSV of per-request records; one file per Locust process.

    Requests hand over their raw values (add), formatted and written a batch at a time:
    formatting a row between two requests cost several times the CPU it costs in a batch
    (make perf), as Locust's own request path evicts the formatting code and data from
    the CPU's caches each time. The file is buffered anyway, so a watcher sees no
    difference, but for the first row: it is written at once."""

    BATCH = 256

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", newline="", buffering=1 << 16)  # noqa: SIM115, PTH123
        self._pending: list[Raw] = []
        self._first = True
        if self._file.tell() == 0:
            csv.writer(self._file).writerow(RECORD_FIELDS)

    def add(self, raw: Raw) -> None:
        pending = self._pending
        pending.append(raw)
        if len(pending) >= self.BATCH or self._first:
            self.drain()

    def drain(self) -> None:
        """Write what is pending."""
        self._file.write("".join(map(record_line, self._pending)))
        self._pending.clear()
        if self._first:
            # Let a watcher (the harness) see at once that requests are flowing.
            self._file.flush()
            self._first = False

    def close(self) -> None:
        self.drain()
        self._file.close()
