"""Options as a Locust user writes them, and environment twins checked where they are read
(a bad TOMCAT_BENCH_DURATION used to fail later, without naming the option)."""

from __future__ import annotations

import argparse
import re

import pytest

from harness.cli import build_parser
from harness.cli.options import Parser, duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h", 3600.0),
        ("2.5", 2.5),
        ("1m30s", 90.0),
    ],
)
def test_durations_like_locusts(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "5x", "m", "-5"])
def test_a_duration_otherwise_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="seconds, or like 90s, 5m, 1h30m"):
        duration(text)


def test_bench_takes_a_duration_and_typed_numbers() -> None:
    args = build_parser().parse_args(["bench", "--duration", "5m", "--users", "7"])
    assert (args.duration, args.users, args.fault_at, args.arrival_rate) == (300.0, 7, None, None)


def test_a_bad_environment_twin_names_its_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_DURATION", "ten minutes")
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench"])
    assert exited.value.code == 2
    assert "argument --duration: 'ten minutes': seconds, or like 90s, 5m, 1h30m" in (
        capsys.readouterr().err
    )


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    return line


def test_a_bad_environment_twin_names_its_variable_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_USERS", "many")
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench"])
    assert exited.value.code == 2
    assert _error_line(capsys).endswith(
        "error: argument --users: invalid int value: 'many' (from TOMCAT_BENCH_USERS)"
    )


def test_the_command_line_wins_over_a_bad_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_USERS", "many")
    assert build_parser().parse_args(["bench", "--users", "3"]).users == 3
    # ...and a command without the option never reads it.
    assert build_parser().parse_args(["compare", "a", "b"]).base == "a"


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (["perf"], "TOMCAT_BENCH_ROUNDS", "five"),
        (["capacity"], "TOMCAT_BENCH_STEP_DURATION", "10s"),
        (["storebench"], "TOMCAT_BENCH_CELL_OPS", "lots"),
        (["webui"], "TOMCAT_BENCH_WORKERS", "two"),
    ],
)
def test_numbers_of_every_command_are_checked_while_parsing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(command)
    assert exited.value.code == 2
    line = _error_line(capsys)
    assert f"argument --{variable.removeprefix('TOMCAT_BENCH_').lower().replace('_', '-')}" in line
    assert line.endswith(f"(from {variable})")


def test_switches_have_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_ALLOW_DIFFERENT_PROFILE", "1")
    monkeypatch.setenv("TOMCAT_BENCH_DRY_RUN", "yes")
    parser = build_parser()
    assert parser.parse_args(["compare", "a", "b"]).allow_different_profile is True
    assert parser.parse_args(["apply", "best-practice"]).dry_run is True


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_a_switch_twin_turns_it_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_DRY_RUN", value)
    assert build_parser().parse_args(["apply", "best-practice"]).dry_run is False
    assert build_parser().parse_args(["apply", "best-practice", "--dry-run"]).dry_run is True


def test_a_switch_twin_that_is_neither_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_DRY_RUN", "maybe")
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["apply", "best-practice"])
    assert exited.value.code == 2
    line = _error_line(capsys)
    assert "argument --dry-run: 'maybe'" in line
    assert line.endswith("(from TOMCAT_BENCH_DRY_RUN)")


def _commands(parser: Parser) -> dict[str, Parser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


_HELP_TAIL = re.compile(r"\[env (TOMCAT_BENCH_[A-Z0-9_]+)(?:; default [^\]]*|=1)?\]$")


def test_every_option_of_every_command_names_its_twin_in_its_help() -> None:
    parser = build_parser()
    parsers = {"": parser, **_commands(parser)}
    walked = 0
    for name, command in parsers.items():
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            found = _HELP_TAIL.search(action.help or "")
            assert found, f"{name} {action.option_strings[-1]}: no [env ...] at the end of its help"
            option = action.option_strings[-1].removeprefix("--")
            expected = {"check": "TOMCAT_BENCH_CHECKS"}.get(
                option, "TOMCAT_BENCH_" + option.upper().replace("-", "_")
            )
            assert found[1] == expected == command.twins[action.dest], (name, option)
            walked += 1
    assert walked > 100  # every command's options, not an empty walk


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in _commands(build_parser()):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([name, "--help"])
        assert exited.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: python -m harness {name}")


def test_one_twin_means_one_thing_across_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """TOMCAT_BENCH_SESSIONS is a session strategy everywhere: storebench's count of
    sessions has its own name, so exporting the strategy does not break storebench."""
    monkeypatch.setenv("TOMCAT_BENCH_SESSIONS", "none")
    parser = build_parser()
    assert parser.parse_args(["bench"]).sessions == "none"
    assert parser.parse_args(["storebench"]).memory_sessions == 100000
