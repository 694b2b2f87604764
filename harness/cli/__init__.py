"""python -m harness SUBCOMMAND: one subcommand per job.

Every option has an environment twin, TOMCAT_BENCH_<OPTION> (e.g.
TOMCAT_BENCH_PROFILE), so make, CI and a shell agree on one set of names.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from rich.logging import RichHandler

from harness import interrupts
from harness.cli.console import console, error
from harness.cli.options import Parser, flag, parse

# In the order `--help` lists them: each a module of harness.cli with add_parser and run.
_COMMANDS = (
    "lab",
    "bench",
    "matrix",
    "profiles",
    "webui",
    "capacity",
    "perf",
    "timing",
    "tls",
    "scale",
    "storebench",
    "report",
    "compare",
    "export",
    "apply",
    "verify",
    "profile",
    "inventory",
    "probe",
)
# The failures a command reports in one line (exit 2), by module and class name: looked up
# only among modules already imported, since a class never imported was never raised, and
# importing them all would cost every command the whole cluster stack.
_EXPECTED = (
    ("harness.config.profile", "ProfileError"),
    ("harness.cluster.lab", "LabError"),
    ("harness.cluster.errors", "ClusterError"),
    ("harness.cluster.remote.hosts", "HostError"),
    ("harness.commands", "MissingCommand"),
)
_VERBOSE = frozenset({"-v", "--verbose"})


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"harness.cli.{name}")


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command argv runs, when nothing before it but --verbose can change what argparse
    does (--help there prints every command's help, so it needs them all)."""
    for word in argv:
        if word not in _VERBOSE:
            return word if word in _COMMANDS else None
    return None


def build_parser(only: str | None = None) -> Parser:
    """Every command's parser; with only, that one's in full and the others as bare names,
    so a command imports what it needs and not what every other command needs."""
    parser = Parser(prog="python -m harness", description=__doc__)
    flag(parser, "verbose", "debug logging", "-v")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        if only is None or name == only:
            command = _command(name)
            command.add_parser(sub).set_defaults(func=command.run)
        else:
            sub.add_parser(name)
    return parser


def _expected(problem: BaseException) -> bool:
    for module_name, class_name in _EXPECTED:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(problem, getattr(module, class_name)):
            return True
    return isinstance(problem, ValueError | FileNotFoundError)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = parse(build_parser(chosen_command(words)), argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("redis").setLevel(logging.WARNING)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    handlers = interrupts.install()
    run: Callable[[argparse.Namespace], int] = args.func
    try:
        return run(args)
    except KeyboardInterrupt:
        console.print("interrupted; the lab was stopped")
        return 130
    except Exception as problem:
        if not _expected(problem):
            raise
        error(str(problem))
        return 2
    finally:
        if interrupts.received():
            interrupts.ignore_from_now()
        else:
            interrupts.restore(handlers)
