"""Which address a simulated user sends from: its own under --source-net, else its turn at
the load host's own addresses (TOMCAT_BENCH_SOURCE_ADDRESSES), else the system's choice."""

from __future__ import annotations

from source_addresses import user_source


def test_a_source_net_gives_each_user_its_own_address() -> None:
    assert user_source("127.100", 1, "10.0.0.1") == "127.100.1.1"
    assert user_source("127.100", 251, "") == "127.100.1.2"


def test_users_take_turns_at_a_load_hosts_addresses() -> None:
    listed = "10.231.200.14, 10.231.201.14,10.231.202.14"
    got = [user_source("", user, listed) for user in (1, 2, 3, 4)]
    assert got == ["10.231.200.14", "10.231.201.14", "10.231.202.14", "10.231.200.14"]


def test_without_either_the_system_chooses() -> None:
    assert user_source("", 7, "") is None
    assert user_source("", 7, " , ") is None
