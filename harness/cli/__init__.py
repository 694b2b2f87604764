"""python -m harness SUBCOMMAND: one subcommand per job.

Every option has an environment twin, TOMCAT_BENCH_<OPTION> (e.g.
TOMCAT_BENCH_PROFILE), so make, CI and a shell agree on one set of names.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Callable, Sequence
from types import FrameType

from rich.logging import RichHandler

from harness.cli import (
    apply,
    bench,
    capacity,
    compare,
    export,
    inventory,
    lab,
    matrix,
    perf,
    probe,
    profile,
    profiles,
    report,
    scale,
    storebench,
    timing,
    tls,
    verify,
    webui,
)
from harness.cli.console import console, error
from harness.cli.options import Parser, flag, parse
from harness.cluster.errors import ClusterError
from harness.cluster.lab import LabError
from harness.cluster.remote.hosts import HostError
from harness.commands import MissingCommand
from harness.config.profile import ProfileError

# In the order `--help` lists them.
_COMMANDS = (
    lab,
    bench,
    matrix,
    profiles,
    webui,
    capacity,
    perf,
    timing,
    tls,
    scale,
    storebench,
    report,
    compare,
    export,
    apply,
    verify,
    profile,
    inventory,
    probe,
)


def build_parser() -> Parser:
    parser = Parser(prog="python -m harness", description=__doc__)
    flag(parser, "verbose", "debug logging", "-v")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS:
        command.add_parser(sub).set_defaults(func=command.run)
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into the same path as Ctrl-C, so `finally` stops the lab.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("redis").setLevel(logging.WARNING)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    run: Callable[[argparse.Namespace], int] = args.func
    try:
        return run(args)
    except (
        ProfileError,
        LabError,
        ClusterError,
        HostError,
        MissingCommand,
        ValueError,
        FileNotFoundError,
    ) as problem:
        error(str(problem))
        return 2
    except KeyboardInterrupt:
        console.print("interrupted; the lab was stopped")
        return 130
