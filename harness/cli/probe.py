"""probe install|remove --inventory FILE: session.jsp and health.jsp on one's own nodes,
under /tomcat-bench-probe, kept by each node's own session manager."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add
from harness.cluster.remote import probe
from harness.cluster.remote.hosts import ssh_host
from harness.config.inventory import load_inventory


def add_parser(subparsers: Subparsers) -> Parser:
    command = subparsers.add_parser(
        "probe", help="put the probe webapp on one's own nodes (or take it away)"
    )
    command.add_argument("action", choices=("install", "remove"))
    add(command, "inventory", "", "the inventory whose nodes get it", metavar="FILE")
    return command


def run(args: argparse.Namespace) -> int:
    if not args.inventory:
        raise ValueError("probe: give --inventory FILE")
    inventory = load_inventory(Path(args.inventory))
    table = Table(title=f"probe {args.action}: {inventory.path}", title_justify="left")
    for column in ("node", "where", "session manager", "done"):
        table.add_column(column, overflow="fold")
    for node in inventory.nodes:
        host = ssh_host(inventory, node)
        try:
            manager = probe.session_manager(host, node)
            if args.action == "install":
                seconds = probe.install(host, node)
                done = f"serves {probe.url(node)}/ ({seconds:.1f} s)"
            else:
                done = "removed" if probe.remove(host, node) else "was not there"
        finally:
            host.close()
        table.add_row(node.name, str(probe.folder(node)), manager["kind"], done)
    console.print(table)
    return 0
