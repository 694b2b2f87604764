"""verify: read the profile back from the running JVMs, as JSON; exit 1 on a mismatch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.cli.apply import targets
from harness.cli.options import Parser, Subparsers, add, lab_options
from harness.cluster.lab import Lab
from harness.config.profile import load_profile
from harness.fleet.apply import in_effect


def add_parser(subparsers: Subparsers) -> Parser:
    verify = subparsers.add_parser("verify", help="read the profile back from the running JVMs")
    verify.add_argument("profile", nargs="?", default="", help="default: the lab's profile")
    add(verify, "inventory", "", "TOML file of hosts reached over SSH (default: the lab)")
    lab_options(verify)
    return verify


def run(args: argparse.Namespace) -> int:
    name = args.profile
    if not name and not args.inventory:
        name = Lab.attach(Path(args.run_dir)).state.profile  # type: ignore[union-attr]
    profile = load_profile(name or "best-practice")
    found, _ = targets(args, profile)
    states = in_effect(found, profile)
    print(json.dumps({state.node: state.summary() for state in states}, indent=2))
    return 1 if any(state.mismatches for state in states) else 0
