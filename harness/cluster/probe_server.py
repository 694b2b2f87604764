"""One JvmProbe JVM (`JvmProbe --serve`) answers every JMX request this process makes of
the nodes on this machine: an operation (a context reload, a deployer check, a GC before a
heap reading). The lab's nodes are not read this way any more: each reads itself
(harness.cluster.readings).

Why one JVM: a probe JVM per request cost about 0.3 s of CPU before it did anything, and
a matrix on a reused lab would start them again for every cell. One JVM kept for the
process answers each request in a round trip: tens of milliseconds.

Only the lab's nodes are asked this way: their JMX agents share a port on different
loopback addresses, and the lab starts each node with `java.rmi.server.hostname` set to
its address so the server can tell them apart. An inventory's nodes are read by a probe on
their own host (harness.cluster.remote.jvm).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import itertools
import json
import logging
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import IO, Any

log = logging.getLogger(__name__)

# An RMI call to a node that stopped answering (a paused JVM) gives up after this long,
# so the request fails instead of hanging; the harness waits a little longer than that.
RESPONSE_TIMEOUT_MS = 15_000
SERVER_JVM_FLAGS = (
    f"-Dsun.rmi.transport.tcp.responseTimeout={RESPONSE_TIMEOUT_MS}",
    # --stop-agent runs `ManagementAgent.stop` through the attach API's jcmd entry point.
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
)
REPLY_TIMEOUT_S = 30.0
# close(): a request's reply is a round trip of milliseconds; one not back by then waits on
# a node that does not answer. With none asked, the server's own exit takes well under this.
CLOSE_GRACE_S = 1.0
EXIT_WAIT_S = 10.0


class ProbeServerError(RuntimeError):
    """A request the server could not answer; the message names the node and the cause."""


class ProbeServer:
    """The `JvmProbe --serve` process and its replies, matched to requests by id."""

    def __init__(self, java_argv: Sequence[str]) -> None:
        self._argv = [*java_argv, "--serve"]
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # request id -> (its node, its future, the server process it was sent to)
        self._pending: dict[str, tuple[str, Future[dict[str, Any]], subprocess.Popen[str]]] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []

    def ask(
        self, credentials: str, args: Sequence[str], timeout_s: float = REPLY_TIMEOUT_S
    ) -> dict[str, Any]:
        """Send one request (HOST:PORT and JvmProbe's options) and wait for its reply."""
        future = self.submit(credentials, args)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()  # its reply, if one comes, is dropped
            raise ProbeServerError(f"JvmProbe {args[0]}: no reply in {timeout_s:.0f} s") from None

    def submit(self, credentials: str, args: Sequence[str]) -> Future[dict[str, Any]]:
        """Send one request; its future holds the reply, or fails with ProbeServerError."""
        if any("\t" in part or "\n" in part for part in (credentials, *args)):
            raise ValueError("a JvmProbe request field holds a tab or a newline")
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            request_id = str(next(self._ids))
            try:
                proc = self._running()
                self._pending[request_id] = (args[0], future, proc)
                stdin = proc.stdin
                assert stdin is not None
                stdin.write("\t".join([request_id, credentials, *args]) + "\n")
                stdin.flush()
            except (OSError, ValueError) as error:
                self._pending.pop(request_id, None)
                self._proc = None  # gone: the next request starts another
                future.set_exception(ProbeServerError(f"JvmProbe {args[0]}: {error}"))
        return future

    def start(self) -> None:
        """Start its JVM now, not on the first request: one started with a lab's nodes
        fits its start in theirs, where the first reading waited for it (0.5 s of a
        bench's wait beyond its load, on 2 cores)."""
        with self._lock:
            self._running()

    def alive(self) -> bool:
        """Whether its JVM runs now (none is started by asking)."""
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        """End of stdin: the server answers what it was asked, then exits. A request still
        unanswered after CLOSE_GRACE_S waits on a node that does not answer (a paused JVM:
        the RMI timeout is 15 s), and no one waits for it any more: the server is ended,
        and the request fails, saying so. One its asker cancelled is not waited for."""
        with self._lock:
            proc, self._proc = self._proc, None
            asked = [future for _, future, sent_to in self._pending.values() if sent_to is proc]
        if proc is None:
            return
        _close_quietly(proc.stdin)
        if not asked:
            wait_s = EXIT_WAIT_S
        else:
            wait_s = CLOSE_GRACE_S if any(not future.done() for future in asked) else 0.0
        try:
            proc.wait(timeout=wait_s)
        except (OSError, subprocess.TimeoutExpired):
            self._fail_pending(proc, f"closed with no reply in {CLOSE_GRACE_S:g} s")
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _running(self) -> subprocess.Popen[str]:
        """The server process, started on the first request (or after one died)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stderr.clear()
        proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # the harness ends it (Ctrl-C reaches the harness only)
        )
        self._proc = proc
        stderr = threading.Thread(target=self._read_stderr, args=(proc,), daemon=True)
        replies = threading.Thread(target=self._read_replies, args=(proc, stderr), daemon=True)
        self._threads = [stderr, replies]
        for thread in self._threads:
            thread.start()
        return proc

    def _read_replies(self, proc: subprocess.Popen[str], stderr: threading.Thread) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                message = json.loads(line)
                request_id = str(message["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                log.debug("JvmProbe --serve said %r", line[:200])
                continue
            with self._lock:
                pending = self._pending.pop(request_id, None)
            if pending is None:
                continue
            target, future, _ = pending
            if future.done():
                continue  # its asker cancelled it
            if "error" in message:
                future.set_exception(ProbeServerError(f"JvmProbe {target}: {message['error']}"))
            else:
                future.set_result(message.get("reply") or {})
        proc.stdout.close()
        proc.wait()
        stderr.join(timeout=5)  # its last words name the cause
        self._fail_pending(proc)

    def _read_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.rstrip())
        proc.stderr.close()

    def _fail_pending(self, proc: subprocess.Popen[str], why: str | None = None) -> None:
        """The server ended (or is being ended: why): every request still waiting fails,
        naming why."""
        if why is None:
            said = "; ".join(self._stderr) or f"exit code {proc.returncode}"
            why = f"ended: {said[-300:]}"
        with self._lock:
            ended = [key for key, (_, _, sent_to) in self._pending.items() if sent_to is proc]
            pending = [self._pending.pop(key) for key in ended]
            if self._proc is proc:
                self._proc = None
            _close_quietly(proc.stdin)
        for target, future, _ in pending:
            if not future.done():
                future.set_exception(ProbeServerError(f"JvmProbe {target}: {why}"))


def _close_quietly(pipe: IO[str] | None) -> None:
    """Close the server's stdin; a server that died leaves a broken pipe, no matter."""
    if pipe is not None:
        with contextlib.suppress(OSError):
            pipe.close()


_SHARED: list[ProbeServer] = []  # none, or this process's one server
_SHARED_LOCK = threading.Lock()


def shared(java_argv: Sequence[str]) -> ProbeServer:
    """This process's server (one for every lab it reads), ended at exit or by close_shared."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(ProbeServer(java_argv))
        return _SHARED[0]


def running_shared() -> ProbeServer | None:
    """This process's server if its JVM runs (None starts nothing)."""
    with _SHARED_LOCK:
        server = _SHARED[0] if _SHARED else None
    return server if server is not None and server.alive() else None


def close_shared() -> None:
    """End the server (a lab going down); the next reading starts another."""
    with _SHARED_LOCK:
        servers = list(_SHARED)
        _SHARED.clear()
    for server in servers:
        server.close()


atexit.register(close_shared)
