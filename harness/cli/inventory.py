"""inventory show FILE [--faults ...]: an inventory's parts by role, which of them a fault
may reach, and what a schedule of faults would do where, before anything runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add
from harness.cluster.remote import is_inventory
from harness.config.faults import ACTIONS, FaultSpec, parse_faults
from harness.config.inventory import (
    Inventory,
    InventoryBalancer,
    InventoryLoad,
    InventoryNode,
    InventoryStore,
    Part,
    load_inventory,
)


def add_parser(subparsers: Subparsers) -> Parser:
    inventory = subparsers.add_parser(
        "inventory", help="show an inventory's parts and what a fault schedule would do"
    )
    inventory.add_argument("action", choices=("show",))
    inventory.add_argument("file", help="the inventory (TOML; see inventories/example.toml)")
    add(inventory, "faults", "", "a fault schedule to check against it, e.g. sigkill:web1@30")
    return inventory


def run(args: argparse.Namespace) -> int:
    inventory = load_inventory(Path(args.file))
    faults = parse_faults(args.faults) if args.faults else ()
    for spec in faults:
        inventory.check_fault(spec)  # one line naming the part not marked for faults
    console.print(_parts(inventory))
    if faults:
        console.print(fault_plan(inventory, faults))
    return 0


def _role(part: Part) -> tuple[str, str, str]:
    """(role, kind, how it is reached or served)."""
    if isinstance(part, InventoryBalancer):
        return "balancer", part.kind, part.url
    if isinstance(part, InventoryNode):
        return "node", "tomcat", part.url
    if isinstance(part, InventoryStore):
        return "store", part.kind, part.address
    assert isinstance(part, InventoryLoad)
    return "load", f"{part.processes} workers", ", ".join(part.source_addresses)


def _parts(inventory: Inventory) -> Table:
    table = Table(title=str(inventory.path), title_justify="left")
    for column in ("role", "name", "kind", "serves", "ssh host", "faults"):
        table.add_column(column, overflow="fold")
    for part in inventory.parts():
        role, kind, serves = _role(part)
        table.add_row(role, part.name, kind, serves, part.host, "yes" if part.faults else "no")
    return table


def fault_plan(inventory: Inventory, faults: tuple[FaultSpec, ...]) -> Table:
    table = Table(title="what the faults would do", title_justify="left")
    for column in ("at", "fault", "on host", "restored"):
        table.add_column(column)
    for spec in sorted(faults, key=lambda s: s.at_s):
        hosts = ", ".join(f"{p.name} ({p.host})" for p in inventory.check_fault(spec))
        restore = ACTIONS[spec.action]
        until = (
            f"{restore} at {spec.restore_at_s:g} s"
            if spec.restore_at_s is not None
            else (f"{restore} at the end of the run" if restore else "nothing to restore")
        )
        table.add_row(f"{spec.at_s:g} s", str(spec), hosts, until)
    return table


def up_label(spec: object) -> str:
    """What getting the cluster ready was: the lab is started, one's own cluster checked."""
    return "cluster checked" if is_inventory(spec) else "lab up"
