"""apply: put a profile on every node (the lab's, or an inventory's over SSH), verify, roll
back on failure; the diff of a dry run, or a table of what each node runs now."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, flag, lab_options
from harness.cluster.lab import Lab, LabError
from harness.config.inventory import load_inventory
from harness.config.profile import Profile, load_profile
from harness.fleet.apply import NodeResult, Target, apply_profile, dry_run, lab_targets, ssh_targets


def add_parser(subparsers: Subparsers) -> Parser:
    apply = subparsers.add_parser("apply", help="put a profile on every node; verify; roll back")
    apply.add_argument("profile", help="profile name or .toml path")
    add(apply, "inventory", "", "TOML file of hosts reached over SSH (default: the lab)")
    flag(apply, "dry-run", "show the diff, change nothing")
    lab_options(apply)
    return apply


def targets(args: argparse.Namespace, profile: Profile) -> tuple[list[Target], Lab | None]:
    """The inventory's hosts when --inventory names one, else the running lab's nodes."""
    if args.inventory:
        return ssh_targets(load_inventory(Path(args.inventory)), profile), None
    lab = Lab.attach(Path(args.run_dir))
    if not lab.running():
        raise LabError(f"{lab.state_path}: the lab is not running (run `lab up` first)")
    return lab_targets(lab, profile), lab


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    found, lab = targets(args, profile)
    if args.dry_run:
        _print_diff(dry_run(found))
        return 0
    with console.status(f"apply {profile.name}") as status:
        results = apply_profile(found, profile, progress=status.update)
    console.print(_table(results))
    for result in results:
        for changed in result.changed:
            backup = result.backups.get(changed)
            kept = f"previous kept as {Path(backup).name}" if backup else "new file"
            console.print(Text(f"{result.node}: {changed} ({kept})"))
    failed = any(result.error for result in results)
    if lab is not None and not failed:
        lab.record_profile(profile.name)
    return 1 if failed else 0


def _print_diff(text: str) -> None:
    if not text:
        console.print("no file would change")
    elif console.is_terminal:
        console.print(Syntax(text, "diff", word_wrap=True))
    else:
        print(text, end="")  # a diff to a file or a pipe: whole lines, no markup


def _table(results: list[NodeResult]) -> Table:
    # Narrow enough for an 80-column terminal: the files and backups are listed below it.
    table = Table("node", "files", "restart s", "in effect (read from the JVM)", "result")
    for result in results:
        effect = result.in_effect.summary() if result.in_effect else {}
        table.add_row(
            Text(result.node),
            f"{len(result.changed)} changed" if result.changed else "as they were",
            f"{result.restart_s:.1f}" if result.restart_s is not None else "-",
            Text(_effect_words(effect)),
            Text(f"rolled back: {result.error}" if result.error else "applied"),
        )
    return table


def _effect_words(effect: dict[str, Any]) -> str:
    if not effect:
        return "-"
    heap = "heap " + "/".join(
        f"{int(effect[k]) // 2**20} MiB" for k in ("InitialHeapSize", "MaxHeapSize") if k in effect
    )
    words = [f"pid {effect['pid']}", heap, ", ".join(effect["gc"]) or "gc ?"]
    pool = effect.get("pool")
    if pool:
        queue = pool.get("max_queue_size")
        words.append(
            f"{pool['kind']} {pool['max_threads']} max"
            + (f", queue {queue}" if queue is not None else "")
            + f", {pool['current_threads']} threads ({pool['busy_threads']} busy)"
        )
    return "; ".join(words)
