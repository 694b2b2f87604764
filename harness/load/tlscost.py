"""`make tls`: what HTTPS costs at the front, measured side by side in one lab per balancer.

The balancer serves HTTPS (the profile's [tls]) and, for this study only, plain HTTP on a
second port. In interleaved rounds, one client drives health.jsp through it four ways:
plain HTTP on kept-alive connections, TLS on kept-alive connections, TLS with a new
connection per request (a full handshake each), and TLS with a new connection per request
that resumes the previous session. For each: requests/s, and the balancer's CPU per
request from its own processes' CPU time, both as ratios to plain HTTP. Every TLS
connection verifies the balancer's certificate against the lab's CA. A study, not a test:
it asserts nothing, it reports.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from harness.cluster import Cluster, ClusterSpec
from harness.cluster.endpoints import client_context
from harness.cluster.https import HEALTH_PATH
from harness.config.profile import Profile
from harness.results.folders import RESULTS_DIR, new_run_dir
from harness.results.models import write_document
from harness.results.run_folder import iso, machine

TLS_FILE = "tls.json"
MODES = ("plain", "tls-keepalive", "tls-full-handshake", "tls-resumed")
# One client process: it cannot use more than one core (the GIL), so a mode whose client
# used this much of it was limited by the client, not the balancer.
CLIENT_BOUND_CORES = 0.9
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class TlsPlan:
    profile: Profile  # with [tls] enabled
    clusters: tuple[ClusterSpec, ...]  # one lab per balancer, each serving plain HTTP too
    duration_s: float = 5.0  # per mode and round
    rounds: int = 3
    clients: int = 4  # threads, each with its own connection
    results_dir: Path = RESULTS_DIR

    def __post_init__(self) -> None:
        if not self.profile.tls.enabled:
            raise ValueError(f"profile {self.profile.name}: [tls] enabled = true is needed")


class _Client:
    """One connection's worth of requests in one mode; the certificate always verified."""

    def __init__(self, url: str, mode: str, context: ssl.SSLContext) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.mode, self.context = mode, context
        self.connection: http.client.HTTPConnection | None = None
        self.session: ssl.SSLSession | None = None
        self.resumed = 0

    def _connect(self) -> http.client.HTTPConnection:
        if self.mode == "plain":
            return http.client.HTTPConnection(self.host, self.port, timeout=5)
        connection = http.client.HTTPSConnection(
            self.host, self.port, timeout=5, context=self.context
        )
        if self.mode == "tls-resumed" and self.session is not None:
            connection.sock = self.context.wrap_socket(
                _tcp(self.host, self.port), server_hostname=self.host, session=self.session
            )
            self.resumed += bool(connection.sock.session_reused)
        return connection

    def request(self) -> bool:
        """One GET of health.jsp; True for a 200. A new connection per request in the
        full-handshake and resumed modes (closed after the reply: the server's keep-alive
        is not used)."""
        try:
            # The resumed mode connects here, at once: a refusal is this request's error,
            # not the end of its thread and every count it had.
            if self.connection is None:
                self.connection = self._connect()
            self.connection.request("GET", HEALTH_PATH)
            reply = self.connection.getresponse()
            reply.read()
            ok = reply.status == 200
        except (OSError, http.client.HTTPException):
            self.close()
            return False
        if self.mode in ("tls-full-handshake", "tls-resumed"):
            sock = self.connection.sock
            if isinstance(sock, ssl.SSLSocket):
                self.session = sock.session
            self.close()
        return ok

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _tcp(host: str, port: int) -> Any:
    import socket  # noqa: PLC0415 (only the resumed mode opens its own socket)

    return socket.create_connection((host, port), timeout=5)


def _cpu_s(process: psutil.Process) -> float:
    """CPU seconds of a balancer: its process and its workers."""
    total = 0.0
    for part in (process, *process.children(recursive=True)):
        try:
            times = part.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@contextmanager
def _cpu_of(process: psutil.Process, into: dict[str, float]) -> Iterator[None]:
    balancer, client, began = _cpu_s(process), time.process_time(), time.monotonic()
    yield
    into["balancer_cpu_s"] = _cpu_s(process) - balancer
    into["client_cpu_s"] = time.process_time() - client
    into["seconds"] = time.monotonic() - began


def _drive(url: str, mode: str, plan: TlsPlan, context: ssl.SSLContext) -> dict[str, float]:
    """plan.clients threads requesting in one mode for plan.duration_s."""
    counts = {"requests": 0, "errors": 0, "resumed": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + plan.duration_s

    def loop() -> None:
        client, ok, bad = _Client(url, mode, context), 0, 0
        try:
            while time.monotonic() < deadline:
                if client.request():
                    ok += 1
                else:
                    bad += 1
        finally:  # whatever ended the thread, what it counted is counted
            client.close()
            with lock:
                counts["requests"] += ok
                counts["errors"] += bad
                counts["resumed"] += client.resumed

    threads = [threading.Thread(target=loop) for _ in range(plan.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {k: float(v) for k, v in counts.items()}


def _measure_balancer(cluster: Cluster, plan: TlsPlan, progress: Progress) -> dict[str, Any]:
    plain_url = cluster.plain_entry_url
    if plain_url is None:
        raise ValueError("the TLS study needs a balancer serving plain HTTP beside HTTPS")
    kind = "nginx" if "nginx" in cluster.processes() else "haproxy"
    process = psutil.Process(cluster.processes()[kind])
    context = client_context(cluster.ca_file)
    context.set_alpn_protocols(["http/1.1"])
    totals: dict[str, dict[str, float]] = {mode: {} for mode in MODES}
    for round_number in range(1, plan.rounds + 1):
        for mode in MODES:
            progress(f"{kind}: round {round_number}/{plan.rounds}: {mode}")
            url = plain_url if mode == "plain" else cluster.entry_url
            usage: dict[str, float] = {}
            with _cpu_of(process, usage):
                counts = _drive(url, mode, plan, context)
            for key, value in (counts | usage).items():
                totals[mode][key] = totals[mode].get(key, 0.0) + value
    return {"modes": {mode: _figures(t) for mode, t in totals.items()}}


def _figures(total: dict[str, float]) -> dict[str, Any]:
    requests, seconds = total["requests"], total["seconds"]
    new_connections = requests + total["errors"]
    return {
        "requests": int(requests),
        "errors": int(total["errors"]),
        "requests_per_s": requests / seconds if seconds else 0.0,
        "balancer_cpu_ms_per_request": 1000 * total["balancer_cpu_s"] / requests
        if requests
        else None,
        "client_cores": total["client_cpu_s"] / seconds if seconds else 0.0,
        "client_bound": seconds > 0 and total["client_cpu_s"] / seconds >= CLIENT_BOUND_CORES,
        "resumed_share": total["resumed"] / new_connections if new_connections else 0.0,
    }


def ratios(modes: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each TLS mode against plain HTTP: requests/s and the balancer's CPU per request."""
    plain = modes["plain"]
    out: dict[str, dict[str, float | None]] = {}
    for mode, figures in modes.items():
        if mode == "plain":
            continue
        cpu, base = figures["balancer_cpu_ms_per_request"], plain["balancer_cpu_ms_per_request"]
        out[mode] = {
            "requests_per_s": figures["requests_per_s"] / plain["requests_per_s"]
            if plain["requests_per_s"]
            else None,
            "balancer_cpu_per_request": cpu / base if cpu and base else None,
        }
    return out


def run_tls_study(plan: TlsPlan, progress: Progress = _quiet) -> dict[str, Any]:
    """Each balancer's lab up in turn, its four modes measured, the lab down."""
    run_dir = new_run_dir("tls", plan.results_dir)
    began = time.time()
    results: dict[str, Any] = {}
    for spec in plan.clusters:
        progress(f"{spec.balancer}: lab up")
        cluster = spec.up(plan.profile, progress=progress)
        try:
            measured = _measure_balancer(cluster, plan, progress)
            tls = cluster.describe().get("tls") or {}
        finally:
            cluster.down()
        results[spec.balancer] = measured | {
            "ratios": ratios(measured["modes"]),
            "tls": {k: v for k, v in tls.items() if k not in ("ca_file", "plain_port")},
        }
    data = {
        "schema": "tomcat-bench/tls",
        "schema_version": 1,
        "run_dir": str(run_dir),
        "started": iso(began),
        "profile": plan.profile.name,
        "duration_s": plan.duration_s,
        "rounds": plan.rounds,
        "clients": plan.clients,
        "path": HEALTH_PATH,
        "machine": machine(),
        "balancers": results,
    }
    write_document(run_dir / TLS_FILE, data, "tls")
    return data
