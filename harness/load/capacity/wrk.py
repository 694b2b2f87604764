"""wrk as the capacity driver: its command lines, its summary, its per-thread record files.

Why wrk: it is in Debian (`wrk`, 4.1 with LuaJIT), its Lua hooks see every request and reply
(so each session's cookie and counter are handled in the generator itself), and at the
same target it costs about a fifteenth of Locust's CPU per request. wrk2 (pacing with
corrected latency) is not packaged; pacing is done here by wrk's own `delay()` hook
following a per-thread schedule, with the corrected latency computed in the script
(see session.lua). oha and h2load were set aside: neither keeps a cookie per connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().with_name("session.lua")
TIMEOUT_S = 5  # wrk's request timeout: a reply slower than this counts as a timeout error


@dataclass(frozen=True)
class LoadStep:
    """One measurement: this many connections for this long, closed loop or at a fixed rate."""

    connections: int
    duration_s: float
    threads: int
    rate: float | None = None  # total requests per second; None: as fast as replies come

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError(f"connections {self.connections}: at least 1")
        if self.duration_s < 1:
            raise ValueError(f"step duration {self.duration_s:g} s: at least 1 s")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate {self.rate:g}: requests per second must be positive")

    @property
    def wrk_threads(self) -> int:
        # wrk needs connections >= threads, and gives each thread connections // threads.
        return max(1, min(self.threads, self.connections))

    @property
    def name(self) -> str:
        closed = f"c{self.connections}"
        return closed if self.rate is None else f"rate{self.rate:g}-{closed}"

    @property
    def model(self) -> str:
        return "closed" if self.rate is None else "open"


def _wrk(step: LoadStep) -> list[str]:
    """What every wrk run of a step shares: threads, connections, duration, timeout."""
    return [
        "wrk",
        "-t",
        str(step.wrk_threads),
        "-c",
        str(step.connections),
        "-d",
        f"{max(1, round(step.duration_s))}s",
        "--timeout",
        f"{TIMEOUT_S}s",
    ]


def session_command(url: str, step: LoadStep, out_prefix: Path) -> list[str]:
    """wrk with the session script; records go to <out_prefix><thread>.csv."""
    per_thread = 0.0 if step.rate is None else step.rate / step.wrk_threads
    return [
        *_wrk(step), "-s", str(SCRIPT), url, "--", str(out_prefix), f"{per_thread:.6f}",
        str(TIMEOUT_S),
    ]  # fmt: skip


def plain_command(url: str, step: LoadStep, cookie: str) -> list[str]:
    """Plain wrk, no script: every connection sends the same session cookie."""
    return [*_wrk(step), "-H", f"Cookie: JSESSIONID={cookie}", url]


_COMPLETED = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_STATUS = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_summary(text: str) -> dict[str, float | int]:
    """wrk's own totals from its output; ValueError if it printed none (it failed)."""
    completed, rps = _COMPLETED.search(text), _RPS.search(text)
    if completed is None or rps is None:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise ValueError(f"wrk printed no summary: {last[0]}")
    socket = _SOCKET.search(text)
    status = _STATUS.search(text)
    connect, read, write, timeout = (int(n) for n in socket.groups()) if socket else (0,) * 4
    return {
        "requests": int(completed.group(1)),
        "rps": float(rps.group(1)),
        "connect_errors": connect,
        "read_errors": read,
        "write_errors": write,
        "timeouts": timeout,
        "non_2xx": int(status.group(1)) if status else 0,
    }


def fold_socket_errors(summary: dict[str, Any], wrk_totals: dict[str, float | int]) -> None:
    """wrk calls the script for no request that failed on its socket or timed out, so no
    record holds them; they are requests, errors and failures all the same."""
    lost = sum(int(wrk_totals[k]) for k in ("connect_errors", "read_errors", "write_errors"))
    lost += int(wrk_totals["timeouts"])
    summary["socket_errors"] = lost
    if not lost:
        return
    for key in ("requests", "errors", "failures"):
        summary[key] += lost
    summary["error_rate"] = round(summary["errors"] / summary["requests"], 6)
