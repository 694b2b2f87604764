"""Every external command the code runs is in harness/commands.txt, which setup installs
and checks, so a missing Debian package fails here rather than on a user's fresh machine.

The scan reads the code (ast), not the running program: a command counts when a list
whose first item names it is passed to something that runs commands, returned by a
command builder or assigned to argv/command, or when a name is looked up with
shutil.which / commands.path_of / commands.require.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from harness import commands

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("harness", "locustfiles", "tests")
# Calls that run an argv given as one of their arguments.
RUNNERS = {"run", "_run", "Popen", "check_output", "check_call", "call", "start"}
RUNNERS |= {"create_subprocess_exec", "run_command"}
LOOKUPS = {"which", "path_of", "require"}
ARGV_NAMES = {"argv", "command", "cmd", "prefix"}
COMMAND = re.compile(r"^(/[\w.+-]+)*/?[a-z][\w.+-]*$")
# Commands whose name is only known at run time, each with why it needs no package.
DYNAMIC = {
    "sys.executable": "the harness's own Python (.venv), made by setup",
    "catalina": "Tomcat's bin/catalina.sh, unpacked from Maven's artifacts by setup",
    "command": "a list built from the lab's command builders, scanned where built",
    "argv": "a list built from the lab's command builders, scanned where built",
    "tool": "the path commands.path_of found",
    "REPO_ROOT / 'scripts' / 'setup'": "make setup's own script, in the repository",
}


def _module_files() -> dict[str, Path]:
    files = {}
    for top in SCANNED:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[dotted] = path
            files[parts[-1]] = files.get(parts[-1], path)  # locustfiles import by bare name
    return files


FILES = _module_files()


class Module:
    """One file's string constants and imports, to resolve NAME and module.NAME."""

    _cache: ClassVar[dict[Path, Module]] = {}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(), str(path))
        self.strings: dict[str, str] = {}
        self.imported: dict[str, tuple[str, str | None]] = {}  # alias -> (module, name)
        for node in self.tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                text = _string_of(node.value)
                for target in targets:
                    if isinstance(target, ast.Name) and text is not None:
                        self.strings[target.id] = text
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (alias.name, None)

    @classmethod
    def of(cls, path: Path) -> Module:
        if path not in cls._cache:
            cls._cache[path] = cls(path)
        return cls._cache[path]

    def resolve(self, node: ast.expr) -> str | None:
        """The string an expression names, or None when only the run knows it."""
        text = _string_of(node)
        if text is not None:
            return text
        if isinstance(node, ast.Name):
            if node.id in self.strings:
                return self.strings[node.id]
            module, name = self.imported.get(node.id, ("", None))
            return _constant(module, name) if name else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module, name = self.imported.get(node.value.id, ("", None))
            dotted = f"{module}.{name}" if name else module
            return _constant(dotted, node.attr)
        return None


def _string_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BoolOp):  # `commands.path_of("nft") or "/usr/sbin/nft"`
        return _string_of(node.values[-1])
    if isinstance(node, ast.Call) and _called(node) in LOOKUPS and node.args:
        return _string_of(node.args[0])  # `[commands.require("wrk"), "-v"]`
    return None


def _constant(module: str, name: str) -> str | None:
    path = FILES.get(module)
    return Module.of(path).strings.get(name) if path else None


def _argv_lists(tree: ast.AST) -> Iterator[tuple[ast.List, bool]]:
    """Lists that may be an argv, each with whether it surely is one (given to a runner)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) in RUNNERS:
            yield from ((a, True) for a in node.args if isinstance(a, ast.List))
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.List):
            yield node.value, False
        elif isinstance(node, ast.Assign) and _names_argv(node):
            value = node.value.body if isinstance(node.value, ast.IfExp) else node.value
            if isinstance(value, ast.List):
                yield value, False


def _names_argv(node: ast.Assign) -> bool:
    return any(isinstance(t, ast.Name) and t.id in ARGV_NAMES for t in node.targets)


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def used_commands() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(command -> where), and (unresolved expression -> where) for runner arguments."""
    used: dict[str, set[str]] = {}
    unresolved: dict[str, set[str]] = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == Path(__file__):
                continue  # this scan's own examples
            module = Module.of(path)
            for where, first, surely in _commands_in(module):
                text = module.resolve(first)
                if text is None:
                    if surely and not _constructed(first):
                        unresolved.setdefault(ast.unparse(first), set()).add(where)
                elif COMMAND.match(text):
                    used.setdefault(Path(text).name, set()).add(where)
    return used, unresolved


def _constructed(node: ast.expr) -> bool:
    """`Reply("S", "n", 1)`: a list of objects given to a helper named run, not an argv."""
    return isinstance(node, ast.Call) and getattr(node.func, "id", "a")[:1].isupper()


def _commands_in(module: Module) -> Iterator[tuple[str, ast.expr, bool]]:
    """(where, the expression naming a command, whether it is surely run or looked up)."""
    rel = module.path.relative_to(ROOT)
    for argv, surely in _argv_lists(module.tree):
        if argv.elts and not isinstance(argv.elts[0], ast.Starred):
            yield f"{rel}:{argv.lineno}", argv.elts[0], surely
    if module.path == Path(commands.__file__):
        return  # the lookups' own definitions pass names through
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and _called(node) in LOOKUPS:
            names = node.args[:1] if _called(node) == "which" else node.args
            for arg in names:
                yield f"{rel}:{node.lineno}", arg, True


def test_every_command_the_code_runs_is_installed_or_checked_by_setup() -> None:
    used, _ = used_commands()
    listed = commands.manifest()
    unlisted = {name: sorted(where) for name, where in used.items() if name not in listed}
    assert not unlisted, (
        f"commands run by the code but not in {commands.MANIFEST.name} "
        f"(add each with its Debian package): {unlisted}"
    )


def test_commands_known_only_at_run_time_are_accounted_for() -> None:
    _, unresolved = used_commands()
    unknown = {
        expr: sorted(where)
        for expr, where in unresolved.items()
        if not any(name in expr for name in DYNAMIC)
    }
    assert not unknown, f"commands whose name the scan cannot read; say why in DYNAMIC: {unknown}"


def test_the_scan_finds_what_the_lab_runs() -> None:
    """The scan itself can fail: it must see the commands we know the code runs."""
    used, _ = used_commands()
    assert {"nginx", "haproxy", "redis-server", "memcached", "memcaslap", "wrk"} <= set(used)
    assert {"jcmd", "ss", "redis-benchmark", "ssh-keygen", "chromium"} <= set(used)


def test_setup_installs_and_checks_the_list() -> None:
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "commands=harness/commands.txt" in setup
    # One loop adds each missing command's package; one at the end checks each command.
    assert setup.count('done <"$commands"') == 2
    assert 'need "$command" "$package"' in setup
    assert "not found: install the Debian package $package" in setup


def test_every_listed_command_is_used() -> None:
    """The list holds no stale entry: each command is run somewhere (or by setup)."""
    used, _ = used_commands()
    by_setup = {"mvn"}  # setup itself runs Maven
    stale = set(commands.manifest()) - set(used) - by_setup
    assert not stale, f"listed in {commands.MANIFEST.name} but run nowhere: {stale}"


def test_a_missing_command_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real lookups on this machine, with a PATH that has none of the listed commands."""
    monkeypatch.setenv("PATH", os.devnull)
    with pytest.raises(commands.MissingCommand) as caught:
        commands.require("memcaslap")
    assert str(caught.value) == (
        "memcaslap not found: install the Debian package libmemcached-tools "
        "(`make setup` installs it)"
    )


def test_an_unlisted_command_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not in commands\.txt"):
        commands.path_of("telnet")
