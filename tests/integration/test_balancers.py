"""Known behaviour of balancers with sessions kept in each node's memory (SESSIONS=none).

Each test starts its own lab: a balancer is fixed for a lab's lifetime.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.lab import Lab, Topology, l4hash
from harness.config.profile import load_profile
from tests.integration.conftest import Browser, assert_lab_gone, healthy_replies, repo_root

pytestmark = pytest.mark.integration


def _lab(tmp_path: Path, net: str, balancer: str) -> Iterator[Lab]:
    lab = Lab(Topology(net=net, run_dir=tmp_path / "lab"))
    lab.up(load_profile("default"), balancer_name=balancer, sessions="none")
    try:
        yield lab
    finally:
        lab.down()
        assert_lab_gone(lab)


@pytest.fixture
def nginx_rr(tmp_path: Path) -> Iterator[Lab]:
    yield from _lab(tmp_path, "127.0.31", "nginx-rr")


@pytest.fixture
def nginx_ip_hash(tmp_path: Path) -> Iterator[Lab]:
    yield from _lab(tmp_path, "127.0.32", "nginx-ip-hash")


@pytest.fixture(params=["haproxy-cookie", "haproxy-stick"])
def haproxy_sticky(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    net = {"haproxy-cookie": "127.0.33", "haproxy-stick": "127.0.34"}[request.param]
    yield from _lab(tmp_path, net, request.param)


def test_round_robin_without_a_store_is_unstable_with_no_fault(nginx_rr: Lab) -> None:
    user = Browser(nginx_rr.topology.balancer_url)
    replies = [user.session_page() for _ in range(6)]
    # Every other node knows nothing of the session: a new one, counter back at 1, each time.
    assert [r.counter for r in replies] == [1] * 6
    assert len({r.session for r in replies}) == 6


def test_ip_hash_loses_exactly_the_sessions_pinned_to_the_dead_node(nginx_ip_hash: Lab) -> None:
    url = nginx_ip_hash.topology.balancer_url
    # Different third octets: ip_hash hashes the first three octets.
    users = [Browser(url, source=f"127.100.{n}.1") for n in range(1, 13)]
    first = [[u.session_page() for _ in range(3)] for u in users]
    for replies in first:
        assert len({r.node for r in replies}) == 1, "ip_hash must pin a user to one node"
        assert [r.counter for r in replies] == [1, 2, 3]
    pinned = {i: replies[0].node for i, replies in enumerate(first)}
    assert set(pinned.values()) == {"node1", "node2"}, "12 addresses should reach both nodes"

    nginx_ip_hash.signal("node1", signal.SIGKILL)
    for i, user in enumerate(users):
        after = [user.session_page() for _ in range(3)]
        assert {r.node for r in after} == {"node2"}
        kept = after[0].session == first[i][0].session
        assert kept == (pinned[i] == "node2"), f"user {i} pinned to {pinned[i]}"
        expected = [4, 5, 6] if kept else [1, 2, 3]
        assert [r.counter for r in after] == expected


def test_haproxy_sticky_modes_pin_each_user_to_one_node(haproxy_sticky: Lab) -> None:
    url = haproxy_sticky.topology.balancer_url
    users = [Browser(url) for _ in range(4)]
    for user in users:
        replies = [user.session_page() for _ in range(8)]
        assert [r.counter for r in replies] == list(range(1, 9))
        assert len({r.node for r in replies}) == 1
        assert len({r.session for r in replies}) == 1


def test_locust_users_send_from_their_own_addresses(nginx_ip_hash: Lab, tmp_path: Path) -> None:
    records = tmp_path / "records.csv"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", "locustfiles/session_stability.py",
            "--headless", "--host", nginx_ip_hash.topology.balancer_url,
            "-u", "8", "-r", "8", "-t", "3s", "--source-net", "127.100",
            "--session-records", str(records),
        ],
        cwd=repo_root(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = healthy_replies(records)
    nodes_of: dict[str, set[str]] = {}
    for row in rows:
        nodes_of.setdefault(row["user"], set()).add(row["node"])
    assert len(nodes_of) == 8
    # Pinned by source address: one node per user, and the users spread over both.
    assert all(len(nodes) == 1 for nodes in nodes_of.values())
    assert set().union(*nodes_of.values()) == {"node1", "node2"}
    assert {row["outcome"] for row in rows} == {"new", "kept"}


@pytest.fixture
def l4_hash(tmp_path: Path) -> Iterator[Lab]:
    yield from _lab(tmp_path, "127.0.38", "l4-hash")


def test_l4_source_hash_pins_users_and_the_director_fails_over(l4_hash: Lab) -> None:
    table = l4hash.table_name("127.0.38")
    assert l4hash.exists(table)
    # This kernel has no IPVS: the lab says so and which director it used instead.
    assert l4_hash.state is not None
    director_info = l4_hash.state.l4_director
    assert director_info is not None
    assert director_info["kind"] == "nftables"
    assert director_info["why"].startswith("no IPVS in this kernel (ipvsadm: ")
    url = l4_hash.topology.balancer_url
    users = [Browser(url, source=f"127.100.{n}.7") for n in range(1, 11)]
    pinned = []
    for user in users:
        replies = [user.session_page() for _ in range(3)]
        assert len({r.node for r in replies}) == 1
        assert [r.counter for r in replies] == [1, 2, 3]
        pinned.append(replies[0].node)
    assert set(pinned) == {"node1", "node2"}

    director = l4hash.Director(table, l4_hash.topology.nodes, start_epoch=time.time())
    director.start()
    try:
        killed_at = time.time()
        l4_hash.signal("node1", signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not director.events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        director.stop()
    (event,) = director.events
    assert event["action"] == "director failed over"
    assert event["target"] == "node1"
    # Two failed checks 0.5 s apart: the reaction takes about a second, never much more.
    assert event["at_s"] - (killed_at - director.start_epoch) < 3
    for user, node in zip(users, pinned, strict=True):
        reply = user.session_page()
        assert reply.node == "node2"
        assert reply.counter == (4 if node == "node2" else 1)
    l4_hash.down()
    assert not l4hash.exists(table)
