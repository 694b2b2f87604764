"""Inventory roles: balancers, nodes, stores and load hosts, and which parts a fault may
reach (only those marked `faults = true`); every bad key is one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.config.faults import parse_fault
from harness.config.inventory import InventoryError, load_inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example.toml"
NODE = '[[nodes]]\nname = "web1"\nhost = "127.0.0.1"\ncatalina_home = "/t"\nfaults = true\n'
STORE = (
    '[[stores]]\nname = "redis1"\nkind = "redis"\nhost = "127.0.0.3"\naddress = "127.0.0.3:6379"\n'
)
LB = (
    '[[balancers]]\nname = "lb1"\nkind = "haproxy"\nhost = "127.0.0.1"\nurl = "http://127.0.0.1/"\n'
)


def _inventory(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    return path


def test_the_example_shows_every_role() -> None:
    inventory = load_inventory(EXAMPLE)
    assert [p.name for p in inventory.parts()] == ["lb1", "web1", "web2", "redis1", "load1"]
    assert inventory.part("balancer").name == "lb1"
    assert inventory.load[0].processes == 2


def test_a_fault_reaches_only_a_part_marked_for_faults(tmp_path: Path) -> None:
    inventory = load_inventory(_inventory(tmp_path, LB + NODE + STORE))
    (web1,) = inventory.check_fault(parse_fault("sigkill:web1@30-45"))
    assert web1.name == "web1"
    with pytest.raises(InventoryError, match=r"redis1 is not marked `faults = true`"):
        inventory.check_fault(parse_fault("partition:web1-redis1@10"))
    with pytest.raises(InventoryError, match=r"lb1 is not marked"):
        inventory.check_fault(parse_fault("partition:balancer-web1@10"))
    with pytest.raises(InventoryError, match=r"no part named 'web9' \(parts: lb1, web1, redis1\)"):
        inventory.check_fault(parse_fault("sigkill:web9@10"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (NODE.replace("web1", "web-1"), r"nodes\.0\.name: String should match pattern"),
        (LB + LB.replace("lb1", "lb2") + NODE, r"balancers: List should have at most 1 item"),
        (NODE + NODE, r"inventory: names repeat or are reserved: web1"),
        (NODE.replace("web1", "balancer"), r"inventory: names repeat or are reserved: balancer"),
        (NODE + STORE.replace("127.0.0.3:6379", "127.0.0.3"), r"stores\.0\.address: .*HOST:PORT"),
        (NODE + LB.replace("http://127.0.0.1/", "127.0.0.1"), r"balancers\.0\.url: .*http://"),
        (NODE + STORE.replace('"redis"', '"mongo"'), r"stores\.0\.kind: Input should"),
        (NODE + '[[load]]\nname = "l1"\nhost = "h"\nprocesses = 0\n', r"load\.0\.processes"),
    ],
)
def test_a_bad_role_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _inventory(tmp_path, text)
    with pytest.raises(InventoryError, match=rf"^{path}: {message}"):
        load_inventory(path)


def test_inventory_show_prints_the_plan_and_refuses_an_unmarked_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inventory", "show", str(EXAMPLE), "--faults", "sigkill:web1@30-45"]) == 0
    out = capsys.readouterr().out
    assert "sigkill:web1@30-45" in out and "start at 45 s" in out and "web1 (127.0.0.1)" in out
    assert main(["inventory", "show", str(EXAMPLE), "--faults", "sigkill:web2@30"]) == 2
    out = capsys.readouterr().out
    assert "error: " in out and "web2 is not marked `faults = true`" in out
    assert "role" not in out  # refused before anything is shown
