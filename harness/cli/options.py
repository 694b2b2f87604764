"""Where an option's value comes from, and the options several subcommands share.

Every option --foo-bar has an environment twin, TOMCAT_BENCH_FOO_BAR, converted by the
option's own type= when the command line does not give it, so a bad one fails while parsing
and says which variable it came from. The command line wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from harness.cluster.lab import Topology
from harness.cluster.lab.balancers import BALANCERS
from harness.cluster.lab.lab import SESSION_STORES
from harness.cluster.lab.topology import DEFAULT_NET, DEFAULT_RUN_DIR
from harness.results import RESULTS_DIR

PREFIX = "TOMCAT_BENCH_"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that knows each option's environment twin; its subparsers are
    Parsers too (argparse makes them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.twins: dict[str, str] = {}  # dest -> environment variable


Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


class FromEnv(str):
    """A default taken from the environment: when its option's type refuses it, the error
    names the variable as well as the option."""

    variable: str

    def __new__(cls, value: str, variable: str) -> FromEnv:
        made = super().__new__(cls, value)
        made.variable = variable
        return made


def twin(option: str) -> str:
    return PREFIX + option.upper().replace("-", "_")


# -- types -----------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def duration(text: str) -> float:
    """Seconds from "90", "90s", "5m", "1h30m" (Locust's -t forms); argparse names the
    option (and the twin, when the value came from it) when it is anything else."""
    found = _DURATION.match(text.strip())
    if not text.strip() or found is None or not any(found.groups()):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds, or like 90s, 5m, 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds


def optional(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """An option whose empty value means "not given"."""

    def parse(text: str) -> Any:
        return kind(text) if text.strip() else None

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def switch(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: 1, true or yes for on; 0, false, no or empty")


def complaint(kind: Callable[[str], Any], text: str, error: Exception) -> str:
    """What argparse says of a value its type refused, for the places argparse does not."""
    if isinstance(error, argparse.ArgumentTypeError):
        return str(error)
    return f"invalid {getattr(kind, '__name__', repr(kind))} value: {str(text)!r}"


def _naming_twin(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
            if not isinstance(text, FromEnv):
                raise  # from the command line: argparse's own words
            raise argparse.ArgumentTypeError(
                f"{complaint(kind, text, error)} (from {text.variable})"
            ) from None

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


# -- adding options --------------------------------------------------------


def add(
    parser: Parser,
    option: str,
    default: str,
    help_: str,
    *,
    kind: Callable[[str], Any] | None = None,
    **kw: Any,
) -> None:
    """--option, its twin, and help ending in both. A string default, converted by kind
    only when used, as argparse does: a bad twin fails only the commands that read it."""
    variable = twin(option)
    given = os.environ.get(variable)
    if kind is not None:
        kw["type"] = _naming_twin(kind)
        given = None if given is None else FromEnv(given, variable)
    action = parser.add_argument(
        f"--{option}",
        default=default if given is None else given,
        help=f"{help_} [env {variable}; default {default}]",
        **kw,
    )
    parser.twins[action.dest] = variable


class _Switch(argparse.Action):
    """store_true whose default may be the twin's text, which type= turns into a bool."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, True)


def flag(parser: Parser, option: str, help_: str, *short: str) -> None:
    """A switch; its twin turns it on with 1, true or yes."""
    variable = twin(option)
    given = os.environ.get(variable)
    action = parser.add_argument(
        *short,
        f"--{option}",
        action=_Switch,
        default=False if given is None else FromEnv(given, variable),
        type=_naming_twin(switch),
        help=f"{help_} [env {variable}=1]",
    )
    parser.twins[action.dest] = variable


def lab_options(parser: Parser) -> None:
    add(parser, "balancer", "nginx-rr", f"balancer in front: {', '.join(BALANCERS)}")
    add(parser, "sessions", "redis", f"where sessions live: {', '.join(SESSION_STORES)}")
    add(parser, "net", DEFAULT_NET, "first three octets of the lab's loopback addresses")
    add(parser, "run-dir", str(DEFAULT_RUN_DIR), "folder for the lab's configs, logs and state")


def topology(args: argparse.Namespace) -> Topology:
    return Topology(net=args.net, run_dir=Path(args.run_dir))


def bench_options(
    parser: Parser,
    *,
    duration_s: str,
    users: str,
    fault_target: tuple[str, str] = ("node1", "node to SIGKILL mid-run ('none' for no fault)"),
) -> None:
    """What bench, matrix and profiles share: one bench's plan (fault_target: default, help)."""
    add(parser, "profile", "best-practice", "profile name or .toml path")
    add(parser, "duration", duration_s, "length of the load: 90, 90s, 5m, 1h30m", kind=duration)
    add(parser, "users", users, "simulated users", kind=int)
    add(parser, "spawn-rate", "20", "users started per second", kind=float)
    add(parser, "wait", "0.05", "seconds each user waits between requests", kind=float)
    add(
        parser,
        "arrival-rate",
        "",
        "open model: requests/s in all on a fixed schedule (replaces --wait); latencies are "
        "also reported corrected for coordinated omission",
        kind=optional(float),
    )
    add(parser, "fault-target", fault_target[0], fault_target[1])
    add(
        parser,
        "fault-at",
        "",
        "when the fault falls, like --duration (default: the middle)",
        kind=optional(duration),
    )
    add(
        parser,
        "faults",
        "",
        "a fault schedule, overriding the two above: ACTION:TARGET@T[-T2],... "
        "(sigkill, shutdown, sigstop, restart, reload, context-reload, touch, redeploy; "
        "e.g. sigstop:node1@10-15, context-reload:node1@10, touch:node1@10, redeploy:node1@10)",
    )
    add(parser, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    add(
        parser,
        "source-net",
        "127.100",
        "first two octets of each user's own source address (127.A.user.1); '' for none",
    )
    lab_options(parser)
