"""Sessions through nginx round robin with Redisson, before and after a node is SIGKILLed.

The tests in this module share one lab and run in file order: the last one kills
a node, and the one after it tears the lab down.
"""

import itertools
import signal

import pytest

from harness.cluster.lab import Lab
from tests.integration.conftest import Browser, assert_lab_gone

pytestmark = pytest.mark.integration
LAB_NET = "127.0.21"


def test_round_robin_keeps_one_session_and_a_continuous_counter(lab: Lab) -> None:
    user = Browser(lab.topology.balancer_url)
    replies = [user.session_page() for _ in range(20)]
    assert [r.counter for r in replies] == list(range(1, 21))
    assert len({r.session for r in replies}) == 1
    nodes = [r.node for r in replies]
    assert set(nodes) == {"node1", "node2"}
    # One nginx worker, round robin, nobody else calling: the nodes strictly alternate.
    assert all(a != b for a, b in itertools.pairwise(nodes))


def test_independent_users_get_independent_sessions(lab: Lab) -> None:
    first, second = Browser(lab.topology.balancer_url), Browser(lab.topology.balancer_url)
    a = [first.session_page() for _ in range(3)]
    b = [second.session_page() for _ in range(2)]
    assert a[0].session != b[0].session
    assert [r.counter for r in a] == [1, 2, 3]
    assert [r.counter for r in b] == [1, 2]


def test_sigkill_of_the_serving_node_keeps_session_and_counter(lab: Lab) -> None:
    user = Browser(lab.topology.balancer_url)
    before = [user.session_page() for _ in range(5)]
    victim = before[-1].node
    lab.signal(victim, signal.SIGKILL)
    assert lab.state is not None
    assert lab.state.processes[victim].process() is None
    after = [user.session_page() for _ in range(10)]
    assert {r.session for r in after} == {before[0].session}
    assert [r.counter for r in before + after] == list(range(1, 16))
    assert {r.node for r in after} == {"node2" if victim == "node1" else "node1"}


def test_lab_down_leaves_no_process_and_no_port(lab: Lab) -> None:
    stopped = lab.down()
    assert "nginx" in stopped and "redis" in stopped
    assert_lab_gone(lab)
