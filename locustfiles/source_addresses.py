"""Which address a simulated user sends from, so source-hash balancers (nginx ip_hash,
haproxy balance source, LVS sh) spread users as they would real clients. Plain Python:
the harness's tests import it without Locust's monkey-patching."""

from __future__ import annotations


def source_address(net: str, user_id: int) -> str:
    """User 1 -> A.B.1.1, user 250 -> A.B.250.1, user 251 -> A.B.1.2: the third octet
    differs between neighbouring users, as ip_hash needs."""
    third, fourth = (user_id - 1) % 250 + 1, (user_id - 1) // 250 + 1
    if fourth > 254:
        raise ValueError(f"--source-net {net}: more than {250 * 254} users")
    return f"{net}.{third}.{fourth}"


def user_source(net: str, user_id: int, addresses: str) -> str | None:
    """The address a user sends from: its own under --source-net, else its turn at the
    host's listed addresses (comma-separated), else the system's choice (None)."""
    if net:
        return source_address(net, user_id)
    listed = [a.strip() for a in addresses.split(",") if a.strip()]
    return listed[(user_id - 1) % len(listed)] if listed else None
