"""Memory per session: N sessions of a realistic shape, in each layout, in a fresh server.

A session here has the attributes a shop's session carries (user, roles, CSRF token,
locale, last-seen time, preferences, a cart): about 2 KB in all. It is stored
- as one plain value (its attributes serialized together) in Redis and in memcached;
- as a Redis hash, one field per attribute, which is how Redisson stores a session.
Bytes per session come from each server's own accounting (Redis INFO memory
used_memory; memcached `stats` bytes and `stats slabs` total_malloced) and from the
process's RSS, each as the difference before and after the N sessions, divided by N.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.cluster.endpoints import Endpoint
from harness.storebench.servers import MemcachedServer, RedisServer, Running, Server, rss_bytes

BATCH = 500
LAYOUTS = ("redis-plain", "redis-hash", "memcached-plain")


def session_attributes(i: int) -> dict[str, bytes]:
    """Session number i: deterministic (a restart case checks content), made of text that
    looks like real ids. Its random text comes from one hash draw and its JSON is
    formatted directly: 100k sessions are made in seconds, not minutes."""
    text = base64.b64encode(hashlib.shake_128(b"%d" % i).digest(1200), altchars=b"-_")
    at = 0

    def token(n: int) -> bytes:
        nonlocal at
        at += n
        return text[at - n : at]

    items = b",".join(
        b'{"sku":"%s","name":"%s","qty":%d,"price_cents":%d}'
        % (token(10), token(20 + text[at] % 16), 1 + (i + k) % 5, 100 + text[at + 1] * 97)
        for k in range(12)
    )
    recent = b",".join(b'"%s"' % token(12) for _ in range(12))
    return {
        "user": b'{"id":%d,"name":"user%d","email":"%s@example.org","display":"%s"}'
        % (i, i, token(8), token(24)),
        "roles": b'["customer","newsletter"]',
        "csrf": token(43),
        "locale": b"en_US",
        "last_seen": b"%d" % (1_763_900_000 + i),
        "prefs": b'{"theme":"dark","currency":"EUR","recent":[%s]}' % recent,
        "cart": b"[%s]" % items,
    }


def plain_value(attributes: dict[str, bytes]) -> bytes:
    """All attributes as one JSON object (JSON values embedded, the rest as strings)."""
    return b"{%s}" % b",".join(
        b'"%s":%s' % (k.encode(), v if v[:1] in b"[{" else b'"%s"' % v)
        for k, v in attributes.items()
    )


def session_key(i: int) -> str:
    return f"session:{i:08d}"


def batches(n: int) -> Iterator[range]:
    for start in range(0, n, BATCH):
        yield range(start, min(start + BATCH, n))


def write_sessions(server: Server, layout: str, n: int) -> None:
    if isinstance(server, RedisServer):
        with server.client(timeout=60) as conn:
            for batch in batches(n):
                pipe = conn.pipeline(transaction=False)
                for i in batch:
                    attributes = session_attributes(i)
                    if layout == "redis-hash":
                        pipe.hset(session_key(i), mapping=attributes)
                    else:
                        pipe.set(session_key(i), plain_value(attributes))
                pipe.execute()
        return
    client = server.client(timeout=60)
    try:
        for batch in batches(n):
            values = {session_key(i): plain_value(session_attributes(i)) for i in batch}
            failed = client.set_many(values, noreply=False)
            if failed:
                raise RuntimeError(f"{server.name}: {len(failed)} sessions not stored")
    finally:
        client.close()


def _accounting(server: Server) -> dict[str, int]:
    assert server.record is not None
    counts = {"rss": rss_bytes(server.record)}
    if isinstance(server, RedisServer):
        counts["used_memory"] = int(server.info("memory")["used_memory"])
        counts["items"] = int(server.info("keyspace").get("db0", {}).get("keys", 0))
    else:
        stats, slabs = server.stats(), server.stats("slabs")
        counts["bytes"] = int(stats["bytes"])
        counts["total_malloced"] = int(slabs["total_malloced"])
        counts["items"] = int(stats["curr_items"])
    return counts


def measure(server: Server, layout: str, n: int) -> dict[str, Any]:
    """Write n sessions into a fresh server and return bytes per session by each measure."""
    before = _accounting(server)
    write_sessions(server, layout, n)
    after = _accounting(server)
    sample = session_attributes(0)
    row: dict[str, Any] = {
        "layout": layout,
        "sessions": n,
        "items_stored": after["items"] - before["items"],
        "payload_bytes_per_session": len(session_key(0)) + len(plain_value(sample)),
        "attribute_bytes_per_session": sum(len(k) + len(v) for k, v in sample.items()),
        "rss_bytes_per_session": round((after["rss"] - before["rss"]) / n, 1),
    }
    if isinstance(server, RedisServer):
        row["server_bytes_per_session"] = round(
            (after["used_memory"] - before["used_memory"]) / n, 1
        )
        row["server_measure"] = "INFO memory used_memory"
        with server.client() as conn:
            encoding = conn.object("encoding", session_key(0))
            row["encoding"] = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    else:
        row["server_bytes_per_session"] = round(
            (after["total_malloced"] - before["total_malloced"]) / n, 1
        )
        row["server_measure"] = "stats slabs total_malloced"
        row["item_bytes_per_session"] = round((after["bytes"] - before["bytes"]) / n, 1)
    return row


def run_memory(
    directory: Path,
    redis_at: Endpoint,
    memcached_at: Endpoint,
    n: int,
    *,
    memcached_threads: int,
    running: Running,
) -> list[dict[str, Any]]:
    """Each layout in its own fresh server, so neither RSS nor allocator state carries over."""
    rows = []
    for layout in LAYOUTS:
        server: Server
        if layout.startswith("redis"):
            server = RedisServer(f"redis-{layout}", directory / layout, redis_at)
        else:
            memory_mb = max(256, n * 6 * 1024 // (1 << 20))
            server = MemcachedServer(
                layout,
                directory / layout,
                memcached_at,
                memory_mb=memory_mb,
                threads=memcached_threads,
            )
        running.start(server)
        try:
            rows.append(measure(server, layout, n))
        finally:
            running.stop(server)
    return rows
