"""A loopback HTTP server that answers every GET with 200 "ok": for tests whose subject is
the client (a health check, how a Locust process ends), not the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        return None


@contextmanager
def answering(address: str = "127.0.0.1") -> Iterator[str]:
    """Serve on address (a free port) until the block ends; yields the base URL."""
    with ThreadingHTTPServer((address, 0), _Ok) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://{address}:{server.server_address[1]}"
        finally:
            server.shutdown()
