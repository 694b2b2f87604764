"""Capacity mode: how much can this profile serve? wrk sweeps connections and fixed rates.

One sweep folder, results/<UTC>-capacity-<profile>/, holds capacity.json (one row per
step), capacity.html (the table and throughput/latency against load) and steps/<step>/,
each a full results folder (run.json, requests.parquet, telemetry.csv, report.html) that
report and compare read like a Locust run's.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import commands
from harness.cluster import Cluster, ClusterSpec
from harness.config.profile import Profile
from harness.load.capacity.wrk import (
    SCRIPT,
    LoadStep,
    fold_socket_errors,
    parse_summary,
)
from harness.load.capacity.wrk import session_command as wrk_session_command
from harness.load.driver import Finished, Load, run_generator
from harness.load.telemetry import TELEMETRY_FILE
from harness.paths import REPO_ROOT
from harness.report.capacity import write_sweep
from harness.report.run import write_report
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.models import write_document
from harness.results.requests import from_records
from harness.results.run_folder import (
    REQUESTS_FILE,
    iso,
    manifest,
    summarize,
    write_manifest,
    write_records,
)
from harness.results.wrk_records import read_records, record_files

log = logging.getLogger(__name__)

SWEEP_FILE = "capacity.json"
DEFAULT_CONNECTIONS = (8, 32, 128, 512)
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class CapacityPlan:
    profile: Profile
    cluster: ClusterSpec | None = None  # brought up unless url names a running server
    connections: tuple[int, ...] = DEFAULT_CONNECTIONS
    rates: tuple[float, ...] = ()  # fixed request rates, each with rate_connections
    rate_connections: int = 128
    step_s: float = 10.0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    results_dir: Path = RESULTS_DIR
    target: str = "balancer"  # or a node's name: that node directly, no balancer
    url: str | None = None  # an already running server instead of the lab

    def __post_init__(self) -> None:
        if not self.connections and not self.rates:
            raise ValueError("CONNECTIONS and RATES are both empty: nothing to measure")
        if self.url is None and self.cluster is None:
            raise ValueError("a capacity plan measures a cluster or a URL: neither was given")
        names = ["balancer", *(self.cluster.node_names() if self.cluster else [])]
        if self.url is None and self.target not in names:
            raise ValueError(f"TARGET={self.target}: one of {', '.join(names)}")
        self.steps()  # each LoadStep checks its own numbers

    def steps(self) -> list[LoadStep]:
        closed = [LoadStep(c, self.step_s, self.threads) for c in self.connections]
        paced = [LoadStep(self.rate_connections, self.step_s, self.threads, r) for r in self.rates]
        return closed + paced

    def target_url(self, cluster: Cluster) -> str:
        if self.target == "balancer":
            return f"{cluster.entry_url}/session.jsp"
        return f"{cluster.node_urls()[self.target]}/session.jsp"


@dataclass
class CapacityResult:
    run_dir: Path
    steps: list[dict[str, Any]]
    lab_up_s: float | None


@dataclass(frozen=True)
class _Target:
    """What every step's manifest says about the system under test."""

    url: str
    servers: dict[str, int]
    lab: dict[str, Any]
    versions: dict[str, str]
    cluster: Cluster | None = None  # its companions sample parts on other hosts


def _wrk_version() -> str:
    out = subprocess.run(
        [commands.require("wrk"), "-v"], capture_output=True, text=True, check=False
    )
    first = (out.stdout + out.stderr).strip().splitlines()[:1]
    return first[0] if first else "unknown"


def _cluster_target(plan: CapacityPlan, cluster: Cluster) -> _Target:
    url = plan.target_url(cluster)
    return _Target(
        url=url,
        servers=dict(cluster.processes()),
        lab={**cluster.describe(), "entry": url, "target": plan.target},
        versions=cluster.versions(),
        cluster=cluster,
    )


def _external_target(url: str) -> _Target:
    return _Target(url=url, servers={}, lab={"kind": "external", "entry": url}, versions={})


def run_step(
    target: _Target, step: LoadStep, step_dir: Path, profile: Profile | None
) -> dict[str, Any]:
    """One wrk run into its own results folder; returns the sweep table's row."""
    prefix = step_dir / "wrk-records-"
    finished = run_generator(
        Load(
            command=wrk_session_command(target.url, step, prefix),
            log_path=step_dir / "wrk.log",
            duration_s=step.duration_s,
            servers=target.servers,
            generator_cores=step.wrk_threads,
            cwd=REPO_ROOT,
            companions=target.cluster.companions() if target.cluster else (),
        )
    )
    if target.cluster is not None:  # parts on other hosts, sampled there during this step
        finished.sampler.rows = sorted([*finished.sampler.rows, *target.cluster.telemetry_rows()])
    wrk_summary = parse_summary((step_dir / "wrk.log").read_text(errors="replace"))
    if finished.returncode != 0:
        raise RuntimeError(f"wrk exited with code {finished.returncode}; see {step_dir}/wrk.log")
    files = record_files(prefix)
    records = read_records(files, finished.launched_epoch, paced=step.rate is not None)
    for path in files:
        path.unlink()
    requests = from_records(records)
    write_records(step_dir / REQUESTS_FILE, requests)
    summary = summarize(requests, [])
    fold_socket_errors(summary, wrk_summary)
    finished.sampler.write(step_dir)
    summary["telemetry"] = finished.sampler.summary()
    summary["generator_bound"] = summary["telemetry"]["generator_bound"]
    summary["wrk"] = wrk_summary
    summary["generator_cpu_s"] = finished.cpu_s
    summary["generator_cpu_ms_per_1000"] = finished.cpu_ms_per_1000(len(records))
    if step.rate is not None:
        summary["target_rps"] = step.rate
    data = _step_manifest(
        target,
        step,
        step_dir=step_dir,
        profile=profile,
        finished=finished,
        summary=summary,
    )
    write_manifest(step_dir, data)
    write_report(step_dir)
    return _row(step, step_dir, summary)


def _step_manifest(
    target: _Target,
    step: LoadStep,
    *,
    step_dir: Path,
    profile: Profile | None,
    finished: Finished,
    summary: dict[str, Any],
) -> dict[str, Any]:
    return manifest(
        run_id=step_dir.name,
        start_epoch=finished.launched_epoch,
        end_epoch=finished.ended_epoch,
        profile=(
            {
                "name": profile.name,
                "description": profile.description,
                "requested": profile.effective(),
            }
            if profile
            else {"name": None}
        ),
        lab=target.lab,
        load={
            "tool": "wrk",
            "script": str(SCRIPT.relative_to(REPO_ROOT)),
            "model": step.model,
            # compare's notes name a different "users": here, connections.
            "users": step.connections,
            "connections": step.connections,
            "threads": step.wrk_threads,
            "rate": step.rate,
            "duration_s": step.duration_s,
            "wait_s": None,
            "sessions": "one per in-flight request slot (at most one per connection)",
        },
        versions={**target.versions, "wrk": _wrk_version()},
        faults=[],
        summary=summary,
        files={"requests": REQUESTS_FILE, "telemetry": TELEMETRY_FILE, "log": "wrk.log"},
    )


def _row(step: LoadStep, step_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    corrected = summary.get("corrected") or {}
    return {
        "step": step.name,
        "model": step.model,
        "connections": step.connections,
        "target_rps": step.rate,
        "rps": summary["rps"],
        "requests": summary["requests"],
        "failures": summary["failures"],
        "sessions": summary["users"],
        "data_lost": summary["data_lost"],
        "replayed": summary["replayed"],
        "sessions_lost": summary["sessions_lost"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "p99_corrected_ms": corrected.get("p99_ms"),
        "generator_cpu_ms_per_1000": summary["generator_cpu_ms_per_1000"],
        "generator_bound": summary["generator_bound"],
        "run": f"steps/{step_dir.name}",
    }


def _write_sweep(
    sweep_dir: Path,
    plan: CapacityPlan,
    target_url: str,
    rows: Sequence[dict[str, Any]],
    started: float,
) -> None:
    data = {
        "schema": "tomcat-bench/capacity",
        "schema_version": 1,
        "started_at": iso(started),
        "ended_at": iso(time.time()),
        "profile": plan.profile.name,
        "target": target_url,
        "step_s": plan.step_s,
        "steps": list(rows),
    }
    write_document(sweep_dir / SWEEP_FILE, data, "capacity")
    write_sweep(sweep_dir / "capacity.html", data)


def sweep(
    plan: CapacityPlan, target: _Target, sweep_dir: Path, progress: Progress = _quiet
) -> list[dict[str, Any]]:
    """Every step in turn against a running target; the sweep files after each step."""
    started = time.time()
    rows: list[dict[str, Any]] = []
    steps = plan.steps()
    for i, step in enumerate(steps, start=1):
        progress(f"step {i}/{len(steps)}: {step.name} for {step.duration_s:g} s")
        step_dir = sweep_dir / "steps" / step.name
        step_dir.mkdir(parents=True)
        rows.append(run_step(target, step, step_dir, plan.profile))
        # Written after every step: an interrupted sweep keeps what it measured.
        _write_sweep(sweep_dir, plan, target.url, rows, started)
    return rows


def run_capacity(plan: CapacityPlan, *, progress: Progress = _quiet) -> CapacityResult:
    """Lab up (unless plan.url names a server), the sweep, lab down."""
    label = f"capacity-{plan.profile.name}"
    commands.require("wrk")  # before a lab is up for nothing
    if plan.url is not None:
        sweep_dir = new_run_dir(label, plan.results_dir)
        rows = sweep(plan, _external_target(plan.url), sweep_dir, progress)
        return CapacityResult(sweep_dir, rows, None)
    assert plan.cluster is not None  # checked by the plan
    progress("getting the cluster ready")
    cluster = plan.cluster.up(plan.profile, progress=progress)
    try:
        sweep_dir = new_run_dir(label, plan.results_dir)
        rows = sweep(plan, _cluster_target(plan, cluster), sweep_dir, progress)
    finally:
        cluster.down()
    return CapacityResult(sweep_dir, rows, cluster.up_s())
