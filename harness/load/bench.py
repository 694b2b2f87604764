"""One bench: lab up, Locust under load, a node killed mid-run, results written, lab down."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.cluster import jvm
from harness.cluster.faults import FaultSpec, Schedule
from harness.cluster.lab import Lab, LabState, Topology
from harness.cluster.lab.balancers import balancer
from harness.cluster.lab.l4hash import Director
from harness.config.profile import Profile
from harness.load.telemetry import JVM_TELEMETRY_FILE, TELEMETRY_FILE, JvmSampler, Sampler
from harness.paths import REPO_ROOT
from harness.results import (
    HDR_FILE,
    REQUESTS_FILE,
    RESULTS_DIR,
    convert_raw_records,
    hdr_summary,
    manifest,
    new_run_dir,
    summarize,
    write_hdr,
    write_manifest,
    write_records,
)
from harness.results.judgement import judge
from harness.results.verdicts import VERDICTS_FILE, verdict_of, write_verdicts

log = logging.getLogger(__name__)

LOCUSTFILE = REPO_ROOT / "locustfiles" / "session_stability.py"
FIRST_REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BenchPlan:
    profile: Profile
    duration_s: float = 60.0
    users: int = 20
    spawn_rate: float = 20.0
    wait_s: float = 0.05
    fault_target: str | None = "node1"
    fault_at_s: float | None = None  # default: the middle of the run
    faults: tuple[FaultSpec, ...] | None = None  # a schedule; overrides the two above
    topology: Topology = field(default_factory=Topology)
    results_dir: Path = RESULTS_DIR
    balancer: str = "nginx-rr"
    sessions: str = "redis"
    # Each user sends from its own loopback address, so source-hash balancers spread them.
    source_net: str | None = "127.100"
    label: str | None = None  # names the results folder; default: the profile's name
    session_size: int = 0  # bytes of payload session.jsp keeps in each session (?size=)
    # Open model: requests per second in all on a fixed schedule; None: closed model.
    arrival_rate: float | None = None

    def __post_init__(self) -> None:
        if self.duration_s < 5:
            raise ValueError(f"DURATION={self.duration_s:g}: a bench needs at least 5 s")
        if self.users < 1:
            raise ValueError(f"USERS={self.users}: at least one user")
        if self.arrival_rate is not None and self.arrival_rate <= 0:
            raise ValueError(f"ARRIVAL_RATE={self.arrival_rate:g}: must be positive")
        names = [n.name for n in self.topology.nodes]
        if self.fault_target is not None and self.fault_target not in names:
            raise ValueError(f"FAULT_TARGET={self.fault_target}: not one of {', '.join(names)}")
        if self.fault_at_s is not None and not 0 < self.fault_at_s < self.duration_s:
            raise ValueError(f"FAULT_AT={self.fault_at_s:g}: must fall inside the run")
        for spec in self.faults or ():
            if spec.at_s >= self.duration_s or (spec.restore_at_s or 0) >= self.duration_s:
                raise ValueError(f"FAULTS={spec}: must fall inside the {self.duration_s:g} s run")

    @property
    def fault_time(self) -> float:
        return self.fault_at_s if self.fault_at_s is not None else self.duration_s / 2

    def fault_specs(self) -> tuple[FaultSpec, ...]:
        if self.faults is not None:
            return self.faults
        if self.fault_target is None:
            return ()
        return (FaultSpec("sigkill", self.fault_target, self.fault_time),)


Tick = Callable[[float, str], None]


def _no_tick(_: float, __: str) -> None:
    return None


@dataclass
class BenchResult:
    run_dir: Path
    summary: dict[str, Any]
    lab_up_s: float
    verdict: dict[str, Any]
    wall_s: float | None = None  # lab up to results written (the report comes after)
    interrupted_at_s: float | None = None  # Ctrl-C or SIGTERM: the folder holds what ran
    locust_exit: int | None = None

    @property
    def generator_failed(self) -> bool:
        """Locust exits 1 when a request failed (a fault's errors): anything else but 0,
        outside an interruption, is a failed load generator, not a finding."""
        return self.interrupted_at_s is None and self.locust_exit not in (0, 1)


@dataclass
class _Driven:
    start_epoch: float
    faults: list[dict[str, Any]]
    sampler: Sampler
    jvms: JvmSampler
    interrupted_at_s: float | None
    locust_exit: int | None


def _locust_command(plan: BenchPlan, run_dir: Path, raw: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        plan.topology.balancer_url,
        "--users",
        str(plan.users),
        "--spawn-rate",
        str(plan.spawn_rate),
        "--run-time",
        f"{plan.duration_s:g}s",
        "--stop-timeout",
        "2",
        "--csv",
        str(run_dir / "locust"),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--session-records",
        str(raw),
        "--session-wait",
        str(plan.wait_s),
        *(["--source-net", plan.source_net] if plan.source_net else []),
        *(["--session-size", str(plan.session_size)] if plan.session_size else []),
        *(["--arrival-rate", f"{plan.arrival_rate:g}"] if plan.arrival_rate else []),
    ]


def _wait_first_request(proc: subprocess.Popen[bytes], raw: Path) -> None:
    """Wait until Locust's records reach the file, failing fast if Locust dies first.

    The run's clock is the launch time; this only makes sure load is flowing before a
    fault can fall due (the locustfile flushes its first record at once)."""
    deadline = time.monotonic() + FIRST_REQUEST_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"locust exited early with code {proc.returncode}")
        if raw.exists():
            with raw.open() as handle:
                if handle.readline() and handle.readline():  # header and one request
                    return
        time.sleep(0.05)
    raise RuntimeError(f"locust made no request within {FIRST_REQUEST_TIMEOUT_S:.0f} s")


def _drive(plan: BenchPlan, lab: Lab, run_dir: Path, raw: Path, tick: Tick) -> _Driven:
    """Run Locust to its end, delivering the faults on time. Ctrl-C (or SIGTERM) ends the
    load early and is recorded, not raised: the caller still writes what ran."""
    faults: list[dict[str, Any]] = []
    interrupted_at_s = None
    with (run_dir / "locust.log").open("wb") as out:
        launched = time.time()
        proc = subprocess.Popen(
            _locust_command(plan, run_dir, raw),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        assert lab.state is not None
        parts = {"generator": proc.pid}
        parts |= {name: rec.pid for name, rec in lab.state.processes.items()}
        sampler = Sampler(parts=parts, start_epoch=launched)
        sampler.start()
        jvms = JvmSampler(
            targets=lambda: jvm.lab_targets(lab),
            secrets_dir=jvm.lab_secrets_dir(lab),
            start_epoch=launched,
        )
        jvms.start()
        # An L4 director checks no health itself: the harness does, as keepalived would.
        director = None
        kind = (lab.state.l4_director or {}).get("kind")
        if kind is not None:
            director = Director(
                lab.state.nft_table or "",
                plan.topology.nodes,
                start_epoch=launched,
                ipvs_service=plan.topology.balancer if kind == "ipvs" else None,
            )
            director.start()
        schedule = Schedule(lab, plan.fault_specs(), launched)
        try:
            _wait_first_request(proc, raw)
            while proc.poll() is None:
                elapsed = time.time() - launched
                schedule.tick(elapsed)
                tick(min(elapsed, plan.duration_s), "under load")
                time.sleep(0.05)
        except KeyboardInterrupt:
            interrupted_at_s = round(time.time() - launched, 3)
            log.warning("interrupted at %.1f s: writing the results of what ran", interrupted_at_s)
        finally:
            faults += schedule.close()
            sampler.stop()
            jvms.stop()
            if director is not None:
                director.stop()
                faults += director.events
            if proc.poll() is None:
                # SIGTERM: Locust stops its users and writes their last records.
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return _Driven(launched, faults, sampler, jvms, interrupted_at_s, proc.returncode)


def read_in_effect(lab: Lab, profile: Profile) -> dict[str, Any]:
    """What each node runs with, read from its JVM before the load (also starts the JMX
    agents the JVM telemetry reads), and how it differs from what the profile asked for.
    A node that cannot be read is named, not fatal."""
    out: dict[str, Any] = {}
    requested = profile.effective()
    with ThreadPoolExecutor(max_workers=len(lab.topology.nodes)) as pool:
        futures = {n.name: pool.submit(jvm.read_lab_node, lab, n.name) for n in lab.topology.nodes}
        for name, future in futures.items():
            try:
                node = future.result()
            except (jvm.JvmReadError, OSError) as error:
                log.warning("%s: could not read the JVM: %s", name, error)
                out[name] = {"error": str(error)}
                continue
            wrong, unseen = jvm.mismatches(node, requested)
            for line in wrong:
                log.warning("%s does not run what profile %s asks: %s", name, profile.name, line)
            out[name] = {
                **node.model_dump(mode="json"),
                "mismatches": wrong,
                "unverified": unseen,
            }
    return out


def _copy_logs(state: LabState, run_dir: Path) -> None:
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    for name, record in state.processes.items():
        source = Path(record.log)
        if source.exists():
            shutil.copy2(source, logs / f"{name}.log")


def profile_section(profile: Profile) -> dict[str, Any]:
    """run.json's "profile": the name and what it asked Tomcat for."""
    return {
        "name": profile.name,
        "description": profile.description,
        "requested": profile.effective(),
    }


def lab_section(topology: Topology, balancer_name: str, store: dict[str, Any]) -> dict[str, Any]:
    """run.json's "lab": balancer, session manager and its modes (never the password), nodes."""
    return {
        "kind": "embedded",
        "balancer": balancer(balancer_name).label,
        "balancer_name": balancer_name,
        "session_store": store["kind"],
        "session_manager": {k: v for k, v in store.items() if k != "password"},
        "nodes": [{"name": n.name, "address": str(n.http)} for n in topology.nodes],
        "entry": topology.balancer_url,
    }


def run_bench(
    plan: BenchPlan, *, tick: Tick = _no_tick, progress: Callable[[str], None]
) -> BenchResult:
    began = time.monotonic()
    lab = Lab(plan.topology)
    try:
        progress("bringing the lab up")
        state = lab.up(
            plan.profile, balancer_name=plan.balancer, sessions=plan.sessions, progress=progress
        )
        # Made only once the lab is up, so a lab that fails to start leaves no empty run.
        run_dir = new_run_dir(plan.label or plan.profile.name, plan.results_dir)
        raw = run_dir / "requests.raw.csv"
        progress("reading the settings in effect from the JVMs")
        in_effect = read_in_effect(lab, plan.profile)
        progress("running load")
        driven = _drive(plan, lab, run_dir, raw, tick)
        end_epoch = time.time()
    finally:
        lab.down()
    _copy_logs(state, run_dir)
    start_epoch, faults, sampler, jvms = (
        driven.start_epoch, driven.faults, driven.sampler, driven.jvms
    )  # fmt: skip

    progress("writing results")
    records = convert_raw_records([raw], start_epoch) if raw.exists() else []
    write_records(run_dir / REQUESTS_FILE, records)
    raw.unlink(missing_ok=True)
    judgement = judge(records, faults)
    summary = summarize(records, faults, judgement)
    # From the records, after the load: HDR recording in Locust would cost generator CPU.
    write_hdr(run_dir / HDR_FILE, records)
    summary["latency_hdr"] = hdr_summary(run_dir / HDR_FILE)
    sampler.write(run_dir)
    first_fault = judgement.delivered[:1]
    summary["telemetry"] = sampler.summary(first_fault[0].at_s if first_fault else None)
    summary["generator_bound"] = summary["telemetry"]["generator_bound"]
    jvms.write(run_dir)
    summary["jvm"] = jvms.summary()
    # Measured from the first fault delivered (one never delivered has no time).
    reactions = [
        f
        for f in faults
        if f["action"].startswith("director") and first_fault and f["at_s"] >= first_fault[0].at_s
    ]
    if reactions:
        summary["director"] = {
            **(state.l4_director or {}),
            "checks": reactions[0]["checks"],
            "reaction_s": round(reactions[0]["at_s"] - judgement.delivered[0].at_s, 3),
        }
    verdict = verdict_of(judgement, balancer=plan.balancer, sessions=plan.sessions)
    write_verdicts(run_dir, [verdict])
    data = manifest(
        run_id=run_dir.name,
        start_epoch=start_epoch,
        end_epoch=end_epoch,
        profile=profile_section(plan.profile),
        lab={
            **lab_section(plan.topology, plan.balancer, state.store),
            "up_s": state.timings_s.get("up"),
            "l4_director": state.l4_director,
            "timings_s": state.timings_s,
            "in_effect": in_effect,
        },
        load={
            "tool": "locust",
            "locustfile": str(LOCUSTFILE.relative_to(REPO_ROOT)),
            "users": plan.users,
            "spawn_rate": plan.spawn_rate,
            "duration_s": plan.duration_s,
            "wait_s": None if plan.arrival_rate else plan.wait_s,
            "model": "open" if plan.arrival_rate else "closed",
            "arrival_rate": plan.arrival_rate,
            "source_net": plan.source_net,
            "session_size": plan.session_size,
        },
        versions={**state.versions, "locust": version("locust")},
        faults=faults,
        summary=summary,
        verdicts=[verdict],
        files={
            "requests": REQUESTS_FILE,
            "latency_hdr": HDR_FILE,
            "verdicts": VERDICTS_FILE,
            "telemetry": TELEMETRY_FILE,
            "jvm_telemetry": JVM_TELEMETRY_FILE,
            "locust_stats": "locust_stats.csv",
            "locust_history": "locust_stats_history.csv",
            "logs": "logs/",
        },
    )
    wall_s = round(time.monotonic() - began, 3)
    data["wall_s"] = wall_s
    data["complete"] = driven.interrupted_at_s is None
    data["interrupted_at_s"] = driven.interrupted_at_s
    data["load"]["locust_exit"] = driven.locust_exit
    write_manifest(run_dir, data)
    return BenchResult(
        run_dir=run_dir,
        summary=summary,
        lab_up_s=state.timings_s.get("up", 0.0),
        verdict=verdict,
        wall_s=wall_s,
        interrupted_at_s=driven.interrupted_at_s,
        locust_exit=driven.locust_exit,
    )
