"""One bench: lab up, Locust under load, a node killed mid-run, results written, lab down."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from harness import interrupts
from harness.cluster import Cluster, ClusterSpec, Companion, EarlyCompanion, EarlyEntry
from harness.cluster.endpoints import free_port
from harness.config.faults import FaultSpec
from harness.config.profile import Profile
from harness.load.cpu_window import CpuWindow
from harness.load.driver import Finished, Load, Waiting, launch_waiting, run_generator
from harness.load.faults import FaultTimeline
from harness.load.locust import SESSION_LOCUSTFILE, Sessions, locust_command
from harness.load.telemetry import JVM_TELEMETRY_FILE, TELEMETRY_FILE, JvmSampler, jvm_row
from harness.load.warm_up import WarmUp
from harness.paths import REPO_ROOT
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.judgement import Judgement
from harness.results.outcomes import parallel_width
from harness.results.raw_records import RAW_FILE, records_flowing
from harness.results.telemetry import any_bound

log = logging.getLogger(__name__)

LOCUSTFILE = SESSION_LOCUSTFILE
GATE_FILE = "locust.start"  # created when the load begins (Locust's --start-gate)


@dataclass(frozen=True, kw_only=True)
class BenchPlan:
    profile: Profile
    cluster: ClusterSpec  # what to measure: the embedded lab or hosts of one's own
    duration_s: float = 60.0
    users: int = 20
    spawn_rate: float = 20.0
    wait_s: float = 0.05
    fault_target: str | None = "node1"
    fault_at_s: float | None = None  # default: the middle of the run
    faults: tuple[FaultSpec, ...] | None = None  # a schedule; overrides the two above
    results_dir: Path = RESULTS_DIR
    # Each user sends from its own loopback address, so source-hash balancers spread them.
    source_net: str | None = "127.100"
    label: str | None = None  # names the results folder; default: the profile's name
    session_size: int = 0  # bytes of payload session.jsp keeps in each session (?size=)
    scenario: str = "counter"  # what session.jsp does with each session (?scenario=)
    # Open model: requests per second in all on a fixed schedule; None: closed model.
    arrival_rate: float | None = None
    # What the operator waited before this bench began (the command's own start: Python,
    # its imports, the options): counted in the wall as phase "start".
    waited_before_s: float = 0.0

    def __post_init__(self) -> None:
        if self.duration_s < 5:
            raise ValueError(f"DURATION={self.duration_s:g}: a bench needs at least 5 s")
        if self.users < 1:
            raise ValueError(f"USERS={self.users}: at least one user")
        try:
            width = parallel_width(self.scenario)
        except ValueError as error:
            raise ValueError(f"SCENARIO={self.scenario}: {error}") from None
        if width > 1 and self.arrival_rate is not None:
            raise ValueError(
                f"SCENARIO={self.scenario} with ARRIVAL_RATE: parallel rounds run in the "
                "closed model only (each round waits for all its replies)"
            )
        if self.arrival_rate is not None and self.arrival_rate <= 0:
            raise ValueError(f"ARRIVAL_RATE={self.arrival_rate:g}: must be positive")
        names = self.cluster.node_names()
        if self.fault_target is not None and self.fault_target not in names:
            raise ValueError(f"FAULT_TARGET={self.fault_target}: not one of {', '.join(names)}")
        if self.fault_at_s is not None and not 0 < self.fault_at_s < self.duration_s:
            raise ValueError(f"FAULT_AT={self.fault_at_s:g}: must fall inside the run")
        for spec in self.faults or ():
            if spec.at_s >= self.duration_s or (spec.restore_at_s or 0) >= self.duration_s:
                raise ValueError(f"FAULTS={spec}: must fall inside the {self.duration_s:g} s run")

    @property
    def balancer(self) -> str:
        return self.cluster.balancer

    @property
    def sessions(self) -> str:
        return self.cluster.sessions

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
    # Each node's CPU to its first answer, its JIT's part (lab/node_start.py); {} if not read.
    start_cpu_s: dict[str, dict[str, float]] = field(default_factory=dict)
    # How busy this machine was from the bench's start to its load's (load/cpu_window.py).
    cpu_before_load: dict[str, Any] = field(default_factory=dict)
    # Ctrl-C or SIGTERM once the load had ended: the run is complete, nothing follows it.
    stopped_after_load: bool = False

    @property
    def stop_requested(self) -> bool:
        """The operator stopped the harness in this bench, under its load or after it: a
        command or campaign ends here (exit 130), this run kept."""
        return self.interrupted_at_s is not None or self.stopped_after_load

    @property
    def generator_failed(self) -> bool:
        """Locust exits 1 when a request failed (a fault's errors): anything else but 0,
        outside an interruption, is a failed load generator, not a finding."""
        return self.interrupted_at_s is None and self.locust_exit not in (0, 1)


def _locust(
    plan: BenchPlan,
    entry_url: str,
    run_dir: Path,
    raw: Path,
    workers: tuple[tuple[str, int], int] | None = None,
    *,
    ca_file: Path | None = None,
    gate: Path | None = None,
) -> list[str]:
    """The bench's Locust: one process, or (workers) a master at (address, port) that
    waits for that many workers before its users start; with gate, it starts up and waits
    for that file (see launch_waiting)."""
    sessions = Sessions(
        records=raw,
        wait_s=plan.wait_s,
        source_net=plan.source_net,
        session_size=plan.session_size,
        scenario=plan.scenario,
        arrival_rate=plan.arrival_rate,
        ca_file=ca_file,
        start_gate=gate,
    )
    return locust_command(
        LOCUSTFILE,
        host=entry_url,
        users=plan.users,
        spawn_rate=plan.spawn_rate,
        run_time_s=plan.duration_s,
        stop_timeout_s=2,
        csv_prefix=run_dir / "locust",
        full_history=True,
        only_summary=True,
        master=workers[0] if workers else None,
        extra=[
            *sessions.options(),
            *(["--expect-workers", str(workers[1]), "--expect-workers-max-wait", "60"]
              if workers else []),
        ],
    )  # fmt: skip


class _JvmTelemetry:
    """The nodes' JVM telemetry, started with the load."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.sampler: JvmSampler | None = None

    def start(self, start_epoch: float) -> None:
        self.sampler = JvmSampler(
            targets=self.cluster.jvm_targets,
            start_epoch=start_epoch,
        )
        self.sampler.start()

    def stop(self) -> list[dict[str, Any]]:
        if self.sampler is not None:
            self.sampler.stop()
        return []

    def add(self, readings: list[tuple[str, dict[str, Any]]], start_epoch: float) -> None:
        """Readings taken on the nodes' own hosts (Tomcat's log, where rejections are
        counted, stays there: not counted)."""
        if self.sampler is not None and readings:
            rows = [jvm_row(node, reading, start_epoch, None) for node, reading in readings]
            self.sampler.rows.extend(rows)


def _drive(
    plan: BenchPlan,
    cluster: Cluster,
    run_dir: Path,
    raw: Path,
    tick: Tick,
    *,
    meters: Sequence[Companion],
    early: _EarlyLocust | None = None,
) -> tuple[Finished, _JvmTelemetry]:
    """Run Locust to its end, delivering the faults on time. Ctrl-C (or SIGTERM) ends the
    load early and is recorded, not raised: the caller still writes what ran."""
    jvms = _JvmTelemetry(cluster)
    companions: list[Companion] = [jvms, *cluster.companions(), *meters, WarmUp()]
    # Faults fall due only once requests flow; the clock is still the launch time.
    flowing: Callable[[], bool] = lambda: records_flowing(raw)  # noqa: E731
    workers = None
    load_hosts = cluster.load_hosts()
    if load_hosts is not None:
        master = (load_hosts.master_address, free_port(load_hosts.master_address))
        workers = (master, load_hosts.processes)
        companions.append(load_hosts.workers(master[1]))
        flowing = load_hosts.flowing
    command = (
        early.command
        if early is not None
        else _locust(plan, cluster.entry_url, run_dir, raw, workers, ca_file=cluster.ca_file)
    )
    finished = run_generator(
        Load(
            command=command,
            log_path=run_dir / "locust.log",
            duration_s=plan.duration_s,
            servers=cluster.processes(),
            cwd=REPO_ROOT,
            flowing=flowing,
            companions=companions,
            clock=FaultTimeline(cluster, plan.fault_specs()),
            on_tick=lambda elapsed: tick(min(elapsed, plan.duration_s), "under load"),
            interruptible=True,
        ),
        early.take() if early is not None else None,
    )
    return finished, jvms


def profile_section(profile: Profile) -> dict[str, Any]:
    """run.json's "profile": the name and what it asked Tomcat for."""
    return {
        "name": profile.name,
        "description": profile.description,
        "requested": profile.effective(),
    }


class Meter(Companion, Protocol):
    """A study's own reading of the cluster around the load (the scale study's bytes and
    session heap): before_load once the cluster is ready, then start and stop with it."""

    def before_load(self) -> None: ...

    def discard(self) -> None:
        """Undo what before_load set up (an nftables table), whether or not the load ran
        or stop() was called: run_bench calls it last, whatever happened."""
        ...

    def figures(self) -> dict[str, Any]:
        """What it measured, once the load has ended."""
        ...


class _EarlyLocust:
    """Locust launched before the cluster is up, its imports overlapping the cluster's
    start; it waits at a gate file in the run folder until the load begins."""

    def __init__(self, plan: BenchPlan, entry: EarlyEntry) -> None:
        self.run_dir = new_run_dir(plan.label or plan.profile.name, plan.results_dir)
        self.raw = self.run_dir / RAW_FILE
        gate = self.run_dir / GATE_FILE
        self.command = _locust(
            plan, entry.url, self.run_dir, self.raw, ca_file=entry.ca_file, gate=gate
        )
        self._waiting = launch_waiting(
            self.command, self.run_dir / "locust.log", gate, cwd=REPO_ROOT
        )
        self._taken = False

    def take(self) -> Waiting:
        """Handed to the load, which reaps it when the load ends."""
        self._taken = True
        return self._waiting

    def abandon(self) -> None:
        """Called last, whatever happened: a Locust no load reaped is stopped (one handed
        over in the instant before a Ctrl-C too); the folder of a load that never got it,
        holding nothing yet, is removed."""
        self._waiting.abandon()
        if not self._taken:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _launch_early(plan: BenchPlan) -> _EarlyLocust | None:
    entry = plan.cluster.entry_before_up(plan.profile)
    return _EarlyLocust(plan, entry) if entry is not None else None


class Phases:
    """Where a bench's wall time went, phase after phase (run.json's phases_s): what the
    operator waits for beyond the load is the sum of all but "load" and "lab_down" (the
    cluster goes down beside the results and the report; its own time is kept). "start",
    when given, is the command's own start before the bench: in the wall too."""

    def __init__(self, waited_before_s: float = 0.0) -> None:
        self._last = time.monotonic()
        self.began = self._last - waited_before_s
        self.seconds: dict[str, float] = {}
        if waited_before_s > 0:
            self.seconds["start"] = round(waited_before_s, 3)

    def end(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now

    def wall_s(self) -> float:
        return round(time.monotonic() - self.began, 3)


def run_bench(
    plan: BenchPlan,
    *,
    tick: Tick = _no_tick,
    progress: Callable[[str], None],
    meters: Callable[[Cluster], Sequence[Meter]] | None = None,
    while_stopping: Callable[[Path], object] | None = None,
    before_load: Callable[[], object] | None = None,
) -> BenchResult:
    """One bench: the cluster up, the load, the results. while_stopping(run_dir) (the
    report) runs once the results are written, while the cluster goes down beside it;
    before_load() once the cluster is ready, right before the load (the matrix waits there
    for the reports it draws meanwhile, so none runs under a load). The cluster is down,
    its logs copied, when this returns or raises. A Ctrl-C under the load, or once it has
    ended, returns the run so far, or whole, saying so (BenchResult.stop_requested)."""
    phases = Phases(plan.waited_before_s)
    window = CpuWindow()  # before Locust's launch, so all of its start counts
    progress("getting the cluster ready")
    early = _launch_early(plan)
    try:
        cluster = plan.cluster.up(plan.profile, progress=progress)
    except BaseException:
        if early is not None:
            early.abandon()  # a cluster that fails to start leaves no empty run
        raise
    phases.end("lab_up")
    readings: list[Meter] = []
    with ExitStack() as after_load:
        try:
            if early is not None:
                run_dir, raw = early.run_dir, early.raw
            else:
                run_dir = new_run_dir(plan.label or plan.profile.name, plan.results_dir)
                raw = run_dir / RAW_FILE
            in_effect = _get_ready(
                plan, cluster, readings, meters, before_load, phases=phases, progress=progress
            )
            cpu_before_load = window.figures()
            progress("running load")
            finished, jvms = _drive(plan, cluster, run_dir, raw, tick, meters=readings, early=early)
            # The load is over: a Ctrl-C from here on stops the harness once its run is
            # written (stopped_after_load), not halfway through the results (they were
            # lost, the run with them).
            deferral = after_load.enter_context(interrupts.deferred(f"{run_dir} is written"))
            (run_dir / GATE_FILE).unlink(missing_ok=True)
            phases.end("load")
            if finished.flowing_after_s is not None:
                phases.seconds["load_start"] = finished.flowing_after_s  # part of "load"
            lab = {"in_effect": in_effect, "cpu_before_load": cpu_before_load}
            loaded = _gather(cluster, run_dir, raw, finished, jvms, lab=lab)
        except BaseException:
            cluster.down()
            raise
        finally:
            for meter in readings:
                meter.discard()
            if early is not None:
                early.abandon()  # a Locust no load reaped is stopped (an error before it began)
        result = _finish(
            plan, cluster, loaded, phases=phases, progress=progress, then=while_stopping
        )
        result.stopped_after_load = deferral.take()
        return result


def _gather(
    cluster: Cluster,
    run_dir: Path,
    raw: Path,
    finished: Finished,
    jvms: _JvmTelemetry,
    *,
    lab: dict[str, Any],
) -> _Loaded:
    """What the load left, from here and from other hosts, for the results; lab: run.json's
    lab section beyond what the cluster describes."""
    load_hosts = cluster.load_hosts()
    fetched = load_hosts.fetch_records(run_dir) if load_hosts is not None else []
    # Parts on other hosts, sampled there: one telemetry file, one summary.
    finished.sampler.rows = sorted([*finished.sampler.rows, *cluster.telemetry_rows()])
    jvms.add(cluster.jvm_readings(), finished.launched_epoch)
    return _Loaded(
        run_dir,
        [raw, *fetched],
        finished,
        jvms,
        load_hosts.usage() if load_hosts is not None else {},
        lab={**cluster.describe(), **lab},
        versions=cluster.versions(),
        lab_up_s=cluster.up_s(),
    )


def _get_ready(
    plan: BenchPlan,
    cluster: Cluster,
    readings: list[Meter],
    meters: Callable[[Cluster], Sequence[Meter]] | None,
    before_load: Callable[[], object] | None,
    *,
    phases: Phases,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """From the cluster's start to the load's: the settings in effect (returned), the
    faults prepared, the meters made into readings (the caller discards them whatever
    happens) and set up, the early companions started, the caller's before_load."""
    progress("reading the settings in effect from the JVMs")
    in_effect = cluster.in_effect(plan.profile)
    cluster.prepare_faults(plan.fault_specs())
    if meters is not None:
        readings.extend(meters(cluster))
    for meter in readings:
        meter.before_load()
    phases.end("in_effect")
    if early_companions := [c for c in cluster.companions() if isinstance(c, EarlyCompanion)]:
        progress("starting the JVM readers")
        for companion in early_companions:
            companion.before_load()
        phases.end("telemetry_ready")
    if before_load is not None:
        before_load()
        phases.end("before_load")
    return in_effect


def _finish(
    plan: BenchPlan,
    cluster: Cluster,
    loaded: _Loaded,
    *,
    phases: Phases,
    progress: Callable[[str], None],
    then: Callable[[Path], object] | None,
) -> BenchResult:
    """The results written (and then(run_dir), the report) while the cluster goes down
    beside them: nothing they write needs it. Its logs copied once it is down."""
    run_dir = loaded.run_dir
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="down") as stopper:
            stopping = stopper.submit(_timed, cluster.down)
            try:
                result = _results(plan, loaded, phases=phases, progress=progress)
                if then is not None:
                    then(run_dir)
                    phases.end("report")
            finally:
                # Beside the rest: in phases_s, not in its sum.
                phases.seconds["lab_down"] = stopping.result()
    finally:  # the logs too when the results failed: they say why
        phases.seconds["logs"] = _timed(lambda: cluster.copy_logs(run_dir / "logs"))
    kept = {key: loaded.lab[key] for key in ("in_effect", "cpu_before_load")}
    _record_after_down(run_dir, phases, {**cluster.describe(), **kept})
    log.info(
        "bench %s: %s; wall %.2f s",
        run_dir.name,
        ", ".join(f"{k} {v:.2f}" for k, v in phases.seconds.items()),
        phases.wall_s(),
    )
    return result


def _record_after_down(run_dir: Path, phases: Phases, lab: dict[str, Any]) -> None:
    """run.json completed once the cluster is down: phases_s with what ended after it was
    first written (lab down, logs, report), and the cluster as down() left it (one's own
    cluster records there the faulted parts it started again)."""
    from harness.results.run_folder import read_manifest, write_manifest  # noqa: PLC0415

    manifest = read_manifest(run_dir)
    manifest["phases_s"] = phases.seconds
    manifest["lab"] = lab
    write_manifest(run_dir, manifest)


def _timed(work: Callable[[], None]) -> float:
    began = time.monotonic()
    work()
    return round(time.monotonic() - began, 3)


@dataclass(frozen=True)
class _Loaded:
    """What a finished load left for its results."""

    run_dir: Path
    raws: list[Path]  # this host's records, then each load host's
    finished: Finished
    jvms: _JvmTelemetry
    hosts_usage: dict[str, Any]
    lab: dict[str, Any]  # the cluster as it ran, read before it goes down (again after)
    versions: dict[str, str]
    lab_up_s: float


def _results(
    plan: BenchPlan,
    loaded: _Loaded,
    *,
    phases: Phases,
    progress: Callable[[str], None],
) -> BenchResult:
    # Imported once the load has ended (or warmed during it, warm_up.py): numpy and
    # pyarrow cost 0.15 s before the lab could start.
    from harness.results.session_run import finish_session_run, read_raw  # noqa: PLC0415

    run_dir, finished, jvms = loaded.run_dir, loaded.finished, loaded.jvms
    hosts_usage = loaded.hosts_usage
    lab = loaded.lab
    progress("writing results")
    records = read_raw(loaded.raws, finished.launched_epoch)
    phases.end("records")
    run = finish_session_run(
        run_dir,
        records,
        start_epoch=finished.launched_epoch,
        end_epoch=finished.ended_epoch,
        faults=finished.events,
        balancer=plan.balancer,
        sessions=plan.sessions,
        sections={
            "profile": profile_section(plan.profile),
            "lab": lab,
            "load": {**_load_section(plan, finished), "load_hosts": hosts_usage},
            "versions": {**loaded.versions, "locust": version("locust")},
            "complete": finished.interrupted_at_s is None,
            "interrupted_at_s": finished.interrupted_at_s,
            "wall_s": phases.wall_s(),
            "phases_s": phases.seconds,
        },
        files={
            "telemetry": TELEMETRY_FILE,
            "jvm_telemetry": JVM_TELEMETRY_FILE,
            "locust_stats": "locust_stats.csv",
            "locust_history": "locust_stats_history.csv",
            "logs": "logs/",
        },
        hdr_from_records=True,
        extras=lambda summary, judgement: _telemetry(
            summary,
            judgement,
            finished=finished,
            jvms=jvms,
            lab=lab,
            run_dir=run_dir,
            load_hosts=hosts_usage,
        ),
    )
    phases.end("results")
    return BenchResult(
        run_dir=run_dir,
        summary=run.summary,
        lab_up_s=loaded.lab_up_s,
        verdict=run.verdict,
        wall_s=run.manifest["wall_s"],
        interrupted_at_s=finished.interrupted_at_s,
        locust_exit=finished.returncode,
        start_cpu_s=loaded.lab.get("start_cpu_s") or {},
        cpu_before_load=loaded.lab.get("cpu_before_load") or {},
    )


def _load_section(plan: BenchPlan, finished: Finished) -> dict[str, Any]:
    return {
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
        "scenario": plan.scenario,
        "locust_exit": finished.returncode,
        # Exact, from the kernel's account of the reaped generator (see load.driver).
        "generator_cpu_s": finished.cpu_s,
    }


def _telemetry(
    summary: dict[str, Any],
    judgement: Judgement,
    *,
    finished: Finished,
    jvms: _JvmTelemetry,
    lab: dict[str, Any],
    run_dir: Path,
    load_hosts: dict[str, dict[str, Any]],
) -> None:
    """The samplers' files, and what they say, into the summary."""
    sampler = finished.sampler
    sampler.write(run_dir)
    first_fault = judgement.delivered[:1]
    summary["telemetry"] = sampler.summary(first_fault[0].at_s if first_fault else None)
    summary["generator_bound"] = summary["telemetry"]["generator_bound"]
    if load_hosts:
        # The workers load from their own hosts: one that ran out of CPU bounds the run.
        summary["load_hosts"] = load_hosts
        # A host whose CPU could not be read leaves it unknown, unless another was bound.
        summary["generator_bound"] = any_bound([h["generator_bound"] for h in load_hosts.values()])
    if jvms.sampler is not None:
        jvms.sampler.write(run_dir)
        summary["jvm"] = jvms.sampler.summary()
    # Measured from the first fault delivered (one never delivered has no time).
    reactions = [
        f
        for f in finished.events
        if f["action"].startswith("director") and first_fault and f["at_s"] >= first_fault[0].at_s
    ]
    if reactions:
        summary["director"] = {
            **(lab.get("l4_director") or {}),
            "checks": reactions[0]["checks"],
            "reaction_s": round(reactions[0]["at_s"] - first_fault[0].at_s, 3),
        }
