"""Session strategies that share sessions between nodes, each through a real fault.

Every test starts its own lab on its own net (127.0.41 to 127.0.49): the session
strategy and the balancer are fixed for a lab's lifetime.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from session_tracking import Reply

from harness.cluster.lab import Lab, Topology
from harness.config.profile import load_profile
from tests.integration.conftest import Browser, assert_lab_gone

pytestmark = pytest.mark.integration


def _lab(tmp_path: Path, net: str, sessions: str, balancer: str) -> Iterator[Lab]:
    lab = Lab(Topology(net=net, run_dir=tmp_path / "lab"))
    lab.up(load_profile("default"), balancer_name=balancer, sessions=sessions)
    try:
        yield lab
    finally:
        lab.down()
        assert_lab_gone(lab)


def _raw_session_id(user: Browser) -> str:
    """The JSESSIONID as the node set it (Reply.session is only the base id)."""
    ids = [cookie.value for cookie in user.cookies if cookie.name == "JSESSIONID"]
    assert len(ids) == 1, ids
    return str(ids[0])


def _other(node: str) -> str:
    return "node2" if node == "node1" else "node1"


def _assert_continuous(replies: list[Reply]) -> None:
    assert [r.counter for r in replies] == list(range(1, len(replies) + 1))
    assert len({r.session for r in replies}) == 1


# (sessions, balancer, net): sticky msm needs a sticky balancer; the others share
# every session between nodes, so round robin is their hardest case.
NODE_KILL = [
    ("replication", "nginx-rr", "127.0.41"),
    ("memcached-nonsticky", "nginx-rr", "127.0.42"),
    ("memcached-sticky", "haproxy-cookie", "127.0.43"),
]


@pytest.fixture(params=NODE_KILL, ids=[case[0] for case in NODE_KILL])
def shared_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    sessions, balancer, net = request.param
    yield from _lab(tmp_path, net, sessions, balancer)


def test_sigkill_of_the_serving_node_keeps_session_and_counter(shared_lab: Lab) -> None:
    assert shared_lab.state is not None
    kind = shared_lab.state.store["kind"]
    user = Browser(shared_lab.topology.balancer_url)
    before = [user.session_page() for _ in range(6)]
    if kind == "memcached-sticky":
        assert len({r.node for r in before}) == 1, "haproxy's cookie pins the user"
    else:
        assert {r.node for r in before} == {"node1", "node2"}, "round robin uses both"
    victim = before[-1].node
    shared_lab.signal(victim, signal.SIGKILL)
    assert shared_lab.state.processes[victim].process() is None

    after = [user.session_page() for _ in range(6)]
    _assert_continuous(before + after)
    assert {r.node for r in after} == {_other(victim)}
    if kind in ("memcached-sticky", "replication"):
        # msm (sticky) and JvmRouteBinderValve move the session to the surviving route.
        assert _raw_session_id(user).endswith(f".{_other(victim)}")

    stopped = shared_lab.down()
    if kind.startswith("memcached"):
        assert {"memA", "memB"} <= set(stopped)
        assert stopped.index("memA") > stopped.index(_other(victim)), "stores stop last"
    assert_lab_gone(shared_lab)


# msm caches "memcached node is available" for about a second. Non-sticky, a request
# in that window after the kill fails its load and gets a NEW session (seen here:
# counter back to 1); once msm's ping finds the node gone it reads the backup copy.
MSM_NODE_CHECK_S = 2.0

MEMCACHED_KILL = [
    ("memcached-sticky", "haproxy-cookie", "127.0.44"),
    ("memcached-nonsticky", "nginx-rr", "127.0.45"),
]


@pytest.fixture(params=MEMCACHED_KILL, ids=[case[0] for case in MEMCACHED_KILL])
def msm_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    sessions, balancer, net = request.param
    yield from _lab(tmp_path, net, sessions, balancer)


def test_msm_keeps_the_session_when_its_memcached_dies_and_then_its_node(msm_lab: Lab) -> None:
    assert msm_lab.state is not None
    assert msm_lab.state.versions["memcached-session-manager"] == "2.3.2"
    assert msm_lab.state.versions["memcached"].startswith("1.")
    user = Browser(msm_lab.topology.balancer_url)
    replies = [user.session_page() for _ in range(4)]
    # "<base>-<memcached node>.<jvmRoute>": the memcached that holds the session.
    holder = re.fullmatch(r"[0-9A-F]+-(mem[AB])\.node\d", _raw_session_id(user))
    assert holder is not None, _raw_session_id(user)
    msm_lab.signal(holder.group(1), signal.SIGKILL)
    if msm_lab.state.store["kind"] == "memcached-nonsticky":
        time.sleep(MSM_NODE_CHECK_S)

    replies += [user.session_page() for _ in range(4)]
    _assert_continuous(replies)
    # msm moved the session to the surviving memcached: now a node may die too.
    survivor = "memB" if holder.group(1) == "memA" else "memA"
    assert f"-{survivor}." in _raw_session_id(user)
    msm_lab.signal(replies[-1].node, signal.SIGKILL)
    replies += [user.session_page() for _ in range(4)]
    _assert_continuous(replies)
    assert {r.node for r in replies[-4:]} == {_other(replies[7].node)}
