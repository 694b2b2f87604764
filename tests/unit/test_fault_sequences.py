"""Named fault sequences: each stands for the schedule it says, timed by the run's length."""

from __future__ import annotations

import pytest

from harness.cli import build_parser
from harness.cli.bench import plan_from
from harness.cli.options import parse
from harness.config.faults import schedule


def _specs(
    text: str, duration_s: float = 60, nodes: tuple[str, ...] = ("node1", "node2")
) -> list[str]:
    return [str(spec) for spec in schedule(text, duration_s, list(nodes))]


def test_mem_a_then_b_kills_each_memcached_in_turn_and_starts_it_again() -> None:
    assert _specs("mem-a-then-b") == ["sigkill:memA@12-24", "sigkill:memB@36-48"]


def test_a_rolling_restart_restarts_every_node_once_spread_over_the_run() -> None:
    assert _specs("rolling-restart", 60, ("node1", "node2", "node3")) == [
        "restart:node1@15",
        "restart:node2@30",
        "restart:node3@45",
    ]


def test_flap_kills_and_starts_the_first_node_three_times() -> None:
    assert _specs("flap", 40) == [
        "sigkill:node1@6-10",
        "sigkill:node1@16-20",
        "sigkill:node1@26-30",
    ]


def test_a_written_schedule_is_parsed_as_before_and_store_failover_kills_the_master() -> None:
    assert _specs("sigkill:node2@5-9,reload:balancer@12") == [
        "sigkill:node2@5-9",
        "reload:balancer@12",
    ]
    assert _specs("store-failover", 60) == ["sigkill:redis@24-48"]


def test_a_sequence_and_written_faults_mix() -> None:
    assert _specs("mem-a-then-b,sigkill:node1@52", 60) == [
        "sigkill:memA@12-24",
        "sigkill:memB@36-48",
        "sigkill:node1@52",
    ]


def test_store_failover_is_refused_without_a_replica_to_promote() -> None:
    args = parse(build_parser(), ["bench", "--sessions", "redis", "--faults", "store-failover"])
    with pytest.raises(ValueError, match="needs --sessions redis-sentinel"):
        plan_from(args)
    args = parse(
        build_parser(), ["bench", "--sessions", "redis-sentinel", "--faults", "store-failover"]
    )
    assert [str(f) for f in plan_from(args).fault_specs()] == ["sigkill:redis@24-48"]
