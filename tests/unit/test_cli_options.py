"""Options as a Locust user writes them, and environment twins checked where they are read
(a bad TOMCAT_BENCH_DURATION used to fail later, without naming the option)."""

from __future__ import annotations

import pytest

from harness.cli import build_parser, duration


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


def test_switches_have_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOMCAT_BENCH_ALLOW_DIFFERENT_PROFILE", "1")
    monkeypatch.setenv("TOMCAT_BENCH_DRY_RUN", "yes")
    parser = build_parser()
    assert parser.parse_args(["compare", "a", "b"]).allow_different_profile is True
    assert parser.parse_args(["apply", "best-practice"]).dry_run is True
