"""python -m harness webui: a cluster (the embedded lab by default) plus Locust's web UI
with its Sessions tab.

Brings the cluster up, starts a fault control (a small HTTP endpoint on the harness's own
loopback address, which the Sessions tab's buttons reach through Locust), starts
Locust's web UI (alone, or a master with N workers) and waits. Ctrl-C (or Locust
quitting) stops Locust, then the lab, and writes results/<UTC>-webui/ like a bench:
every fault clicked in the UI is in run.json with the time it was delivered.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

from harness.cluster import Cluster, ClusterError, ClusterSpec
from harness.config.faults import FaultSpec
from harness.config.profile import Profile
from harness.load.bench import profile_section
from harness.load.locust import SESSION_LOCUSTFILE, Sessions, locust_command
from harness.paths import REPO_ROOT
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.judgement import Judgement
from harness.results.raw_records import first_epoch
from harness.results.run_folder import HDR_FILE, iso
from harness.results.session_run import finish_session_run, read_raw

log = logging.getLogger(__name__)

LOCUSTFILE = SESSION_LOCUSTFILE
WEB_PORT = 8089
CONTROL_PORT = 8090
MASTER_PORT = 5557
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
RAW_GLOB = "requests.raw*.csv"
# What the Sessions tab offers per node; "start" restores a node killed from the tab.
ACTIONS = {"sigkill": "SIGKILL", "restart": "restart", "start": "start"}


@dataclass(frozen=True, kw_only=True)
class WebUIPlan:
    profile: Profile
    cluster: ClusterSpec
    host: str  # where the web UI and the fault control listen (a loopback address)
    workers: int = 0  # 0: one Locust process; N: a master and N workers
    users: int = 20  # prefilled in the start form
    spawn_rate: float = 20.0
    wait_s: float = 0.05
    source_net: str | None = "127.100"
    results_dir: Path = RESULTS_DIR
    web_port: int = WEB_PORT
    control_port: int = CONTROL_PORT
    master_port: int = MASTER_PORT

    def __post_init__(self) -> None:
        if not 0 <= self.workers <= 8:
            raise ValueError(f"WORKERS={self.workers}: 0 (one process) to 8 workers")

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"


# -- the fault control ----------------------------------------------------------------


class FaultControl:
    """Faults on demand, delivered off the HTTP thread, each recorded with its wall time."""

    def __init__(self, cluster: Cluster, host: str, port: int) -> None:
        self.cluster = cluster
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-faults")
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def targets(self) -> list[str]:
        return self.cluster.node_names()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._worker.shutdown(wait=True)  # a restart in progress finishes first

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.events]

    def trigger(self, action: str, target: str) -> dict[str, Any]:
        """Deliver one fault now; ValueError says why it cannot be done."""
        if action not in ACTIONS:
            raise ValueError(f"action {action!r}: one of {', '.join(ACTIONS)}")
        if target not in self.targets():
            raise ValueError(f"target {target!r}: one of {', '.join(self.targets())}")
        with self._lock:
            if action == "start":
                return self._restore(target)
            now = time.time()
            event = {
                "epoch": now,
                "at_utc": iso(now),
                "target": target,
                "action": action,
                "source": "web UI",
                "restored_epoch": None,
            }
            self.events.append(event)
        self._worker.submit(self._deliver, event, FaultSpec(action, target, 0.0))
        return dict(event)

    def _restore(self, target: str) -> dict[str, Any]:
        killed = [e for e in self.events if e["target"] == target and e["action"] == "sigkill"]
        if not killed or killed[-1]["restored_epoch"] is not None:
            raise ValueError(f"{target} was not killed from here: nothing to start")
        event = killed[-1]
        now = time.time()
        event |= {"restored_epoch": now, "restored_at_utc": iso(now), "restore": "start"}
        self._worker.submit(self._deliver, event, FaultSpec("sigkill", target, 0.0, 1.0), True)
        return dict(event)

    def _deliver(self, event: dict[str, Any], spec: FaultSpec, restoring: bool = False) -> None:
        try:
            if restoring:
                self.cluster.restore(spec)
            else:
                self.cluster.deliver(spec)
            log.info("%s %s %s", "restored" if restoring else "fault", spec.action, spec.target)
        except (ClusterError, OSError) as error:
            # A fault that cannot be delivered is a finding of the run, as in a bench.
            log.warning("%s %s failed: %s", spec.action, spec.target, error)
            with self._lock:
                event["restore_error" if restoring else "fault_error"] = str(error)

    def results(self, start_epoch: float) -> list[dict[str, Any]]:
        """The events in the results format (times in seconds from the run's start)."""

        def rel(epoch: float | None) -> float | None:
            return None if epoch is None else round(epoch - start_epoch, 3)

        out = []
        for e in self.snapshot():
            item = {
                "at_s": rel(e["epoch"]),
                "target": e["target"],
                "action": e["action"],
                "restored_at_s": rel(e["restored_epoch"]),
                "source": e["source"],
                "at_utc": e["at_utc"],
            }
            for key in ("restore", "restored_at_utc", "fault_error", "restore_error"):
                if key in e:
                    item[key] = e[key]
            out.append(item)
        return out


def _handler(control: FaultControl) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/targets":
                self._reply(200, {"targets": control.targets(), "actions": ACTIONS})
            elif self.path == "/faults":
                self._reply(200, {"faults": control.snapshot()})
            else:
                self._reply(404, {"ok": False, "error": f"no {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/faults":
                self._reply(404, {"ok": False, "error": f"no {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                event = control.trigger(str(body.get("action")), str(body.get("target")))
            except (ValueError, AttributeError) as error:
                self._reply(400, {"ok": False, "error": str(error)})
                return
            self._reply(200, {"ok": True, "event": event})

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("fault control: " + format, *args)

    return Handler


# -- Locust processes -------------------------------------------------------------


def master_command(
    plan: WebUIPlan,
    run_dir: Path,
    entry_url: str,
    control_url: str,
    ca_file: Path | None = None,
) -> list[str]:
    sessions = Sessions(
        records=run_dir / "requests.raw.csv",
        hdr=run_dir / HDR_FILE,
        wait_s=plan.wait_s,
        source_net=plan.source_net,
        fault_control=control_url,
        ca_file=ca_file,
    )
    return locust_command(
        LOCUSTFILE,
        host=entry_url,
        web=(plan.host, plan.web_port),
        users=plan.users,
        spawn_rate=plan.spawn_rate,
        csv_prefix=run_dir / "locust",
        full_history=True,
        master=(plan.host, plan.master_port) if plan.workers else None,
        extra=sessions.options(),
    )


def worker_command(plan: WebUIPlan) -> list[str]:
    return locust_command(LOCUSTFILE, worker_of=(plan.host, plan.master_port))


def _web_ready(plan: WebUIPlan) -> bool:
    """The UI answers, and a master sees all its workers."""
    try:
        with urllib.request.urlopen(f"{plan.web_url}/stats/requests", timeout=2) as reply:  # noqa: S310
            stats = json.loads(reply.read())
    except (OSError, ValueError):
        return False
    return not plan.workers or int(stats.get("worker_count") or 0) >= plan.workers


def _wait_ready(plan: WebUIPlan, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _web_ready(plan):
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"locust exited early with code {proc.returncode}; see locust.log"
                )
        if time.monotonic() > deadline:
            raise RuntimeError(f"Locust's web UI not ready within {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Master first (it tells the workers to quit and collects their last reports)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- the run ------------------------------------------------------------------------


@dataclass
class WebUIResult:
    run_dir: Path
    summary: dict[str, Any]
    verdict: dict[str, Any]


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """A second Ctrl-C must not cut the teardown (or the results) short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_webui(
    plan: WebUIPlan, *, progress: Callable[[str], None], ready: Callable[[str], None]
) -> WebUIResult:
    """Serve the web UI until Ctrl-C or Locust quits; then write and return the results."""
    procs: list[subprocess.Popen[bytes]] = []
    control: FaultControl | None = None
    progress("getting the cluster ready")
    cluster = plan.cluster.up(plan.profile, progress=progress)
    try:
        run_dir = new_run_dir("webui", plan.results_dir)
        control = FaultControl(cluster, plan.host, plan.control_port)
        control.start()
        launched = time.time()
        with (run_dir / "locust.log").open("wb") as out:
            try:
                _serve(
                    plan,
                    run_dir,
                    urls=(cluster.entry_url, control.url),
                    ca_file=cluster.ca_file,
                    out=out,
                    procs=procs,
                    progress=progress,
                    ready=ready,
                )
            except KeyboardInterrupt:
                log.info("stopping Locust, then the lab")
    finally:
        with _no_interrupts():
            _stop(procs)
            if control is not None:
                control.stop()
            cluster.down()
    end_epoch = time.time()
    with _no_interrupts():
        return _write_results(
            plan, run_dir, cluster=cluster, control=control, launched=launched, end_epoch=end_epoch
        )


def _serve(
    plan: WebUIPlan,
    run_dir: Path,
    *,
    urls: tuple[str, str],
    ca_file: Path | None,
    out: IO[bytes],
    procs: list[subprocess.Popen[bytes]],
    progress: Callable[[str], None],
    ready: Callable[[str], None],
) -> None:
    """Start Locust (procs is filled as they start, so a Ctrl-C still stops them all)."""
    commands = [master_command(plan, run_dir, *urls, ca_file=ca_file)]
    commands += [worker_command(plan)] * plan.workers
    for command in commands:
        procs.append(
            subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
            )
        )
    progress("starting Locust")
    _wait_ready(plan, procs)
    ready(plan.web_url)
    while procs[0].poll() is None:
        time.sleep(0.2)


def _write_results(
    plan: WebUIPlan,
    run_dir: Path,
    *,
    cluster: Cluster,
    control: FaultControl,
    launched: float,
    end_epoch: float,
) -> WebUIResult:
    raws = sorted(run_dir.glob(RAW_GLOB))
    # The run starts with its first request (or a fault clicked before any): the time
    # spent on the start form is not part of it.
    starts = [e["epoch"] for e in control.snapshot()]
    first = first_epoch(raws)
    start_epoch = min([*starts, *([first] if first is not None else [])], default=launched)
    load: dict[str, Any] = {
        "tool": "locust",
        "mode": "web UI",
        "locustfile": str(LOCUSTFILE.relative_to(REPO_ROOT)),
        "workers": plan.workers,
        # From the first request to the end: the time on the start form is not load.
        "duration_s": round(end_epoch - start_epoch, 1),
        "wait_s": plan.wait_s,
        "source_net": plan.source_net,
    }

    def users_judged(summary: dict[str, Any], _: Judgement) -> None:
        load["users"] = summary["users"]  # everyone who sent a request, not the form's number

    run = finish_session_run(
        run_dir,
        read_raw(raws, start_epoch),
        start_epoch=start_epoch,
        end_epoch=end_epoch,
        faults=control.results(start_epoch),
        balancer=plan.cluster.balancer,
        sessions=plan.cluster.sessions,
        sections={
            "profile": profile_section(plan.profile),
            "lab": cluster.describe(),
            "load": load,
            "versions": {**cluster.versions(), "locust": version("locust")},
        },
        files={"locust_stats": "locust_stats.csv", "locust_log": "locust.log"},
        hdr_from_records=False,  # Locust wrote it as it ran (the Sessions tab shows it)
        extras=users_judged,
    )
    return WebUIResult(run_dir=run.run_dir, summary=run.summary, verdict=run.verdict)
