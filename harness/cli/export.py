"""export: a results folder's requests in another format (requests.csv.gz for now)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.console import console, error
from harness.cli.options import Parser, Subparsers, flag


def add_parser(subparsers: Subparsers) -> Parser:
    export = subparsers.add_parser(
        "export", help="write a run's requests as requests.csv.gz (never over an existing one)"
    )
    export.add_argument("run", help="results/<run-id> folder")
    flag(export, "csv", "write requests.csv.gz beside requests.parquet")
    return export


def run(args: argparse.Namespace) -> int:
    from harness.results.requests import ExportError, export_csv  # noqa: PLC0415

    if not args.csv:
        error("export: say what to write: --csv")
        return 2
    try:
        written = export_csv(Path(args.run))
    except ExportError as refusal:
        error(f"export: {refusal}")
        return 2
    console.print(str(written))
    return 0
