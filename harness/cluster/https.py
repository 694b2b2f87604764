"""What a balancer's HTTPS really offers, read back by handshaking with it: the protocol and
cipher a current client gets, whether HTTP/2 is offered, and whether a session resumes."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.cluster.endpoints import client_context

HEALTH_PATH = "/health.jsp"


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443


def _handshake(
    url: str,
    context: ssl.SSLContext,
    session: ssl.SSLSession | None = None,
    *,
    request: bool = False,
) -> ssl.SSLSocket:
    """A verified TLS connection to url (closed by the caller); with request, one GET of
    health.jsp read to its end, so a TLS 1.3 server's session ticket has arrived."""
    host, port = _address(url)
    raw = socket.create_connection((host, port), timeout=5)
    tls = context.wrap_socket(raw, server_hostname=host, session=session)
    if request:
        head = f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        tls.sendall(head.encode())
        while tls.recv(65536):
            pass
    return tls


def read_back(url: str, ca_file: Path | None) -> dict[str, Any]:
    """The balancer's HTTPS as a client sees it (the certificate verified against
    ca_file): protocol, cipher, ALPN's choice when h2 is offered, and whether a second
    connection resumes the first one's session."""
    offering_h2 = client_context(ca_file)
    offering_h2.set_alpn_protocols(["h2", "http/1.1"])
    with _handshake(url, offering_h2) as first:
        seen: dict[str, Any] = {
            "protocol": first.version(),
            "cipher": (first.cipher() or ("",))[0],
            "alpn": first.selected_alpn_protocol(),
        }
    context = client_context(ca_file)
    context.set_alpn_protocols(["http/1.1"])
    with _handshake(url, context, request=True) as fresh:
        session = fresh.session
    with _handshake(url, context, session) as again:
        seen["resumes"] = again.session_reused
    return seen


def mismatches(wanted: dict[str, Any], seen: dict[str, Any]) -> list[str]:
    """Where the balancer's HTTPS is not what the profile's [tls] asks for."""
    wrong = []
    if seen["protocol"] not in wanted["protocols"]:
        wrong.append(f"protocol {seen['protocol']}, not one of {', '.join(wanted['protocols'])}")
    if wanted["http2"] != (seen["alpn"] == "h2"):
        wrong.append(f"http2 {wanted['http2']}, but ALPN chose {seen['alpn'] or 'nothing'}")
    if wanted["session_resumption"] != seen["resumes"]:
        asked = wanted["session_resumption"]
        wrong.append(f"session_resumption {asked}, but resumed: {seen['resumes']}")
    return wrong
