"""report: write report.html for a results folder (or profiles.html for a comparison)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers


def add_parser(subparsers: Subparsers) -> Parser:
    report = subparsers.add_parser("report", help="write report.html for a results folder")
    report.add_argument("run", help="results/<run-id> folder")
    return report


def run(args: argparse.Namespace) -> int:
    from harness.report.run import write_report  # noqa: PLC0415
    from harness.results.requests import frugal_memory  # noqa: PLC0415

    frugal_memory()  # this process reads the requests once, then exits
    folder = Path(args.run)
    if (folder / "profiles.json").exists():  # a profile comparison: rebuild its page
        from harness.load.campaigns.profiles import write_comparison  # noqa: PLC0415

        console.print(str(write_comparison(folder)))
        return 0
    console.print(str(write_report(folder)))
    return 0
