"""The external commands the harness runs, and the Debian package that provides each.

One list, `harness/commands.txt`, serves three readers: `scripts/setup` installs its
packages and checks every command; this module turns a missing command into one line
naming its package; and a unit test fails when code runs a command the list lacks.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("commands.txt")
# Debian puts daemons in sbin, which a non-root PATH often lacks.
_SBIN = ("/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Command:
    name: str
    package: str
    why: str


class MissingCommand(RuntimeError):
    """A command the harness needs is not installed; the message names its package."""


@functools.cache
def manifest() -> dict[str, Command]:
    commands = {}
    for number, line in enumerate(MANIFEST.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(maxsplit=2)
        if len(fields) < 2:
            raise ValueError(f"{MANIFEST}:{number}: expected 'command package [why]'")
        name, package = fields[:2]
        commands[name] = Command(name, package, fields[2] if len(fields) > 2 else "")
    return commands


def package_of(name: str) -> str:
    command = manifest().get(Path(name).name)
    if command is None:
        raise ValueError(f"{name}: not in {MANIFEST.name}; add it with its Debian package")
    return command.package


def missing_message(name: str) -> str:
    base = Path(name).name
    return (
        f"{base} not found: install the Debian package {package_of(base)} "
        "(`make setup` installs it)"
    )


def not_found(program: str) -> MissingCommand:
    """What to raise when starting program failed with ENOENT."""
    if Path(program).name in manifest():
        return MissingCommand(missing_message(program))
    return MissingCommand(f"{program}: no such file (`make setup` makes it)")


def path_of(*names: str) -> str | None:
    """The first of names (alternatives, e.g. memcaslap and memaslap) that is installed."""
    for name in names:
        package_of(name)  # only listed commands: the test and setup rely on the list
        found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
        if found:
            return found
    return None


def require(*names: str) -> str:
    """The path of the first installed of names, or MissingCommand naming the package."""
    found = path_of(*names)
    if found is None:
        raise MissingCommand(missing_message(names[0]))
    return found


def missing(names: list[str] | tuple[str, ...]) -> list[str]:
    """Of names, those not installed (each a one-line message naming its package)."""
    return [missing_message(name) for name in names if path_of(name) is None]
