"""storebench against real redis-server and memcached on 127.0.71 (short runs).

Every number here comes from real servers; the assertions are on what must be exact
(counts of cells, operations, misses, survivors), never on a timing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness.cluster.endpoints import Endpoint, is_listening
from harness.storebench import ProgressCounter, StorebenchPlan, run_storebench
from harness.storebench.cells import CellSpec, prewrite, run_cell
from harness.storebench.run import load_data
from harness.storebench.servers import MemcachedServer, RedisServer, Running

pytestmark = pytest.mark.integration

NET = "127.0.71"
KB = 1024


def _quiet(text: str, done: int) -> None:
    return None


def test_raw_memory_and_restart_phases_on_real_servers(tmp_path: Path) -> None:
    plan = StorebenchPlan(
        sizes=(KB, 100 * KB),
        conns=(1, 4),
        cell_ops=300,
        cell_seconds=0.5,
        native_ops=2000,
        sessions=2000,
        restart_sessions=300,
        redis_instances=2,
        phases=("cells", "native", "memory", "restart"),
        net=NET,
        results_dir=tmp_path,
    )
    outcome = run_storebench(plan, ProgressCounter(_quiet))
    assert outcome.complete, outcome.error
    run = json.loads((outcome.run_dir / "run.json").read_text())
    assert run["complete"] is True and run["incomplete"] is None
    assert run["servers"]["memcached"]["item_size_limit"] == "2m"
    assert "requirepass" not in json.dumps(run["servers"]).replace('requirepass"', "")
    assert not list(outcome.run_dir.rglob("redis.conf")), "the password stays out of results"

    written = load_data(outcome.run_dir)  # what the files hold, not what is in memory
    cells = written["cells"]
    assert len(cells) == 2 * 2 * 2 * 2  # sizes x conns x ops x stores
    for cell in cells:
        assert cell["errors"] == 0 and cell["misses"] == 0, cell
        assert 0 < cell["ops"] <= 300
        assert HdrHistogram.decode(cell["hdr"]).get_total_count() == cell["ops"]
        assert cell["p50_us"] <= cell["p90_us"] <= cell["p99_us"] <= cell["p999_us"]
        assert cell["server_cpu_us_per_op"] is not None

    native = written["native"]
    by_tool = {(r["tool"], r["store"]) for r in native}
    assert by_tool == {
        ("redis-benchmark", "redis"),
        ("redis-benchmark", "redis-x2"),
        ("redis-benchmark", "redis-one-instance"),
        ("memaslap", "memcached"),
    }
    # Two instances and their control run at the top concurrency only, with 2 processes.
    remedy = [r for r in native if r["store"] in ("redis-x2", "redis-one-instance")]
    assert {(r["conns"], r["processes"]) for r in remedy} == {(4, 2)}
    assert len(remedy) == 2 * 2 * 2  # sizes x ops x (remedy, control)
    for row in native:
        assert not row["skipped"], row
        assert row["misses"] == 0, row
        assert row["ops"] > 0 and row["ops_per_s"] > 0
    memaslap_get = [r for r in native if r["tool"] == "memaslap" and r["op"] == "get"]
    assert all(r["warmup_sets"] >= r["conns"] * 1024 for r in memaslap_get)

    memory = {m["layout"]: m for m in written["memory"]}
    assert set(memory) == {"redis-plain", "redis-hash", "memcached-plain"}
    for row in memory.values():
        assert row["items_stored"] == 2000
        # Every store needs at least the payload itself.
        assert row["server_bytes_per_session"] > row["attribute_bytes_per_session"]

    survived = {r["case"]: r["survived"] for r in written["restart"]}
    assert survived == {
        "redis-none": 0,
        "redis-rdb": 300,
        "redis-aof": 300,
        "redis-rdb-sigkill": 0,
        "redis-aof-sigkill": 300,
        "redis-replica": 300,
        "memcached": 0,
        "memcached-warm": survived["memcached-warm"],  # this machine's memcached refuses it
    }
    verdicts = json.loads((outcome.run_dir / "claims.json").read_text())
    assert len(verdicts) == 10
    assert {v["verdict"] for v in verdicts if v["name"] == "redis-replicates"} == {"holds"}
    for address in plan.addresses().values():
        assert not is_listening(address), f"{address} still listens"


def test_a_get_that_misses_is_counted_not_timed(tmp_path: Path) -> None:
    running = Running()
    redis_server = RedisServer("redis", tmp_path / "redis", Endpoint(f"{NET}.40", 6379))
    mem = MemcachedServer("memcached", tmp_path / "mem", Endpoint(f"{NET}.41", 11211),
                          memory_mb=64)  # fmt: skip
    try:
        for server in (redis_server, mem):
            running.start(server)
        value = b"v" * KB
        prewrite([redis_server, mem], KB, 20, value)
        gone = [f"sb:get:{KB}:{i}".encode() for i in (3, 7, 11, 15, 19)]
        with redis_server.client() as conn:
            assert conn.delete(*gone) == 5
        client = mem.client()
        assert client.delete_many(gone, noreply=False)
        client.close()
        for store, server in (("redis", redis_server), ("memcached", mem)):
            # 40 GETs over a 20-key window from key 0: each missing key is read twice.
            spec = CellSpec(store, "get", KB, 1, 40, 30.0, 20)
            row = run_cell(spec, [server], value)
            assert (row["ops"], row["misses"], row["errors"]) == (30, 10, 0), row
            assert HdrHistogram.decode(row["hdr"]).get_total_count() == 30
    finally:
        running.stop_all()
    assert not is_listening(Endpoint(f"{NET}.40", 6379))
