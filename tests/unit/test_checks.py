"""Pass/fail checks on a summary (issue 13, case 14): parsed before a run, judged after it,
written as JUnit XML; a metric the run could not measure fails its check."""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.results.checks import (
    evaluate,
    outcomes_junit,
    parse_check,
    parse_checks,
    read_check_file,
)
from harness.results.judgement import judge as judge_rows
from harness.results.run_folder import Record, summarize

SUMMARY = {
    "requests": 1000,
    "errors": 5,
    "error_rate": 0.005,
    "p99_ms": 250.0,
    "sessions_lost": 0,
    "unanswered": 2,
    "recovery_s": None,
    "recovered": False,
    "generator_bound": False,
}


def test_checks_hold_or_fail_on_the_summary() -> None:
    checks = parse_checks(["sessions_lost == 0; p99_ms < 300", "error_rate < 0.001"])
    assert [str(c) for c in checks] == ["sessions_lost == 0", "p99_ms < 300", "error_rate < 0.001"]
    results = evaluate(checks, SUMMARY)
    assert [r.held for r in results] == [True, True, False]
    assert results[2].words() == "FAILED: error_rate < 0.001 (value 0.005)"


def test_a_never_recovered_run_fails_any_recovery_bound() -> None:
    (result,) = evaluate(parse_checks(["recovery_s < 1e9"]), SUMMARY)
    assert result.value == math.inf and not result.held


def test_a_metric_not_measured_fails_its_check() -> None:
    (result,) = evaluate(parse_checks(["recovery_s < 5"]), {**SUMMARY, "recovered": None})
    assert result.value is None and not result.held
    assert result.words() == "FAILED: recovery_s < 5 (value not measured)"


def test_sessions_never_answered_again_count_as_lost_for_the_combined_metric() -> None:
    (result,) = evaluate(parse_checks(["lost_or_unanswered == 0"]), SUMMARY)
    assert (result.value, result.held) == (2.0, False)


def test_the_open_model_is_checked_on_its_corrected_latency() -> None:
    corrected = {**SUMMARY, "corrected": {"p50_ms": 1, "p95_ms": 2, "p99_ms": 900, "max_ms": 9}}
    (result,) = evaluate(parse_checks(["p99_ms < 300"]), corrected)
    assert (result.value, result.held) == (900.0, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99 < 300", "--check 'p99 < 300': unknown metric 'p99'; one of requests,"),
        ("p99_ms << 300", "--check 'p99_ms << 300': write METRIC OP NUMBER"),
    ],
)
def test_a_bad_check_is_one_line_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as caught:
        parse_check(text)
    assert "\n" not in str(caught.value)


def test_a_checks_table_in_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "gate.toml"
    path.write_text('[checks]\nsessions_lost = "== 0"\np99_ms = "< 300"\n')
    assert [str(c) for c in read_check_file(path)] == ["sessions_lost == 0", "p99_ms < 300"]
    path.write_text('[checks]\np99_ms = "under 300"\n')
    with pytest.raises(ValueError, match=r"gate\.toml: checks\.p99_ms: 'p99_ms under 300'"):
        read_check_file(path)


def test_junit_xml_has_one_failure_per_failed_check() -> None:
    results = evaluate(parse_checks(["sessions_lost == 0", "error_rate < 0.001"]), SUMMARY)
    root = ET.fromstring(outcomes_junit("tomcat-bench checks", results))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["error_rate < 0.001"]


KILL_AT_10 = {"at_s": 10.0, "target": "node1", "action": "sigkill", "spec": "sigkill:node1@10"}


def test_a_run_without_a_request_passes_no_rate_check() -> None:
    """It read error_rate 0.0, and 'error_rate < 0.01' held on no evidence at all."""
    summary = summarize([], [KILL_AT_10])
    assert summary["error_rate"] is None
    (result,) = evaluate(parse_checks(["error_rate < 0.01"]), summary)
    assert not result.held and result.value is None


@pytest.mark.parametrize("first_reply_s", [None, 12.0])
def test_a_fault_that_judged_nobody_has_no_recovery_to_pass(first_reply_s: float | None) -> None:
    """Nobody had a good reply before the kill (no request at all, or the first reply came
    after it): nothing could recover, yet the run read 'recovered after 0.0 s' and
    'recovery_s < 5' held."""
    records = (
        []
        if first_reply_s is None
        else [
            Record(first_reply_s + i, 1, "S", "node2", i + 1, "kept" if i else "new", 2.0, 200)
            for i in range(5)
        ]
    )
    summary = summarize(records, [KILL_AT_10])
    assert summary["users"] == 0
    assert (summary["recovery_s"], summary["recovered"]) == (None, None)
    (result,) = evaluate(parse_checks(["recovery_s < 5"]), summary)
    assert not result.held and result.value is None
    assert judge_rows(records, [KILL_AT_10]).recovery_s is None  # the row-by-row rules too
