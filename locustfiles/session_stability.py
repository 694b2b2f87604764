"""Session stability: does each user's session, and its data, survive what happens?

Each simulated user keeps its own cookie and requests /session.jsp; every reply
is classified (see session_tracking.py) as new, kept, data_lost, replayed,
session_lost or error. HTTP errors are failures of /session.jsp in Locust's stats;
lost sessions, lost data, replays and unreadable replies are failures of their own
(type SESSION, named by the outcome), so the web UI's Failures tab counts them.

    locust -f locustfiles/session_stability.py --host http://127.0.1.10:8080

Options (each with an environment twin):
  --session-records PATH   append one CSV row per request (LOCUST_SESSION_RECORDS)
  --session-wait SECONDS   pause between a user's requests (LOCUST_SESSION_WAIT)
  --scenario NAME          how session.jsp treats the session: counter, inplace, growing,
                           readonly or parallel:N (N requests of the session in flight at
                           once; lost updates counted exactly) (LOCUST_SCENARIO; see
                           session.jsp)
  --arrival-rate R         open model: R requests/s in all, each user on its own fixed
                           schedule (users / R apart), whatever the replies take; each
                           record keeps its intended send time and its latency corrected
                           for coordinated omission (LOCUST_ARRIVAL_RATE; 0: closed model)
  --source-net A.B         send each user's requests from its own address A.B.<n>.<m>,
                           n differing per user, so source-hash balancers (nginx ip_hash
                           uses three octets) spread users as they would real clients
                           (LOCUST_SOURCE_NET; loopback only, e.g. 127.100)
  TOMCAT_BENCH_SOURCE_ADDRESSES=a,b,c
                           (environment only) without --source-net, users take turns at
                           these addresses of the worker's host: an inventory's load host
                           sets it, its own, which a master's options cannot carry
  --session-size BYTES     ask session.jsp to keep a payload of this many bytes in each
                           session (?size=BYTES; LOCUST_SESSION_SIZE; 0: no payload)
  --session-hdr PATH       HDR latency histograms, merged across workers (LOCUST_SESSION_HDR)
  --ca-file PEM            an https host's certificate is verified against this CA (the
                           lab's throwaway CA with [tls]; LOCUST_CA_FILE); without it,
                           against the system's CAs. Certificates are always verified.
  --fault-control URL      the harness's fault control, for the Sessions tab's buttons
  --start-gate PATH        start up (imports, options), then wait until PATH exists before
                           any user starts (LOCUST_START_GATE): the harness launches Locust
                           while the cluster gets ready and opens the gate once it is

The web UI gets a "Sessions" tab (see session_webui.py). Distributed runs
(--master / --worker) work: each worker writes its own records file (PATH with
"-w<index>" before the suffix) and numbers its users from index * 1000 + 1.
"""

from __future__ import annotations

import itertools
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
import quick_exit  # noqa: F401  (leaves at once once Locust has shut down)
from geventhttpclient.client import HTTPClient, HTTPClientPool
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner
from session_records import RecordWriter
from session_tracking import (
    ANOMALIES,
    SCENARIO_CHOICES,
    UNFINISHED,
    ArrivalSchedule,
    ParallelTracker,
    Reply,
    ReplyReader,
    SessionTracker,
    check_scenario,
    parallel_width,
    parse_parallel_reply,
    parse_reply,
    session_path,
)
from session_webui import board_wanted, observe, worker_index
from source_addresses import user_source

# Users of worker i are numbered i * USERS_PER_WORKER + 1, ...: unique across workers,
# as the records and the merged Sessions tab need.
USERS_PER_WORKER = 1000

_user_ids = itertools.count(1)


def next_user_id(environment: Environment) -> int:
    n = next(_user_ids)
    index = worker_index(environment)
    if index is None:
        return n
    if n >= USERS_PER_WORKER:
        raise ValueError(f"more than {USERS_PER_WORKER - 1} users on one worker: add workers")
    return index * USERS_PER_WORKER + n


def records_path(path: str, environment: Environment) -> Path:
    """Each worker appends to its own file: several processes on one file would mix lines.
    A worker on another host writes into its own folder (TOMCAT_BENCH_WORKER_DIR, set by
    the harness that starts it), from which the harness fetches the file after the run."""
    index = worker_index(environment)
    plain = Path(path)
    if index is None:
        return plain
    folder = Path(os.environ.get("TOMCAT_BENCH_WORKER_DIR") or plain.parent)
    return folder / f"{plain.stem}-w{index}{plain.suffix}"


class SessionAnomaly(Exception):
    """A session reply that broke the user's session or its data (or was unreadable)."""


_writer: RecordWriter | None = None


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--session-records",
        env_var="LOCUST_SESSION_RECORDS",
        default="",
        help="CSV file to append one row per request to (session, node, counter, outcome)",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--session-wait",
        env_var="LOCUST_SESSION_WAIT",
        type=float,
        default=0.05,
        help="seconds each user waits between requests",
    )
    parser.add_argument(
        "--arrival-rate",
        env_var="LOCUST_ARRIVAL_RATE",
        type=float,
        default=0.0,
        help="open model: requests per second in all, on a fixed schedule (0: closed model)",
    )
    parser.add_argument(
        "--source-net",
        env_var="LOCUST_SOURCE_NET",
        default="",
        help="first two octets of each user's own loopback source address, e.g. 127.100",
    )
    parser.add_argument(
        "--scenario",
        env_var="LOCUST_SCENARIO",
        type=check_scenario,
        default="counter",
        help="how session.jsp treats the session: counter (setAttribute each request), "
        "inplace (a mutable attribute changed in place), growing (a cart that grows), "
        "readonly (set once, then only read), parallel:N (N requests in flight at once; "
        f"lost updates counted): {SCENARIO_CHOICES}",
    )
    parser.add_argument(
        "--ca-file",
        env_var="LOCUST_CA_FILE",
        default="",
        help="PEM file of the CA an https host's certificate is verified against "
        "(default: the system's CAs)",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--start-gate",
        env_var="LOCUST_START_GATE",
        default="",
        help="wait, once started up, until this file exists before any user starts",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--session-size",
        env_var="LOCUST_SESSION_SIZE",
        type=int,
        default=0,
        help="bytes of payload session.jsp keeps in each session (0: none)",
    )


# Long enough for any lab to come up; a harness that died meanwhile leaves no Locust behind.
GATE_TIMEOUT_S = 600.0


@events.init.add_listener
def _wait_at_gate(environment: Environment, **_: Any) -> None:
    """Before the users spawn and --run-time starts counting: the load's clock starts when
    the harness opens the gate, not when this process began importing."""
    path = getattr(environment.parsed_options, "start_gate", "")
    if not path:
        return
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"--start-gate {path}: not opened within {GATE_TIMEOUT_S:.0f} s")
        time.sleep(0.005)


@events.test_start.add_listener
def _open_records(environment: Environment, **_: Any) -> None:
    global _writer  # noqa: PLW0603
    path = getattr(environment.parsed_options, "session_records", "")
    # A master runs no users: its file would stay empty.
    if path and _writer is None and not isinstance(environment.runner, MasterRunner):
        _writer = RecordWriter(str(records_path(path, environment)))


# `quit`, not `quitting`: users still finish requests between the two, and every one of
# them reaches the HDR histogram, so every one must reach the records too.
@events.quit.add_listener
def _close_records(**_: Any) -> None:
    global _writer  # noqa: PLW0603
    if _writer is not None:
        _writer.close()
        _writer = None


class BoundClientPool(HTTPClientPool):
    """An HTTP client pool whose connections leave from one source address.

    geventhttpclient has no public option for it; its connection pool's socket
    factory is the one place to bind, so each new client gets a bound factory.
    """

    def __init__(self, source: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.source = source

    def get_client(self, url: Any) -> HTTPClient:
        client = super().get_client(url)
        pool = client._connection_pool
        # Called on every request: bind the pool's factory once, not a new one each time.
        if getattr(pool, "_bound_source", None) == self.source:
            return client
        pool._bound_source = self.source

        def bound_socket(family: int, socktype: int, protocol: int) -> gevent.socket.socket:
            sock = gevent.socket.socket(family, socktype, protocol)
            sock.bind((self.source, 0))
            return sock

        pool._create_tcp_socket = bound_socket  # type: ignore[method-assign]
        return client


def _schedule_for(environment: Environment, user_id: int) -> ArrivalSchedule | None:
    options = environment.parsed_options
    rate = float(getattr(options, "arrival_rate", 0.0) or 0.0) if options else 0.0
    if rate <= 0:
        return None
    users = max(int(getattr(options, "num_users", 1) or 1), 1)
    return ArrivalSchedule(interval_s=users / rate, user_index=user_id - 1, users=users)


def _scenario(environment: Environment) -> str:
    options = environment.parsed_options
    return str(getattr(options, "scenario", "counter") or "counter")


def verified_context(ca_file: str) -> Callable[..., ssl.SSLContext]:
    """An SSL context factory for geventhttpclient that always verifies the certificate
    and the host name, against ca_file if given (Locust's FastHttpUser verifies nothing
    unless told)."""

    def factory(cafile: str | None = None) -> ssl.SSLContext:
        return gevent.ssl.create_default_context(cafile=ca_file or cafile)

    return factory


class SessionUser(FastHttpUser):
    insecure = False

    def __init__(self, environment: Environment) -> None:
        self.user_id = next_user_id(environment)
        net = getattr(environment.parsed_options, "source_net", "") or ""
        listed = os.environ.get("TOMCAT_BENCH_SOURCE_ADDRESSES", "")
        self.source = user_source(net, self.user_id, listed)
        # One connection per request in flight: parallel:N keeps N.
        self.concurrency = parallel_width(_scenario(environment))
        ca_file = getattr(environment.parsed_options, "ca_file", "") or ""
        self.ssl_context_factory = verified_context(ca_file)
        if self.source:
            # Read by FastHttpUser.__init__ when it builds this user's client.
            self.client_pool = BoundClientPool(
                self.source,
                concurrency=self.concurrency,
                network_timeout=self.network_timeout,
                connection_timeout=self.connection_timeout,
                insecure=False,
                ssl_context_factory=self.ssl_context_factory,
            )
        super().__init__(environment)
        self.schedule = _schedule_for(environment, self.user_id)

    def wait_time(self) -> float:
        if self.schedule is not None:
            return self.schedule.wait()
        options = self.environment.parsed_options
        return float(getattr(options, "session_wait", 0.05)) if options else 0.05

    def on_start(self) -> None:
        options = self.environment.parsed_options
        scenario = _scenario(self.environment)
        self.tracker = SessionTracker(scenario)
        width = parallel_width(scenario)
        self.parallel = ParallelTracker(width) if width > 1 else None
        self.reader = ReplyReader()
        self.observe_board = board_wanted()  # settled at init, before any user starts
        size = int(getattr(options, "session_size", 0) or 0) if options else 0
        self.path = session_path(scenario, size)
        self.in_flight_since: float | None = None  # epoch of its oldest request in flight

    def on_stop(self) -> None:
        """A request still in flight when Locust stops the user (past --stop-timeout, or at
        once: Locust cuts a few off) never gets a record of its own; its user waited all
        the same. One row says how long, with outcome "unfinished": the harness keeps it
        apart from the requests."""
        sent = self.in_flight_since
        if sent is None or _writer is None:
            return
        now = time.time()
        _writer.add(
            (now, self.user_id, None, UNFINISHED, (now - sent) * 1000.0, 0, None, None, True,
             None)
        )  # fmt: skip

    @task
    def session_page(self) -> None:
        if self.parallel is not None:
            self.parallel_round(self.parallel)
            return
        intended = self.schedule.next_s if self.schedule is not None else None
        sent = self.in_flight_since = time.time()
        began = time.perf_counter()
        # Locust records the request by its HTTP status. No catch_response: its context
        # manager alone cost about 10% of Locust's requests/s (make perf); an anomaly is
        # reported as a failure entry of its own instead (_report_anomaly).
        # One name in Locust's stats whatever the payload size.
        try:
            response = self.client.get(self.path, name="/session.jsp")
        except Exception:
            # Over, if unreadable (Locust logs it): the pause that follows is no wait.
            self.in_flight_since = None
            raise
        latency_ms = (time.perf_counter() - began) * 1000.0
        self.in_flight_since = None
        status = response.status_code or 0
        reply, problem, plain = None, None, True
        if status == 200:
            body = response.content or b""
            # The fast path's fields need no CSV quoting; the JSON route's may.
            reply = self.reader.read(body)
            if reply is None:
                plain = False
                try:
                    reply = parse_reply(body)
                except ValueError as error:
                    problem = str(error)
        outcome = self.tracker.observe(reply)
        corrected = None
        if self.schedule is not None:
            corrected = latency_ms + self.schedule.sent(sent) * 1000.0
        self._account(
            reply, outcome, problem, latency_ms, status,
            plain=plain, intended=intended, corrected=corrected,
        )  # fmt: skip

    def parallel_round(self, tracker: ParallelTracker) -> None:
        """One round of the parallel scenario: its requests sent at once, as a page's XHRs,
        each judged as it comes; the next round starts when all are in."""
        ids = tracker.round_ids()
        self.in_flight_since = time.time()
        try:
            if len(ids) == 1:
                self._parallel_request(tracker, ids[0])
            else:
                gevent.joinall([gevent.spawn(self._parallel_request, tracker, i) for i in ids])
        except Exception:
            self.in_flight_since = None  # over, if unreadable: the pause after is no wait
            raise
        self.in_flight_since = None
        tracker.end_round()

    def _parallel_request(self, tracker: ParallelTracker, request_id: int) -> None:
        began = time.perf_counter()
        response = self.client.get(f"{self.path}&id={request_id}", name="/session.jsp")
        latency_ms = (time.perf_counter() - began) * 1000.0
        status = response.status_code or 0
        reply: Reply | None = None
        held = 0
        problem, plain = None, True
        if status == 200:
            try:
                reply, held, plain = parse_parallel_reply(response.content or b"")
            except ValueError as error:
                problem = str(error)
        outcome, lost = tracker.observe(reply, held)
        self._account(reply, outcome, problem, latency_ms, status, plain=plain, lost=lost)

    def _account(
        self,
        reply: Reply | None,
        outcome: str,
        problem: str | None,
        latency_ms: float,
        status: int,
        *,
        plain: bool = True,
        intended: float | None = None,
        corrected: float | None = None,
        lost: int | None = None,
    ) -> None:
        """Report an anomaly, show the reply on the Sessions tab, record the request."""
        if outcome in ANOMALIES:
            problem = outcome
        if problem is not None:
            self._report_anomaly(outcome, problem, latency_ms)
        now = time.time()
        if self.observe_board:
            observe(self.user_id, outcome, reply.node if reply else "", latency_ms, now)
        if _writer is not None:
            _writer.add(
                (now, self.user_id, reply, outcome, latency_ms, status, intended, corrected,
                 plain, lost)
            )  # fmt: skip

    def _report_anomaly(self, outcome: str, problem: str, latency_ms: float) -> None:
        """A reply that HTTP calls fine but the session check does not: a failure in
        Locust's stats named by its outcome (type SESSION), so the Failures tab counts it."""
        self.environment.events.request.fire(
            request_type="SESSION",
            name=outcome if outcome in ANOMALIES else "unreadable reply",
            response_time=latency_ms,
            response_length=0,
            exception=SessionAnomaly(problem),
            context={},
        )
