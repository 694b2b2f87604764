"""The network faults' rules, as nft reads them, from a fault and the lab's sides."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.cluster.lab.netfaults import LabGroups, Side, cgroup2_root, member_of, rules
from harness.config.faults import parse_fault

HYBRID = "cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
NODE1 = Side(("unified/tomcat-bench-127_0_1/node1",), ("127.0.1.11",))
REDIS = Side(("unified/tomcat-bench-127_0_1/redis",), ("127.0.1.20",))
L4 = Side((), ("127.0.1.10",))  # the kernel's L4 director: no process of its own


def test_cgroup2_is_found_where_nft_can_name_it() -> None:
    assert cgroup2_root(HYBRID) == Path("/sys/fs/cgroup/unified")
    assert cgroup2_root("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") == Path("/sys/fs/cgroup")
    assert cgroup2_root("cgroup2 /mnt/cg cgroup2 rw 0 0\n") is None  # nft looks elsewhere


def test_a_partition_drops_each_sides_packets_to_the_other() -> None:
    spec = parse_fault("partition:node1-redis@10-20")
    assert rules(spec, {"node1": NODE1, "redis": REDIS}, 2) == [
        'socket cgroupv2 level 2 "unified/tomcat-bench-127_0_1/node1" ip daddr { 127.0.1.20 } drop',
        'socket cgroupv2 level 2 "unified/tomcat-bench-127_0_1/redis" ip daddr { 127.0.1.11 } drop',
    ]


def test_a_side_without_a_process_is_cut_by_address_alone() -> None:
    spec = parse_fault("partition:balancer-node1@3")
    lines = rules(spec, {"balancer": L4, "node1": NODE1}, 2)
    assert lines[0] == "ip daddr { 127.0.1.11 } drop"
    assert lines[1].endswith('"unified/tomcat-bench-127_0_1/node1" ip daddr { 127.0.1.10 } drop')


def test_a_drop_takes_its_share_of_both_directions() -> None:
    spec = parse_fault("drop:node1:5%@3-4")
    assert rules(spec, {"node1": NODE1}, 2) == [
        'socket cgroupv2 level 2 "unified/tomcat-bench-127_0_1/node1" '
        "numgen random mod 10000 < 500 drop",
        "ip daddr 127.0.1.11 numgen random mod 10000 < 500 drop",
    ]


@pytest.mark.parametrize(
    "text",
    ["partition:node1@5", "partition:node1-node1@5", "drop:node1@5", "drop:node1:0%@5",
     "drop:node1:101%@5", "sigkill:node1:5%@5"],
)  # fmt: skip
def test_a_network_fault_in_the_wrong_form_is_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="fault "):
        parse_fault(text)


def test_membership_is_read_from_the_processes_own_cgroup_line() -> None:
    """A server that could not join its group is found out before a rule relies on it."""
    root = cgroup2_root()
    if root is None:
        pytest.skip("no cgroup v2 under /sys/fs/cgroup")
    group = root / "tomcat-bench-127_0_1" / "node1"
    inside = f"1:cpu:/\n0::/{group.relative_to(root)}\n"
    assert member_of(1234, group, inside)
    assert not member_of(1234, group, "1:cpu:/\n0::/\n")
    assert not member_of(1234, group, f"0::/{group.relative_to(root)}/deeper\n")


@pytest.mark.skipif(cgroup2_root() is None, reason="no writable cgroup v2 here")
def test_groups_are_removed_once_a_process_still_exiting_has_left(tmp_path: Path) -> None:
    """A server stopped at lab down may still be leaving its group (seen once: a node's
    group left behind, empty, after a test's lab down): remove() waits for it."""
    mount = cgroup2_root()
    assert mount is not None
    root = mount / f"tomcat-bench-test-{os.getpid()}"
    root.mkdir()
    groups = LabGroups(root)
    procs = groups.procs_file("node1")
    # A process that is in the group for another 0.5 s, as a JVM finishing its exit.
    leaving = subprocess.Popen(["sh", "-c", f"echo $$ > {procs} && exec sleep 0.5"])
    threading.Thread(target=leaving.wait, daemon=True).start()  # reaped as it exits
    try:
        deadline = time.monotonic() + 5
        while not procs.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert procs.read_text().strip(), "the process never joined its group"
        groups.remove()
        assert not root.exists()
    finally:
        leaving.wait(timeout=10)
        for group in (root / "node1", root):
            if group.exists():
                group.rmdir()
