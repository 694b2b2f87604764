"""--config FILE, Locust's habit: a TOML file of a command's options by their long names,
under the command line and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.cli.bench import plan_from
from harness.cli.options import parse
from harness.paths import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "bench.toml"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_command_line_then_environment_then_file_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(
        tmp_path,
        'users = 50\nduration = "5m"\nbalancer = "haproxy-cookie"\nsessions = "none"\n'
        'spawn_rate = 2\nfaults = "sigkill:node1@30"\ncheck = ["requests > 0"]\n',
    )
    monkeypatch.setenv("TOMCAT_BENCH_USERS", "7")  # environment over file
    monkeypatch.setenv("TOMCAT_BENCH_BALANCER", "haproxy-rr")  # command line over both
    args = parse(build_parser(), ["bench", "--config", str(path), "--balancer", "nginx-rr"])
    assert args.balancer == "nginx-rr"
    assert args.users == 7
    assert (args.duration, args.sessions, args.spawn_rate) == (300.0, "none", 2.0)  # the file's
    assert (args.faults, args.check) == ("sigkill:node1@30", ["requests > 0"])
    assert (args.wait, args.fault_target) == (0.05, "node1")  # defaults


def test_the_environment_may_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_CONFIG", str(_file(tmp_path, "users = 3\n")))
    assert parse(build_parser(), ["matrix"]).users == 3
    assert parse(build_parser(), ["matrix", "--users", "4"]).users == 4


def test_without_a_file_nothing_changes() -> None:
    assert parse(build_parser(), ["bench"]) == build_parser().parse_args(["bench"])


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        parse(build_parser(), argv)
    assert exited.value.code == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    return line.split("error: ", 1)[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("userz = 5\n", 'key "userz": not an option of bench (did you mean users?)'),
        ('users = "many"\n', "key \"users\": invalid int value: 'many'"),
        ('duration = "ten"\n', "key \"duration\": 'ten': seconds, or like 90s, 5m, 1h30m"),
        ("users = [1, 2]\n", 'key "users": a string or a number, not [1, 2]'),
        ('config = "other.toml"\n', 'key "config": a config file cannot name another'),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = _file(tmp_path, text)
    assert _refused(["bench", "--config", str(path)], capsys) == f"{path}: {message}"


def test_a_bad_value_is_refused_even_when_the_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_USERS", "7")
    path = _file(tmp_path, 'users = "many"\n')
    assert _refused(["bench", "--config", str(path)], capsys).startswith(f'{path}: key "users"')


def test_a_missing_or_broken_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.toml"
    assert _refused(["capacity", "--config", str(missing)], capsys) == (
        f"{missing}: no such config file"
    )
    broken = _file(tmp_path, "users = \n")
    assert _refused(["bench", "--config", str(broken)], capsys).startswith(
        f"{broken}: not valid TOML"
    )


def test_the_example_is_a_short_closed_bench_with_a_node_kill(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = plan_from(parse(build_parser(), ["bench", "--config", str(EXAMPLE)]))
    assert plan.arrival_rate is None  # closed model
    assert plan.duration_s <= 120
    (fault,) = plan.fault_specs()
    assert (fault.action, fault.target) == ("sigkill", "node1")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--help"])
    assert "--config examples/bench.toml" in " ".join(capsys.readouterr().out.split())
