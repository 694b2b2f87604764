"""`make perf`: what each load generator costs, side by side, against one lab target.

One lab up (its bring-up time is reported), then in turn, each for the same duration and
the same concurrency: plain wrk (one shared cookie, no script), the capacity mode (wrk +
session.lua), Locust's plain FastHttpUser, Locust with session tracking, and Locust with
tracking and a source address per user. For each: requests/s, the generator's CPU per
1,000 requests (kernel rusage of the reaped process; for Locust from its first
connection on, leaving its import time out) and the
ratio to wrk; the median of several rounds. A kept benchmark, not a test: it asserts
nothing, it reports.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster import Cluster, ClusterSpec
from harness.cluster.endpoints import get_json
from harness.config.profile import Profile
from harness.load.capacity.wrk import (
    LoadStep,
    parse_summary,
    plain_command,
)
from harness.load.capacity.wrk import session_command as wrk_session_command
from harness.load.driver import Finished, Load, load_began, run_generator
from harness.load.locust import locust_command
from harness.paths import LOCUSTFILES_DIR, REPO_ROOT
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.models import write_document
from harness.results.outcomes import check_scenario, parallel_width
from harness.results.run_folder import iso, machine
from harness.results.session_run import locust_totals
from harness.results.telemetry import any_bound
from harness.results.wrk_records import read_records, record_files

PERF_FILE = "perf.json"
WARMUP_STEADY = 0.05  # two warm-up steps within 5% of each other: the JVM is warm
TRACKING_TARGET = 0.10  # tracking + binding may cost at most this share of plain Locust
CAPACITY_TARGET = 0.90  # capacity mode must reach this share of plain wrk
SOURCE_NET = "127.100"
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class PerfPlan:
    profile: Profile
    cluster: ClusterSpec
    duration_s: float = 10.0
    connections: int = 32  # wrk connections, and Locust users
    threads: int = 2
    # Each generator runs once per round, rounds one after another, so a burst of load
    # from elsewhere on a shared machine hits one round of each rather than one generator.
    rounds: int = 5  # a median of five: one disturbed round (a shared machine) cannot move it
    # Unmeasured wrk load first, in steps of warmup_s, until two steps in a row agree
    # within WARMUP_STEADY (at most warmup_steps): a JVM still compiling would handicap
    # round 1 (measured: 5 s of warm-up left round 1's wrk at half of rounds 2 and 3).
    warmup_s: float = 5.0
    warmup_steps: int = 6
    target: str = "node1"  # a node directly (the most the server can do), or "balancer"
    results_dir: Path = RESULTS_DIR
    # Each another Locust + tracking job on that session page (the counter is the main one):
    # what tracking costs the generator per request, scenario by scenario.
    scenarios: tuple[str, ...] = ("inplace", "growing", "readonly", "parallel:4")

    def __post_init__(self) -> None:
        for scenario in self.scenarios:
            try:
                check_scenario(scenario)
            except ValueError as error:
                raise ValueError(f"PERF_SCENARIOS: {error}") from None
        names = self.cluster.node_names()
        if self.target != "balancer" and self.target not in names:
            raise ValueError(f"TARGET={self.target}: balancer or one of {', '.join(names)}")

    def url(self, cluster: Cluster) -> str:
        if self.target == "balancer":
            return cluster.entry_url
        return cluster.node_urls()[self.target]


@dataclass(frozen=True)
class Measured:
    name: str
    requests: int
    rps: float
    cpu_s: float
    cpu_ms_per_1000: float | None
    generator_bound: bool | None  # None: not judged (no steady second)
    failures: int


def _locust_command(
    plan: PerfPlan, host: str, locustfile: str, prefix: Path, extra: list[str]
) -> list[str]:
    return locust_command(
        LOCUSTFILES_DIR / locustfile,
        host=host,
        users=plan.connections,
        spawn_rate=plan.connections,
        run_time_s=plan.duration_s,
        stop_timeout_s=1,
        csv_prefix=prefix,
        only_summary=True,
        extra=extra,
    )


def _measured(name: str, finished: Finished, requests: int, rps: float, failures: int) -> Measured:
    return Measured(
        name=name,
        requests=requests,
        rps=round(rps, 1),
        cpu_s=finished.cpu_s,
        cpu_ms_per_1000=finished.cpu_ms_per_1000(requests),
        generator_bound=finished.sampler.summary()["generator_bound"],
        failures=failures,
    )


@dataclass
class _Runner:
    plan: PerfPlan
    out: Path
    servers: dict[str, int]
    round: int = 0  # names this round's logs and stats files

    def _log(self, name: str) -> Path:
        return self.out / f"{name}-round{self.round}.log"

    def _run(
        self,
        name: str,
        command: list[str],
        cores: int,
        mark: Callable[[int], int | None] | None = None,
    ) -> Finished:
        finished = run_generator(
            Load(
                command=command,
                log_path=self._log(name),
                duration_s=self.plan.duration_s,
                servers=self.servers,
                generator_cores=cores,
                cwd=REPO_ROOT,
                mark=mark,
            )
        )
        # Locust exits 1 when some request failed: counted in the table, not an error.
        if finished.returncode not in (0, 1):
            raise RuntimeError(f"{name} exited with {finished.returncode}; see {self.out}")
        return finished

    def warmup(self, url: str, progress: Progress) -> list[float]:
        """wrk steps until the rate is steady; returns each step's requests/s."""
        cookie = str(get_json(url, timeout=10)["session"])
        step = LoadStep(self.plan.connections, self.plan.warmup_s, self.plan.threads)
        rates: list[float] = []
        for n in range(1, self.plan.warmup_steps + 1):
            progress(f"warming the JVM up: step {n}, {self.plan.warmup_s:g} s of wrk, not measured")
            self._run(f"warmup{n}", plain_command(url, step, cookie), self.plan.threads)
            rates.append(float(parse_summary(self._log(f"warmup{n}").read_text())["rps"]))
            if len(rates) >= 2 and abs(rates[-1] - rates[-2]) <= WARMUP_STEADY * rates[-2]:
                break
        return [round(rate, 1) for rate in rates]

    def step(self) -> LoadStep:
        return LoadStep(self.plan.connections, self.plan.duration_s, self.plan.threads)

    def wrk_plain(self, url: str) -> Measured:
        cookie = str(get_json(url, timeout=10)["session"])
        finished = self._run("wrk", plain_command(url, self.step(), cookie), self.plan.threads)
        wrk = parse_summary(self._log("wrk").read_text())
        failures = int(wrk["non_2xx"]) + int(wrk["timeouts"])
        return _measured(_WRK, finished, int(wrk["requests"]), float(wrk["rps"]), failures)

    def capacity(self, url: str) -> Measured:
        prefix = self.out / "capacity-records-"
        command = wrk_session_command(url, self.step(), prefix)
        finished = self._run("capacity", command, self.plan.threads)
        wrk = parse_summary(self._log("capacity").read_text())
        files = record_files(prefix)
        records = read_records(files, finished.launched_epoch, paced=False)
        for path in files:
            path.unlink()
        failures = sum(r.outcome not in ("new", "kept") for r in records)
        return _measured(
            _CAPACITY,
            finished,
            int(wrk["requests"]),
            float(wrk["rps"]),
            failures,
        )

    def locust(self, name: str, key: str, host: str, locustfile: str, extra: list[str]) -> Measured:
        prefix = self.out / f"{key}-round{self.round}"
        command = _locust_command(self.plan, host, locustfile, prefix, extra)
        # Locust spends about a second importing before any load: leave it out of its bill.
        finished = self._run(key, command, 1, mark=load_began)
        requests, rps, failures = locust_totals(prefix)
        return _measured(name, finished, requests, rps, failures)


def _median(name: str, rounds: list[Measured]) -> Measured:
    cpu = [m.cpu_ms_per_1000 for m in rounds if m.cpu_ms_per_1000 is not None]
    return Measured(
        name=name,
        requests=sum(m.requests for m in rounds),
        rps=round(statistics.median(m.rps for m in rounds), 1),
        cpu_s=round(sum(m.cpu_s for m in rounds), 3),
        cpu_ms_per_1000=round(statistics.median(cpu), 3) if cpu else None,
        generator_bound=any_bound([m.generator_bound for m in rounds]),
        failures=sum(m.failures for m in rounds),
    )


_WRK, _CAPACITY = "wrk (plain)", "capacity mode (wrk + session.lua)"
_PLAIN, _TRACKING = "Locust FastHttpUser (plain)", "Locust + session tracking"
_BINDING = "Locust + tracking + source binding"


def _paired(
    measured: dict[str, list[Measured]],
    num: str,
    den: str,
    value: Callable[[Measured], float | None],
) -> float | None:
    """The median over rounds of num/den, each round's pair measured minutes apart at most:
    steadier than a ratio of medians when the machine's other load drifts."""
    ratios = []
    for a, b in zip(measured.get(num, []), measured.get(den, []), strict=False):
        x, y = value(a), value(b)
        if x and y:
            ratios.append(x / y)
    return round(statistics.median(ratios), 4) if ratios else None


def _scenario_name(scenario: str) -> str:
    return f"{_TRACKING} ({scenario})"


def _plain_name(scenario: str) -> str:
    """The plain Locust a scenario's tracking is priced against: the same requests, unread
    (its own for parallel:N, whose N requests at a time and longer replies cost Locust
    more before any tracking; plain Locust on the counter page for the others)."""
    return f"{_PLAIN} ({scenario})" if parallel_width(scenario) > 1 else _PLAIN


def _scenario_ratios(measured: dict[str, list[Measured]], scenarios: tuple[str, ...]) -> Any:
    """Tracking's cost per scenario against plain Locust making the same requests, by CPU
    per request: the scenarios' pages make the server work differently, so requests/s
    would price the server as much as the tracking; the generator's CPU per request does
    not."""
    out = {}
    for scenario in scenarios:
        plain, tracked = _plain_name(scenario), _scenario_name(scenario)
        ratio = _paired(measured, plain, tracked, lambda m: m.cpu_ms_per_1000)
        out[scenario] = None if ratio is None else round(1.0 - ratio, 4)
    return out


def _ratios(measured: dict[str, list[Measured]]) -> dict[str, Any]:
    """Overheads two ways: by requests/s (the goal's own terms) and by generator CPU per
    request, which a shared machine disturbs far less (a generator-bound Locust's rate is
    its CPU share divided by its cost per request, and only the share swings)."""

    def rps(m: Measured) -> float:
        return m.rps

    def cpu(m: Measured) -> float | None:
        return m.cpu_ms_per_1000

    def lost(ratio: float | None) -> float | None:
        # By CPU, cheap over dear: the throughput lost were CPU the only limit.
        return None if ratio is None else round(1.0 - ratio, 4)

    return {
        "capacity_to_wrk": _paired(measured, _CAPACITY, _WRK, rps),
        "capacity_cpu_to_wrk": _paired(measured, _CAPACITY, _WRK, cpu),
        "tracking_overhead": lost(_paired(measured, _TRACKING, _PLAIN, rps)),
        "binding_overhead": lost(_paired(measured, _BINDING, _TRACKING, rps)),
        "tracking_and_binding_overhead": lost(_paired(measured, _BINDING, _PLAIN, rps)),
        "tracking_overhead_by_cpu": lost(_paired(measured, _PLAIN, _TRACKING, cpu)),
        "binding_overhead_by_cpu": lost(_paired(measured, _TRACKING, _BINDING, cpu)),
        "tracking_and_binding_overhead_by_cpu": lost(_paired(measured, _PLAIN, _BINDING, cpu)),
        "how": "median over rounds of each round's ratio",
    }


def _key(scenario: str) -> str:
    return f"locust-{scenario.replace(':', '')}"


def _scenario_jobs(
    runner: _Runner, host: str, scenario: str, out: Path
) -> list[tuple[str, Callable[[], Measured]]]:
    """Locust + tracking on the scenario's page and, where its requests differ from the
    counter page's (parallel:N), plain Locust making the same requests."""
    extra = [
        "--session-wait", "0", "--session-records", str(out / f"{_key(scenario)}.csv"),
        "--scenario", scenario,
    ]  # fmt: skip
    name, key = _scenario_name(scenario), _key(scenario)
    jobs = [
        (
            f"Locust + tracking, {scenario}",
            lambda: runner.locust(name, key, host, "session_stability.py", extra),
        )
    ]
    width = parallel_width(scenario)
    if width > 1:
        plain, parallel = _plain_name(scenario), ["--plain-parallel", str(width)]
        jobs.insert(
            0,
            (
                f"Locust FastHttpUser, {scenario}",
                lambda: runner.locust(plain, f"{key}-plain", host, "plain_fasthttp.py", parallel),
            ),
        )
    return jobs


def run_perf(plan: PerfPlan, *, progress: Progress = _quiet) -> dict[str, Any]:
    """Lab up, the five generators in turn, lab down; writes and returns perf.json's data."""
    started = time.time()
    progress("getting the cluster ready")
    began = time.monotonic()
    cluster = plan.cluster.up(plan.profile, progress=progress)
    up_s = round(time.monotonic() - began, 3)
    try:
        out = new_run_dir("perf", plan.results_dir)
        host = plan.url(cluster)
        url = f"{host}/session.jsp"
        runner = _Runner(plan, out, dict(cluster.processes()))
        jobs: list[tuple[str, Callable[[], Measured]]] = [
            ("plain wrk", lambda: runner.wrk_plain(url)),
            ("capacity mode", lambda: runner.capacity(url)),
            (
                "Locust FastHttpUser",
                lambda: runner.locust(_PLAIN, "locust-plain", host, "plain_fasthttp.py", []),
            ),
            (
                "Locust + tracking",
                lambda: runner.locust(
                    _TRACKING,
                    "locust-tracking",
                    host,
                    "session_stability.py",
                    ["--session-wait", "0", "--session-records", str(out / "tracking.csv")],
                ),
            ),
            (
                "Locust + tracking + binding",
                lambda: runner.locust(
                    _BINDING,
                    "locust-binding",
                    host,
                    "session_stability.py",
                    [
                        "--session-wait",
                        "0",
                        "--session-records",
                        str(out / "binding.csv"),
                        "--source-net",
                        SOURCE_NET,
                    ],
                ),
            ),
        ]
        for scenario in plan.scenarios:
            jobs += _scenario_jobs(runner, host, scenario, out)
        warmup = runner.warmup(url, progress) if plan.warmup_s > 0 else []
        measured: dict[str, list[Measured]] = {}
        for r in range(1, plan.rounds + 1):
            runner.round = r
            for i, (what, job) in enumerate(jobs, start=1):
                progress(f"round {r}/{plan.rounds}, {i}/{len(jobs)}: {what}")
                row = job()
                measured.setdefault(row.name, []).append(row)
        rows = [_median(name, rounds) for name, rounds in measured.items()]
    finally:
        cluster.down()
    for raw in ("tracking.csv", "binding.csv", *(f"{_key(s)}.csv" for s in plan.scenarios)):
        (out / raw).unlink(missing_ok=True)  # per-request rows: written as a bench does, not kept
    data = {
        "schema": "tomcat-bench/perf",
        "schema_version": 1,
        "started_at": iso(started),
        "ended_at": iso(time.time()),
        "machine": machine(),
        "profile": plan.profile.name,
        "target": url,
        "sessions": plan.cluster.sessions,
        "duration_s": plan.duration_s,
        "connections_or_users": plan.connections,
        "wrk_threads": plan.threads,
        "lab_up_s": up_s,
        "lab_timings_s": cluster.describe().get("timings_s"),
        "warmup_step_s": plan.warmup_s,
        "warmup_rps": warmup,  # each unmeasured warm-up step's wrk requests/s
        "rounds": plan.rounds,
        "rows": [m.__dict__ for m in rows],
        "per_round": {name: [m.__dict__ for m in ms] for name, ms in measured.items()},
        "ratios": _ratios(measured)
        | {"scenario_tracking_overhead_by_cpu": _scenario_ratios(measured, plan.scenarios)},
        "targets": {"capacity_to_wrk_min": CAPACITY_TARGET, "tracking_max": TRACKING_TARGET},
        "cpu_note": "generator CPU is the kernel's rusage of the reaped process tree; for "
        "Locust, less the CPU it used before its first connection (its start-up)",
    }
    write_document(out / PERF_FILE, data, "perf")
    data["run_dir"] = str(out)
    return data
