"""A small stand-in for session.jsp on loopback, with faults we can inject.

It answers like session.jsp (a JSON reply naming the session, the node and the session's
counter; a JSESSIONID cookie for a new session), over HTTP/1.1 keep-alive, so wrk and
Locust drive it exactly as they drive Tomcat. Two faults Tomcat cannot be asked for:
  lose_every=N  the update that makes a counter a multiple of N is not stored, so the
                next reply repeats that value (a lost update, "data_lost")
  delay_s=D     every reply takes at least D seconds (a slow server, for latency tests)
  forget_at=N   a session that reached counter N is forgotten: the next request gets a new
                session (a lost session, "session_lost")
  error_every=N every N-th request is answered 502 and changes nothing (a balancer's error)
  rewrite_at=N  from counter N on, the session id's "-n1" suffix reads "-n2", as
                memcached-session-manager rewrites it on failover: the same session
  hang_after=N  every request after the N-th is held without a reply until the server
                stops (a node stopped with SIGSTOP, seen from the client)
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple


class _Sessions:
    def __init__(self, lose_every: int | None, forget_at: int | None) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.lost: set[tuple[str, int]] = set()
        self.forgotten: set[str] = set()
        self.clients: set[str] = set()  # source addresses seen
        self.lose_every = lose_every
        self.forget_at = forget_at

    def next(self, session: str | None) -> tuple[str, int, bool]:
        with self.lock:
            if session is not None and self.counters.get(session) == self.forget_at:
                del self.counters[session]
                self.forgotten.add(session)
            new = session is None or session not in self.counters
            sid = secrets.token_hex(16).upper() if new else session
            assert sid is not None
            counter = self.counters.get(sid, 0) + 1
            lose = (
                self.lose_every is not None
                and counter % self.lose_every == 0
                and (sid, counter) not in self.lost
            )
            if lose:
                self.lost.add((sid, counter))
            else:
                self.counters[sid] = counter
            return sid, counter, new


class _Faults(NamedTuple):
    delay_s: float
    error_every: int | None
    rewrite_at: int | None
    hang_after: int | None
    stopping: threading.Event  # set when the server stops: a held request is let go


def _handler(sessions: _Sessions, faults: _Faults) -> type[BaseHTTPRequestHandler]:
    served = iter(range(1, 10**12))
    delay_s, error_every, rewrite_at = faults.delay_s, faults.error_every, faults.rewrite_at

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def do_GET(self) -> None:
            cookie = self.headers.get("Cookie", "")
            current = None
            for part in cookie.split(";"):
                name, _, value = part.strip().partition("=")
                if name == "JSESSIONID":
                    current = value.split(".", 1)[0].split("-", 1)[0]
            sessions.clients.add(self.client_address[0])
            number = next(served)
            if faults.hang_after is not None and number > faults.hang_after:
                faults.stopping.wait(60.0)
                return
            if error_every and number % error_every == 0:
                self._error()
                return
            sid, counter, new = sessions.next(current)
            if delay_s:
                time.sleep(delay_s)
            suffix = "-n2" if rewrite_at and counter >= rewrite_at else "-n1" if rewrite_at else ""
            full = f"{sid}{suffix}.stub"
            body = json.dumps(
                {"session": full, "node": "stub", "counter": counter, "new": new},
                separators=(",", ":"),
            ).encode()
            self.send_response(200)
            if new or (rewrite_at and counter == rewrite_at):
                self.send_header("Set-Cookie", f"JSESSIONID={full}; Path=/; HttpOnly")
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self) -> None:
            body = b"<html>502 Bad Gateway</html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@contextmanager
def session_server(
    address: str,
    port: int = 8080,
    *,
    lose_every: int | None = None,
    forget_at: int | None = None,
    delay_s: float = 0.0,
    error_every: int | None = None,
    rewrite_at: int | None = None,
    hang_after: int | None = None,
) -> Iterator[_Sessions]:
    """Serve on address:port in a thread until the block ends; yields the session table."""
    sessions = _Sessions(lose_every, forget_at)
    stopping = threading.Event()
    handler = _handler(sessions, _Faults(delay_s, error_every, rewrite_at, hang_after, stopping))
    server = ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="session-server", daemon=True)
    thread.start()
    try:
        yield sessions
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
