"""`apply` restarts a node the way the inventory says it runs: a Tomcat under systemd goes
through its unit, never catalina.sh (which would start a second Tomcat outside systemd).

systemd cannot run here (no systemd as pid 1 in this machine's container), so the node's
host is a stand-in that plays systemctl and records every command; the node's health URL
is a real HTTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from harness.cluster.remote.hosts import CommandResult
from harness.config.inventory import load_inventory
from harness.config.profile import load_profile
from harness.fleet.apply import _ssh_target
from tests.stub_http import answering


@pytest.fixture
def health() -> Iterator[str]:
    with answering() as url:
        yield f"{url}/"


class SystemdHost:
    """Plays `systemctl show/stop/start` for one unit; records every command."""

    name = "web1"

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.main_pid = 4242

    def run(self, argv: list[str], **_: object) -> CommandResult:
        self.commands.append(argv)
        if argv[:2] == ["systemctl", "show"]:
            return CommandResult(0, f"{self.main_pid}\n", "")
        if argv[:2] == ["systemctl", "stop"]:
            self.main_pid = 0
        elif argv[:2] == ["systemctl", "start"]:
            self.main_pid = 4343
        return CommandResult(0, "", "")

    def read_text(self, path: PurePosixPath) -> str | None:
        return None

    def write_text(self, path: PurePosixPath, text: str, mode: int) -> None:
        raise AssertionError("a restart writes nothing")

    def exists(self, path: PurePosixPath) -> bool:
        return False

    def close(self) -> None:
        return None


def test_a_node_under_systemd_is_restarted_through_its_unit(tmp_path: Path, health: str) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(
        f'[[nodes]]\nname = "web1"\nhost = "127.0.0.2"\ncatalina_home = "/opt/tomcat"\n'
        f'service = "tomcat9"\nhealth_url = "{health}"\n'
    )
    (node,) = load_inventory(path).nodes
    host = SystemdHost()
    target = _ssh_target(node, host, load_profile("default"))  # type: ignore[arg-type]
    assert target.pid() == 4242
    target.restart()
    ran = [" ".join(c) for c in host.commands]
    assert "systemctl stop tomcat9" in ran and "systemctl start tomcat9" in ran, ran
    assert not [c for c in ran if "catalina.sh" in c], ran
    assert target.pid() == 4343
