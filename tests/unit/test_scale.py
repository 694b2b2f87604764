"""The scale study's judgement of the guide's claims, and its byte meter's nft script."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from harness.cluster.lab.meter import meter_rules, parse_counters
from harness.load import scale
from harness.load.bench import BenchResult


def _row(strategy: str, nodes: int, **figures: float | None) -> dict[str, Any]:
    keys = ("session_heap_per_node_bytes", "cluster_bytes_per_request",
            "store_bytes_per_request", "kill_lost_share")  # fmt: skip
    return {"strategy": strategy, "nodes": nodes} | dict.fromkeys(keys) | figures


def _verdicts(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(c["strategy"], c["key"]): c["verdict"] for c in scale.judge(rows)}


def test_replication_holding_every_session_and_flooding_the_cluster_is_judged() -> None:
    heap, wire = "session_heap_per_node_bytes", "cluster_bytes_per_request"
    rows = [
        _row("replication-delta", 2, **{heap: 8e6, wire: 5e4}),
        _row("replication-delta", 8, **{heap: 8.5e6, wire: 3.5e5}),
        _row("replication-backup", 2, cluster_bytes_per_request=6e4),
        _row("replication-backup", 8, cluster_bytes_per_request=2e5),
        _row("sticky-memory", 2, kill_lost_share=0.5),
        _row("sticky-memory", 8, kill_lost_share=0.125),
    ]  # fmt: skip
    got = _verdicts(rows)
    assert got["replication-delta", "session_heap_per_node_bytes"].startswith("holds: ")
    assert got["replication-delta", "cluster_bytes_per_request"].startswith("holds: ")
    assert "x7.00 from 2 to 8 nodes" in got["replication-delta", "cluster_bytes_per_request"]
    assert got["replication-backup", "cluster_bytes_per_request"].startswith("does not hold")
    assert got["sticky-memory", "kill_lost_share"].startswith("holds: ")
    assert got["redis", "store_bytes_per_request"].startswith("not judged")


def test_memory_per_node_that_shrinks_as_one_over_n_does_not_hold_for_replication() -> None:
    rows = [
        _row("replication-delta", 2, session_heap_per_node_bytes=8e6),
        _row("replication-delta", 8, session_heap_per_node_bytes=2e6),
    ]
    got = _verdicts(rows)
    assert got["replication-delta", "session_heap_per_node_bytes"].startswith("does not hold")


def test_the_meter_counts_each_port_both_ways_on_the_labs_addresses() -> None:
    script = meter_rules("t", "127.0.76", {"cluster": 4000})
    assert "ip daddr 127.0.76.0/24 tcp dport 4000 counter name" in script
    assert "ip saddr 127.0.76.0/24 tcp sport 4000 counter name" in script
    listed = {"nftables": [{"metainfo": {}}, {"counter": {"name": "cluster", "bytes": 640}}]}
    assert parse_counters(json.dumps(listed)) == {"cluster": 640}


def test_a_user_never_answered_again_counts_as_lost_to_the_kill(tmp_path: Path) -> None:
    plan = SimpleNamespace(duration_s=12.0, arrival_rate=100.0)
    cell = scale.ScaleCell("sticky-memory", 2, cast(Any, plan))
    summary = {"requests": 100, "users": 10, "sessions_lost": 1, "unanswered": 2}
    kill = {"fault_delivered": True}
    result = BenchResult(run_dir=tmp_path, summary=summary, lab_up_s=1.0, verdict=kill)
    row = scale._row(cell, result, {})
    assert row["kill_lost_share"] == 0.3


def _measured(
    tmp_path: Path, strategy: str, nodes: int, figures: dict[str, Any], **result: Any
) -> dict[str, Any]:
    plan = SimpleNamespace(duration_s=60.0, arrival_rate=None)
    cell = scale.ScaleCell(strategy, nodes, cast(Any, plan))
    summary = {"requests": 1000, "users": 100, "sessions_lost": 50 if nodes == 2 else 0}
    kill = {"verdict": "survives", "fault_delivered": True}
    done = BenchResult(**{"run_dir": tmp_path, "summary": summary, "lab_up_s": 1.0,
                          "verdict": kill} | result)  # fmt: skip
    return scale._row(cell, done, figures)


def test_a_kill_that_never_came_or_a_meter_that_read_nothing_judges_no_claim(
    tmp_path: Path,
) -> None:
    """At N=8 the kill was not delivered (or the cell was cut short), or the byte meter
    read nothing: 0 lost and 0 bytes, and 'sticky loses only 1/N' or 'BackupManager keeps
    traffic flat' read 'holds: x0.00'."""
    measured = {"bytes": {"cluster": 60_000_000, "redis": 0, "memcached": 0}}
    undelivered = {"verdict": "fault not delivered (sigkill:node1@50): not judged",
                   "fault_delivered": False}  # fmt: skip
    claims = {"sticky-memory": "kill_lost_share", "replication-backup": "cluster_bytes_per_request"}
    for strategy, key in claims.items():
        low = _measured(tmp_path, strategy, 2, measured)
        assert (low["kill_lost_share"], low["cluster_bytes_per_request"]) == (0.5, 60_000.0)
        assert low["store_bytes_per_request"] == 0.0  # read, and nothing went to a store
        for high in (
            _measured(tmp_path, strategy, 8, {}, verdict=undelivered),
            _measured(tmp_path, strategy, 8, measured, interrupted_at_s=20.0),
        ):
            verdict = _verdicts([low, high])[strategy, key]
            assert verdict.startswith("not judged"), verdict
    unread = _measured(tmp_path, "sticky-memory", 8, {}, verdict=undelivered)
    assert unread["kill_lost_share"] is None
    assert unread["cluster_bytes_per_request"] is unread["store_bytes_per_request"] is None
