"""The one place that writes Locust's command line: headless benches, the kept benchmark of
the generators, and the web UI with its master and workers all start Locust through it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.paths import LOCUSTFILES_DIR

SESSION_LOCUSTFILE = LOCUSTFILES_DIR / "session_stability.py"


@dataclass(frozen=True)
class Sessions:
    """The session locustfile's own options (see locustfiles/session_stability.py)."""

    records: Path | None = None  # its per-request records (raw CSV)
    hdr: Path | None = None  # its HDR histograms (the web UI writes them as it runs)
    wait_s: float | None = None
    source_net: str | None = None  # each user sends from its own loopback address
    session_size: int = 0
    scenario: str = "counter"  # what session.jsp does with the session (?scenario=)
    arrival_rate: float | None = None  # the open model
    fault_control: str | None = None  # the Sessions tab's fault buttons
    ca_file: Path | None = None  # an https entry's certificate is verified against it
    start_gate: Path | None = None  # started up, Locust waits for this file (see driver)

    def options(self) -> list[str]:
        return [
            *(["--session-records", str(self.records)] if self.records else []),
            *(["--session-hdr", str(self.hdr)] if self.hdr else []),
            *(["--session-wait", f"{self.wait_s:g}"] if self.wait_s is not None else []),
            *(["--source-net", self.source_net] if self.source_net else []),
            *(["--session-size", str(self.session_size)] if self.session_size else []),
            *(["--scenario", self.scenario] if self.scenario != "counter" else []),
            *(["--arrival-rate", f"{self.arrival_rate:g}"] if self.arrival_rate else []),
            *(["--fault-control", self.fault_control] if self.fault_control else []),
            *(["--ca-file", str(self.ca_file)] if self.ca_file else []),
            *(["--start-gate", str(self.start_gate)] if self.start_gate else []),
        ]


def locust_command(
    locustfile: Path,
    *,
    host: str | None = None,
    users: int | None = None,
    spawn_rate: float | None = None,
    run_time_s: float | None = None,
    stop_timeout_s: float | None = None,
    csv_prefix: Path | None = None,
    full_history: bool = False,
    only_summary: bool = False,
    web: tuple[str, int] | None = None,
    master: tuple[str, int] | None = None,
    worker_of: tuple[str, int] | None = None,
    loglevel: str = "WARNING",
    extra: Sequence[str] = (),
) -> list[str]:
    """Locust with these settings. With run_time_s it runs headless for that long; with web
    it serves its UI; master and worker_of are its own distributed mode."""
    command = [sys.executable, "-m", "locust", "-f", str(locustfile)]
    if run_time_s is not None:
        command += ["--headless", "--run-time", f"{run_time_s:g}s"]
    if host is not None:
        command += ["--host", host]
    if web is not None:
        command += ["--web-host", web[0], "--web-port", str(web[1])]
    if users is not None:
        command += ["--users", str(users)]
    if spawn_rate is not None:
        command += ["--spawn-rate", f"{spawn_rate:g}"]
    if stop_timeout_s is not None:
        command += ["--stop-timeout", f"{stop_timeout_s:g}"]
    if csv_prefix is not None:
        command += ["--csv", str(csv_prefix), *(["--csv-full-history"] if full_history else [])]
    if only_summary:
        command.append("--only-summary")
    if master is not None:
        command += [
            "--master",
            "--master-bind-host",
            master[0],
            "--master-bind-port",
            str(master[1]),
        ]
    if worker_of is not None:
        command += ["--worker", "--master-host", worker_of[0], "--master-port", str(worker_of[1])]
    return [*command, "--loglevel", loglevel, *extra]
