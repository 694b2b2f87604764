"""session.jsp's ?size= and the storebench's end-to-end cells, through real Tomcat (127.0.73).

The tests of this module run one after the other, each with its own lab on the net.
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest

from harness.cluster.lab import Lab, Topology
from harness.cluster.lab.stores import client
from harness.config.profile import load_profile
from harness.storebench.e2e import run_e2e
from tests.integration.conftest import Browser, assert_lab_gone

pytestmark = pytest.mark.integration

NET = "127.0.73"


def test_session_jsp_keeps_a_payload_of_the_asked_size(tmp_path: Path) -> None:
    lab = Lab(Topology(net=NET, run_dir=tmp_path / "lab"))
    state = lab.up(load_profile("default"), sessions="redis")
    try:
        user = Browser(lab.topology.balancer_url)
        replies = [user.session_page("?size=10000") for _ in range(3)]
        assert [r.counter for r in replies] == [1, 2, 3]  # the counter still works
        assert len({r.session for r in replies}) == 1
        largest = 0
        with client(lab.topology.redis, state.store["password"]) as redis:
            for key in redis.scan_iter():
                if redis.type(key) == b"hash":
                    largest = max(largest, *(len(v) for v in redis.hgetall(key).values()))
        # Redisson keeps each attribute as a hash field: the payload plus its encoding.
        assert 10000 <= largest < 10200
        with pytest.raises(urllib.error.HTTPError) as bad:
            user.session_page("?size=lots")
        assert bad.value.code == 400
        bad.value.close()
        assert user.session_page().counter == 4  # without ?size= the page is as before
    finally:
        lab.down()
    assert_lab_gone(lab)


def test_an_end_to_end_cell_reports_latency_and_store_cpu(tmp_path: Path) -> None:
    rows = run_e2e(
        net=NET,
        directory=tmp_path / "e2e",
        strategies=["memcached-sticky"],
        sizes=[1024],
        duration_s=5.0,
        users=3,
        progress=lambda text: None,
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["strategy"], row["balancer"], row["size"]) == (
        "memcached-sticky", "haproxy-cookie", 1024,
    )  # fmt: skip
    assert row["requests"] > 0 and row["failures"] == 0
    assert row["p50_ms"] <= row["p99_ms"]
    assert row["store_cpu_us_per_request"] is not None
    run = json.loads((tmp_path / row["run"] / "run.json").read_text())
    assert (tmp_path / row["run"] / "report.html").exists()
    assert run["load"]["session_size"] == 1024
    assert run["lab"]["session_store"] == "memcached-sticky"
