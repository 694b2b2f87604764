"""Where an option's value comes from, and the options several subcommands share.

Every option --foo-bar has an environment twin, TOMCAT_BENCH_FOO_BAR, converted by the
option's own type= when the command line does not give it, so a bad one fails while parsing
and says which variable it came from. bench, matrix, profiles and capacity also read a TOML
file (--config, Locust's habit) keyed by the long option names. Precedence: the command line,
then the environment, then the config file, then the default.

argparse rather than ConfigArgParse: ConfigArgParse feeds environment and file values to
argparse as if typed on the command line, so a bad value names neither the variable nor
the file's key; it writes help as "[env var: X]" and reads TOML with its own parser. Bending
those three back costs more lines than the few below.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

# The lab, the remote cluster and the results stack cost most of a second and over 100 MB
# to import; report, compare and export need none of it, so the functions that do import
# it where they are called.
if TYPE_CHECKING:
    from harness.cluster import ClusterSpec
    from harness.cluster.lab import LabSpec, Topology
    from harness.config.inventory import Inventory
    from harness.config.profile import Profile

PREFIX = "TOMCAT_BENCH_"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that knows each option's environment twin; its subparsers are
    Parsers too (argparse makes them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.twins: dict[str, str] = {}  # dest -> environment variable


Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


class ConfigError(Exception):
    """A config file that cannot be read, or a key or value in it: one line, file and key."""


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
    from harness.cluster.lab.balancers import BALANCERS  # noqa: PLC0415
    from harness.cluster.lab.lab import SESSION_STORES  # noqa: PLC0415

    add(parser, "balancer", "nginx-rr", f"balancer in front: {', '.join(BALANCERS)}")
    add(parser, "sessions", "redis", f"where sessions live: {', '.join(SESSION_STORES)}")
    lab_place_options(parser)


def lab_place_options(parser: Parser, *, nodes: bool = True) -> None:
    """Where the embedded lab runs (its size, addresses and folder): for the studies that
    pick their own balancers and session strategies."""
    from harness.cluster.lab.topology import DEFAULT_NET, DEFAULT_RUN_DIR  # noqa: PLC0415

    if nodes:
        add(parser, "nodes", "2", "Tomcat nodes in the lab, 1 to 8 (.11 to .18)", kind=int)
    add(parser, "net", DEFAULT_NET, "first three octets of the lab's loopback addresses")
    add(parser, "run-dir", str(DEFAULT_RUN_DIR), "folder for the lab's configs, logs and state")


def topology(args: argparse.Namespace) -> Topology:
    from harness.cluster.lab import Topology  # noqa: PLC0415

    nodes = getattr(args, "nodes", 2)
    if not 1 <= nodes <= 8:
        raise ValueError(f"NODES={nodes}: the lab runs 1 to 8 nodes")
    return Topology(net=args.net, run_dir=Path(args.run_dir), node_count=nodes)


def lab_spec(args: argparse.Namespace, *, balancer: str | None = None) -> LabSpec:
    """The embedded lab the options describe: the cluster the commands measure today."""
    from harness.cluster.lab import LabSpec  # noqa: PLC0415

    return LabSpec(
        balancer=balancer or args.balancer, sessions=args.sessions, topology=topology(args)
    )


def inventory_options(parser: Parser, *, apply_switch: bool = True) -> None:
    """Measure one's own cluster instead of the embedded lab."""
    add(
        parser,
        "inventory",
        "",
        "measure the cluster this inventory describes (over SSH) instead of the embedded lab; "
        "its balancer and session manager are the cluster's own",
        metavar="FILE",
    )
    flag(parser, "yes", "run the printed plan on the inventory's hosts without asking")
    if apply_switch:
        flag(
            parser,
            "apply",
            "with --inventory: put the profile on the nodes first, as `apply` does "
            "(backups, restart, verify, rollback); without it the nodes run what they run",
        )


def cluster_spec(
    args: argparse.Namespace, *, balancer: str | None = None, apply: bool = False
) -> ClusterSpec:
    """The inventory's cluster when one is given, else the embedded lab."""
    if getattr(args, "inventory", ""):
        # Here, not above: asyncssh and cryptography cost a lab's every bench 0.1-0.2 s.
        from harness.cluster.remote.cluster import InventorySpec  # noqa: PLC0415
        from harness.config.inventory import load_inventory  # noqa: PLC0415

        inventory = load_inventory(Path(args.inventory))
        applying = apply or getattr(args, "apply", False)
        return InventorySpec(inventory, apply=_applier(inventory) if applying else None)
    return lab_spec(args, balancer=balancer)


def _applier(inventory: Inventory) -> Callable[[Profile, Callable[[str], None]], None]:
    """fleet's apply, node by node; a node rolled back stops the bench with its reason."""

    def apply(profile: Profile, progress: Callable[[str], None]) -> None:
        from harness.cluster.errors import ClusterError  # noqa: PLC0415
        from harness.fleet.apply import apply_profile, ssh_targets  # noqa: PLC0415

        for result in apply_profile(ssh_targets(inventory, profile), profile, progress=progress):
            if result.error:
                raise ClusterError(f"apply {profile.name} to {result.node}: {result.error}")

    return apply


def bench_options(
    parser: Parser,
    *,
    duration_s: str,
    users: str,
    fault_target: tuple[str, str] = ("node1", "node to SIGKILL mid-run ('none' for no fault)"),
) -> None:
    """What bench, matrix and profiles share: one bench's plan (fault_target: default, help)."""
    from harness.config.faults import SEQUENCES  # noqa: PLC0415
    from harness.results.folders import RESULTS_DIR  # noqa: PLC0415
    from harness.results.outcomes import check_scenario  # noqa: PLC0415

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
    add(
        parser,
        "scenario",
        "counter",
        "how session.jsp treats each session: counter (setAttribute each request), inplace "
        "(a mutable attribute changed in place, set only when new), growing (a cart gaining "
        "2 KB a request up to 64 KB), readonly (set once, then only read), parallel:N (N "
        "requests of a session in flight at once, as a page's XHRs; lost updates counted)",
        kind=check_scenario,
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
        "e.g. sigstop:node1@10-15, context-reload:node1@10, touch:node1@10, redeploy:node1@10), "
        f"or a named sequence: {', '.join(SEQUENCES)}",
    )
    add(parser, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    add(
        parser,
        "source-net",
        "127.100",
        "first two octets of each user's own source address (127.A.user.1); '' for none",
    )
    lab_options(parser)


# -- the config file -------------------------------------------------------


def config_option(parser: Parser, example: str) -> None:
    add(
        parser,
        "config",
        "",
        f"a TOML file of this command's options, keyed by their long names ({example}); "
        "the command line and the environment override it",
        metavar="FILE",
    )


def parse(parser: Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; when it (or TOMCAT_BENCH_CONFIG) names a config file, parsed again
    with the file's values as the defaults the environment has not already replaced."""
    args = parser.parse_args(argv)
    path = getattr(args, "config", "")
    if not path:
        return args
    command = _subcommand(parser, args.command)
    try:
        command.set_defaults(**from_file(command, Path(path), args.command))
    except ConfigError as error:
        command.error(str(error))
    return parser.parse_args(argv)


def _subcommand(parser: Parser, name: str) -> Parser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen: Parser = action.choices[name]
            return chosen
    raise LookupError(name)


def from_file(parser: Parser, path: Path, command: str) -> dict[str, Any]:
    """dest -> value for each key of the file whose twin is not set; every key is checked,
    overridden or not."""
    from harness.config.tomlfile import read_toml  # noqa: PLC0415

    options = {
        action.option_strings[-1].removeprefix("--"): action
        for action in parser._actions
        if action.dest in parser.twins and action.dest != "config"
    }
    values: dict[str, Any] = {}
    for key, value in read_toml(path, "config", ConfigError).items():
        name = key.replace("_", "-")
        where = f'{path}: key "{key}"'
        action = options.get(name)
        if name == "config":
            raise ConfigError(f"{where}: a config file cannot name another")
        if action is None:
            close = difflib.get_close_matches(name, options, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{where}: not an option of {command}{hint}")
        try:
            converted = _converted(action, value)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
        if parser.twins[action.dest] not in os.environ:
            values[action.dest] = converted
    return values


def _converted(action: argparse.Action, value: object) -> Any:
    if isinstance(action, _Switch):
        if not isinstance(value, bool):
            raise ValueError(f"true or false, not {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        return [_scalar(action, item) for item in (value if isinstance(value, list) else [value])]
    return _scalar(action, value)


def _scalar(action: argparse.Action, value: object) -> Any:
    # TOML's own types stand in for what a user would type: 50 as "50", 0.5 as "0.5".
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a string or a number, not {value!r}")
    text = str(value)
    if action.type is None:
        return text
    kind: Callable[[str], Any] = action.type  # type: ignore[assignment]
    try:
        return kind(text)
    except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
        raise ValueError(complaint(kind, text, error)) from None
