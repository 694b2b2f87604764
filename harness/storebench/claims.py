"""The guide's claims about Redis and Memcached, judged on one storebench's numbers.

Pure functions over the recorded rows (cells, native, memory, restart, e2e), so the
logic is tested on a small recorded fixture and a report can be rebuilt from a
results folder. Each verdict is "holds", "does not hold", "holds only for ...", or
"not measured", with the numbers it rests on.

"Faster per core" is judged by the server's CPU time per operation (what a core
spends on one request, independent of the client's speed): a store is cheaper at a
size when the median memcached/Redis ratio over that size's cells (SET and GET, every
concurrency, native tools and Python clients) lies beyond EQUAL_WITHIN; inside it the
two are equal within the noise of a shared machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from harness.storebench.cells import human_size

EQUAL_WITHIN = 1.15  # ratios inside [1/1.15, 1.15] are "equal within noise"
MEMORY_MARGIN = 1.05  # a memory saving under 5% is no saving
MAX_MISS_SHARE = 0.01  # cells with more misses than this are left out of the comparison
LARGE = 100 * 1024  # the guide's "100 KB and above"
CLAIMS_FILE = "claims.json"  # the guide's claims, judged
OLD_CLAIMS_FILE = "verdicts.json"  # its name before, still read
# Several instances are compared with this: as many tool processes, one Redis instance.
CONTROL = "redis-one-instance"

Row = dict[str, Any]


def _median(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _pairs(rows: Sequence[Row], size: int, source: str) -> list[tuple[Row, Row]]:
    """(redis, memcached) rows measured alike: same source, op, size and concurrency."""
    by_key: dict[tuple[str, str, int], dict[str, Row]] = {}
    for row in rows:
        if row["size"] != size or row.get("skipped") or not row.get("server_cpu_us_per_op"):
            continue
        if row.get("source", "python") != source:
            continue
        if row["store"] not in ("redis", "memcached"):
            continue  # several Redis instances are judged on their own
        if row.get("misses", 0) > MAX_MISS_SHARE * (row.get("ops", 0) + row.get("misses", 0)):
            continue  # a cheap miss would flatter the CPU per op
        key = (row.get("source", "python"), row["op"], row["conns"])
        by_key.setdefault(key, {})[row["store"]] = row
    return [(v["redis"], v["memcached"]) for v in by_key.values() if len(v) == 2]


def cpu_per_op_by_size(rows: Sequence[Row]) -> list[Row]:
    """Per size: median server CPU/op of each store and the median memcached/Redis ratio."""
    out = []
    for size in sorted({r["size"] for r in rows}):
        # The native tools' cells only: the Python clients' are bound by the client, so
        # the server's CPU per operation there measures how fast the client fed it.
        pairs = _pairs(rows, size, "native")
        if not pairs:
            continue
        ratio = _median(m["server_cpu_us_per_op"] / r["server_cpu_us_per_op"] for r, m in pairs)
        assert ratio is not None
        cheaper = "equal"
        if ratio > EQUAL_WITHIN:
            cheaper = "redis"
        elif ratio < 1 / EQUAL_WITHIN:
            cheaper = "memcached"
        out.append(
            {
                "size": size,
                "cells": len(pairs),
                "redis_us": _median(r["server_cpu_us_per_op"] for r, _ in pairs),
                "memcached_us": _median(m["server_cpu_us_per_op"] for _, m in pairs),
                "ratio_memcached_to_redis": round(ratio, 3),
                "cheaper": cheaper,
            }
        )
    return out


def _per_core_line(item: Row) -> str:
    return (
        f"{human_size(item['size'])}: server CPU per op Redis {item['redis_us']:.1f} us, "
        f"memcached {item['memcached_us']:.1f} us (memcached/Redis "
        f"{item['ratio_memcached_to_redis']:.2f}x, median of {item['cells']} cells): "
        + {"redis": "Redis cheaper", "memcached": "memcached cheaper", "equal": "equal"}[
            item["cheaper"]
        ]
    )


def _judge_sizes(by_size: Sequence[Row], winner: str) -> tuple[str, list[str]]:
    if not by_size:
        return "not measured", []
    wins = [human_size(i["size"]) for i in by_size if i["cheaper"] == winner]
    lines = [_per_core_line(i) for i in by_size]
    if len(wins) == len(by_size):
        return "holds", lines
    if not wins:
        return "does not hold", lines
    return f"holds only for {', '.join(wins)}", lines


def claim_small_values(rows: Sequence[Row]) -> Row:
    by_size = [i for i in cpu_per_op_by_size(rows) if i["size"] < LARGE]
    verdict, lines = _judge_sizes(by_size, "redis")
    return _claim(
        "small-values",
        "Per core, Redis is faster than Memcached on small values (below 100 KB)",
        verdict,
        lines,
    )


def claim_large_values(rows: Sequence[Row]) -> Row:
    by_size = [i for i in cpu_per_op_by_size(rows) if i["size"] >= LARGE]
    verdict, lines = _judge_sizes(by_size, "memcached")
    return _claim(
        "large-values",
        "Memcached is faster than Redis for values of 100 KB and above",
        verdict,
        lines,
    )


def claim_threads(native: Sequence[Row], instances: int) -> Row:
    """Redis single-threaded, memcached multi-threaded; the remedy: several Redis instances."""
    lines = []
    top = max((r["conns"] for r in native if not r.get("skipped")), default=0)
    cores = {}
    for store in ("redis", "memcached"):
        used = [
            r["server_cores"]
            for r in native
            if r["store"] == store and r["conns"] == top and r.get("server_cores")
        ]
        if used:
            cores[store] = max(used)
            lines.append(f"{store}: at most {cores[store]:.2f} cores busy at {top} connections")
        elif reasons := sorted(
            {r["skipped"] for r in native if r["store"] == store and r.get("skipped")}
        ):
            lines.append(f"{store}: not measured ({'; '.join(reasons)})")
    multi = [r for r in native if r["store"].startswith("redis-x") and not r.get("skipped")]
    if not multi:
        verdict = "not measured" if not cores else "not measured (only one Redis instance)"
        return _claim(
            "instances",
            "Redis is single-threaded, Memcached multi-threaded; several "
            "Redis instances per host are the remedy",
            verdict,
            [*lines, "run with --redis-instances 2 to measure the remedy"],
        )
    ratios = []
    for row in multi:
        alike = [
            r
            for r in native
            if (r["op"], r["size"], r["conns"]) == (row["op"], row["size"], row["conns"])
        ]
        single = next((r for r in alike if r["store"] == CONTROL), None)
        single = single or next((r for r in alike if r["store"] == "redis"), None)
        if single and single.get("ops_per_s") and row.get("ops_per_s"):
            ratio = row["ops_per_s"] / single["ops_per_s"]
            ratios.append(ratio)
            both = (
                f", both with {row['processes']} redis-benchmark processes"
                if single["store"] == CONTROL
                else ""
            )
            lines.append(
                f"{row['op'].upper()} {human_size(row['size'])} x{row['conns']}: "
                f"{instances} instances {row['ops_per_s']:.0f}/s vs one {single['ops_per_s']:.0f}/s"
                f" ({ratio:.2f}x{both})"
            )
    median = _median(ratios)
    if median is None:
        verdict = "not measured"
    elif median > EQUAL_WITHIN:
        verdict = "holds"
    else:
        verdict = "does not hold"
    return _claim(
        "instances",
        "Redis is single-threaded, Memcached multi-threaded; several "
        "Redis instances per host are the remedy",
        verdict,
        lines,
    )


def _memory(memory: Sequence[Row], layout: str) -> Row | None:
    return next((m for m in memory if m["layout"] == layout), None)


def _memory_claim(name: str, claim: str, better: Row | None, worse: Row | None) -> Row:
    if better is None or worse is None:
        return _claim(name, claim, "not measured", [])
    partial = [
        f"{m['layout']}: {m['items_stored']} of {m['sessions']} sessions stored"
        for m in (better, worse)
        if m.get("items_stored", m["sessions"]) != m["sessions"]
    ]
    if partial:
        # Evicted or refused sessions take no memory: fewer bytes per session is no saving.
        return _claim(name, claim, "not measured: not every session was stored", partial)
    measures = {"server accounting": "server_bytes_per_session", "RSS": "rss_bytes_per_session"}
    wins, lines, unread = [], [], []
    for label, field in measures.items():
        b, w = better[field], worse[field]
        lines.append(
            f"{label}: {better['layout']} {b:.0f} B/session, {worse['layout']} {w:.0f} B/session"
        )
        if b <= 0 or w <= 0:
            unread.append(label)  # memory that shrank as sessions were added: no measure
        elif b * MEMORY_MARGIN < w:
            wins.append(label)
    if len(unread) == len(measures):
        return _claim(name, claim, "not measured: no growth to compare", lines)
    if len(wins) == len(measures):
        verdict = "holds"
    elif wins:
        verdict = f"holds only for {', '.join(wins)}"
    else:
        verdict = "does not hold"
    if unread:
        verdict += f" ({', '.join(unread)}: not measured)"
    return _claim(name, claim, verdict, lines)


def claim_memory_plain(memory: Sequence[Row]) -> Row:
    return _memory_claim(
        "memory-plain",
        "For plain key/value, Memcached uses memory better than Redis",
        _memory(memory, "memcached-plain"),
        _memory(memory, "redis-plain"),
    )


def claim_memory_hash(memory: Sequence[Row]) -> Row:
    claim = _memory_claim(
        "memory-hash",
        "With hashes, Redis uses memory better than Memcached",
        _memory(memory, "redis-hash"),
        _memory(memory, "memcached-plain"),
    )
    hashed = _memory(memory, "redis-hash")
    if hashed:
        claim["numbers"].append(f"Redis hash encoding: {hashed.get('encoding')}")
        if hashed.get("encoding") == "hashtable":
            claim["numbers"].append(
                "a field longer than hash-max-listpack-value (64 B by default) turns the "
                "hash from the compact listpack into a hashtable: the guide's saving needs "
                "small attributes"
            )
    return claim


def _case(restart: Sequence[Row], name: str) -> Row | None:
    return next((r for r in restart if r["case"] == name), None)


def _survival_line(row: Row) -> str:
    line = f"{row['case']} ({row['how']}): {row['survived']}/{row['sessions']} sessions intact"
    if row.get("server_says"):
        line += "; the server logged: " + " / ".join(row["server_says"])
    return line


def _stored(row: Row) -> bool:
    """Sessions were written, and every one was there before the restart (rows from before
    present_before was counted say nothing of it): otherwise a restart proves nothing."""
    sessions = row.get("sessions") or 0
    return sessions > 0 and row.get("present_before", sessions) == sessions


_NOTHING = "not measured: not every session written was there before the restart"


def claim_redis_persists(restart: Sequence[Row]) -> Row:
    rows = [r for r in restart if r["store"] == "redis" and r["case"] != "redis-replica"]
    if not rows:
        return _claim("redis-persists", "Redis persists sessions to disk", "not measured", [])
    unstored = [r["case"] for r in rows if not _stored(r)]
    if unstored:
        # Every case's numbers stay: what the other cases kept is still a measurement.
        verdict = f"{_NOTHING} ({', '.join(unstored)})"
        lines = [_survival_line(r) for r in rows]
        return _claim("redis-persists", "Redis persists sessions to disk", verdict, lines)
    kept = [r["case"] for r in rows if r["survived"] == r["sessions"]]
    if len(kept) == len(rows):
        verdict = "holds"
    elif not kept:
        verdict = "does not hold"
    else:
        verdict = f"holds only for {', '.join(kept)}"
    return _claim(
        "redis-persists",
        "Redis persists sessions to disk",
        verdict,
        [_survival_line(r) for r in rows],
    )


def claim_redis_replicates(restart: Sequence[Row]) -> Row:
    row = _case(restart, "redis-replica")
    if row is None:
        return _claim(
            "redis-replicates",
            "Redis keeps a backup on a replica (master-slave)",
            "not measured",
            [],
        )
    if not _stored(row):
        verdict = _NOTHING
    else:
        verdict = "holds" if row["survived"] == row["sessions"] else "does not hold"
    return _claim(
        "redis-replicates",
        "Redis keeps a backup on a replica (master-slave)",
        verdict,
        [_survival_line(row)],
    )


def claim_memcached_loses(restart: Sequence[Row]) -> Row:
    plain, warm = _case(restart, "memcached"), _case(restart, "memcached-warm")
    claim = "A Memcached restart loses every session stored in it"
    if plain is None:
        return _claim("memcached-loses", claim, "not measured", [])
    lines = [_survival_line(r) for r in (plain, warm) if r]
    if not _stored(plain):
        return _claim("memcached-loses", claim, _NOTHING, lines)
    if plain["survived"] != 0:
        return _claim("memcached-loses", claim, "does not hold", lines)
    if warm and warm["survived"] > 0:
        return _claim(
            "memcached-loses",
            claim,
            "holds only for a plain restart (a warm restart with -e kept them)",
            lines,
        )
    return _claim("memcached-loses", claim, "holds", lines)


def finding_clients(cells: Sequence[Row]) -> Row:
    """The issue's observation: the Python clients differ more than the servers do."""
    client_ratios, server_ratios = [], []
    for size in sorted({c["size"] for c in cells}):
        for redis_row, mc_row in _pairs(cells, size, "python"):
            if redis_row.get("client_cpu_us_per_op") and mc_row.get("client_cpu_us_per_op"):
                client_ratios.append(
                    redis_row["client_cpu_us_per_op"] / mc_row["client_cpu_us_per_op"]
                )
                server_ratios.append(
                    redis_row["server_cpu_us_per_op"] / mc_row["server_cpu_us_per_op"]
                )
    claim = "The Python clients differ from each other more than the servers do"
    client, server = _median(client_ratios), _median(server_ratios)
    if client is None or server is None:
        return _claim("clients", claim, "not measured", [], kind="finding")
    lines = [
        f"client CPU per op, redis-py/pymemcache: median {client:.2f}x, range "
        f"{min(client_ratios):.2f}x to {max(client_ratios):.2f}x over {len(client_ratios)} cells",
        f"server CPU per op, Redis/memcached: median {server:.2f}x, range "
        f"{min(server_ratios):.2f}x to {max(server_ratios):.2f}x",
    ]
    spread = abs(client - 1) > abs(server - 1)
    return _claim("clients", claim, "holds" if spread else "does not hold", lines, kind="finding")


def finding_e2e(e2e: Sequence[Row]) -> Row:
    claim = "What a user of the site feels: request latency through Tomcat by store and size"
    if not e2e:
        return _claim("end-to-end", claim, "not measured", [], kind="finding")
    lines = [
        f"{r['strategy']} {human_size(r['size'])}: p50 {r['p50_ms']:.1f} ms, p99 "
        f"{r['p99_ms']:.1f} ms, {r['rps']:.0f} req/s, store CPU "
        f"{_us_per_request(r.get('store_cpu_us_per_request'))}, {r['failures']} failures"
        # A cell Ctrl-C cut short measured only its first seconds: never read as a whole one.
        + (f" (interrupted at {r['interrupted_at_s']:.1f} s)" if "interrupted_at_s" in r else "")
        for r in e2e
    ]
    return _claim("end-to-end", claim, "observed", lines, kind="finding")


def _us_per_request(value: float | None) -> str:
    """A store never sampled, or no answered request: unknown, never 0."""
    return "not measured" if value is None else f"{value:.0f} us/request"


def _claim(name: str, claim: str, verdict: str, numbers: list[str], kind: str = "claim") -> Row:
    return {"name": name, "kind": kind, "claim": claim, "verdict": verdict, "numbers": numbers}


def judge(
    *,
    cells: Sequence[Row],
    native: Sequence[Row],
    memory: Sequence[Row],
    restart: Sequence[Row],
    e2e: Sequence[Row],
    redis_instances: int = 1,
) -> list[Row]:
    """Every claim, in the guide's order, then the findings."""
    raw = [{**c, "source": "python"} for c in cells] + [{**n, "source": "native"} for n in native]
    return [
        claim_small_values(raw),
        claim_large_values(raw),
        claim_threads(native, redis_instances),
        claim_memory_plain(memory),
        claim_memory_hash(memory),
        claim_redis_persists(restart),
        claim_redis_replicates(restart),
        claim_memcached_loses(restart),
        finding_clients(cells),
        finding_e2e(e2e),
    ]
