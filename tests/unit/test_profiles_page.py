"""profiles.html's numbers: good replies are replies that continued their session, and
every latency it draws is of answered requests, as everywhere else in the harness."""

from __future__ import annotations

from typing import Any

from harness.report import profiles
from harness.results.requests import from_records
from harness.results.run_folder import Record, summarize


def _records() -> list[Record]:
    """10 answered in 100 ms, 5 of them on a session the server replaced, and 300 fast
    errors (1 ms: connection refused) over the same 3 s."""
    out = [
        Record(i * 0.3, i, f"s{i}", "node1", 1, "new" if i < 5 else "session_lost", 100.0, 200)
        for i in range(10)
    ]
    out += [Record(i * 0.01, 100 + i % 10, "", "", None, "error", 1.0, 0) for i in range(300)]
    return sorted(out, key=lambda r: r.t_s)


def test_good_replies_leave_out_lost_sessions_and_count_errors_once() -> None:
    """rps is of answered requests already; 'good replies' took errors off it again and
    counted a reply on a lost session as good."""
    summary = summarize(_records(), [])
    row = profiles.row_of("p", {"summary": summary})
    assert summary["answered"] == 10
    assert row["good_rps"] == round(summary["rps"] * 5 / 10, 2)
    assert profiles.row_of("p", {"summary": {"rps": 3.0, "answered": 10}})["good_rps"] is None


def _trace(fig: Any, name: str) -> dict[str, Any]:
    """A trace of a plotly figure or of a TimeFigure (plotly.js's own dicts)."""
    traces = [t.to_plotly_json() for t in fig.data] if hasattr(fig, "data") else fig._data
    return next(t for t in traces if t.get("name") == name)


def test_the_latency_spectrum_and_the_p95_over_time_are_of_answered_requests() -> None:
    """300 errors in 1 ms drew a p50 and a p95 of 1 ms where every reply took 100 ms."""
    loaded = [{"profile": "p", "records": from_records(_records())}]
    spectrum = _trace(profiles._fig_latency(loaded), "p")
    assert min(spectrum["y"]) == 100.0
    p95 = [v for v in _trace(profiles._fig_throughput(loaded), "p p95")["y"] if v is not None]
    assert p95 and min(p95) == 100.0
