"""An address and port of a part of the cluster, and whether something listens there."""

from __future__ import annotations

import socket
from dataclasses import dataclass


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
