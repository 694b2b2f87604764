"""An address and port of a part of the cluster, and whether something listens there."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


def is_listening(endpoint: Endpoint) -> bool:
    try:
        with socket.create_connection((endpoint.address, endpoint.port), timeout=0.5):
            return True
    except OSError:
        return False


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Certificates verified, against ca_file (the lab's throwaway CA) or the system's."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def get_json(url: str, timeout: float = 2.0, ca_file: Path | None = None) -> dict[str, Any]:
    context = client_context(ca_file) if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=timeout, context=context) as reply:  # noqa: S310 (the cluster's own URLs)
        data: dict[str, Any] = json.loads(reply.read())
        return data


def free_port(address: str) -> int:
    """A TCP port nothing listens on at address now (for a listener started next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port
