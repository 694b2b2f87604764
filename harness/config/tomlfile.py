"""The user's TOML files (profiles, inventories, thresholds): read them, and say in one line
naming the file and the key what is wrong, whichever file it is."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def read_toml(path: Path, kind: str, error: type[Exception]) -> dict[str, Any]:
    """The file's table; `error` ("PATH: no such KIND file", or not valid TOML) otherwise."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{path}: not valid TOML: {problem}") from None


def describe(
    path: Path,
    error: ValidationError,
    *,
    obsolete: Mapping[str, str] | None = None,
    whole: str = "",
) -> str:
    """pydantic's first complaint as "PATH: KEY: what is wrong (got VALUE)".

    obsolete: keys that once existed, with what replaces them; whole: the key to name
    when a check across the whole file fails."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or whole
    leaf = str(first["loc"][-1]) if first["loc"] else ""
    where = f"{path}: {key + ': ' if key else ''}"
    if first["type"] == "extra_forbidden":
        if obsolete and leaf in obsolete:
            return f"{where}obsolete: {obsolete[leaf]}"
        return f"{where}unknown key"
    if first["type"] in ("value_error", "missing"):
        # A check's own message names the keys itself; a missing key has no value to show.
        return where + str(first["msg"]).removeprefix("Value error, ")
    return f"{where}{first['msg']} (got {first.get('input')!r})"
