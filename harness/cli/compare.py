"""compare: two results folders, metric by metric; exit 0 same, 1 regression, 2 cannot."""

from __future__ import annotations

import argparse

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, flag


def add_parser(subparsers: Subparsers) -> Parser:
    compare = subparsers.add_parser(
        "compare", help="compare two results folders: exit 0 same, 1 regression, 2 cannot"
    )
    compare.add_argument("base", help="results/<run-id> of the baseline")
    compare.add_argument("head", help="results/<run-id> to judge against it")
    add(compare, "thresholds", "", "TOML thresholds (default: profiles/compare/thresholds.toml)")
    add(compare, "markdown", "", "also write the comparison as Markdown to this file")
    add(compare, "html", "", "also write an HTML page with both runs' charts overlaid")
    add(compare, "junit", "", "also write each metric as a JUnit XML test case to this file")
    flag(
        compare,
        "allow-different-profile",
        "compare runs of two profiles on purpose (otherwise exit 2)",
    )
    return compare


def run(args: argparse.Namespace) -> int:
    # harness.report.compare prints its own table to the console it is given.
    from harness.report.compare import run as compare  # noqa: PLC0415
    from harness.results.requests import frugal_memory  # noqa: PLC0415

    frugal_memory()  # this process reads both runs' requests once, then exits
    return compare(
        args.base,
        args.head,
        args.thresholds or None,
        args.markdown or None,
        args.html or None,
        console,
        allow_different_profile=args.allow_different_profile,
        junit=args.junit or None,
    )
