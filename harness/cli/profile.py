"""profile list | show NAME: the profiles there are, or one's effective settings as JSON."""

from __future__ import annotations

import argparse
import json

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers
from harness.config.profile import available_profiles, load_profile


def add_parser(subparsers: Subparsers) -> Parser:
    profile = subparsers.add_parser(
        "profile", help="list profiles or show one's effective settings"
    )
    profile.add_argument("action", choices=("list", "show"))
    profile.add_argument("name", nargs="?", default="best-practice")
    return profile


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in available_profiles():
            console.print(f"{name}: {load_profile(name).description}")
        return 0
    profile = load_profile(args.name)
    print(json.dumps({"name": profile.name, **profile.effective()}, indent=2))
    return 0
