"""Pass/fail checks on a run's summary, k6's thresholds and Gatling's assertions for this
harness: `bench --check 'sessions_lost == 0' --check 'p99_ms < 300'` exits 1 when one
fails, and `--junit FILE` writes them where every CI system shows them.

A check names a summary metric, a comparison and a number. A metric the run could not
measure (a recovery without a fault) fails its check: a check never passes for want of
evidence.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.config.tomlfile import read_toml

# Every metric a check may name, and what it is.
METRICS: Mapping[str, str] = {
    "requests": "requests sent",
    "answered": "requests answered (not an HTTP error or timeout)",
    "failures": "errors and session anomalies",
    "errors": "HTTP errors and timeouts",
    "error_rate": "errors / requests (0 to 1)",
    "rps": "answered requests per second",
    "requests_rps": "requests per second, errors included",
    "p50_ms": "median latency of answered requests (ms; corrected in the open model)",
    "p95_ms": "95th percentile latency (ms)",
    "p99_ms": "99th percentile latency (ms)",
    "max_ms": "slowest answered request (ms)",
    "users": "users judged (with a good reply)",
    "sessions_kept": "users whose session continued through every fault",
    "sessions_lost": "users who got another session id after a fault",
    "data_lost": "users whose counter went back",
    "unanswered": "users with no reply of their session while a fault lasted",
    "never_answered_again": "users never answered again after a fault (not after its restore)",
    "replayed": "users who saw a request run twice",
    "failed_requests": "failed requests where the verdict looks (after the first fault)",
    "recovery_s": "seconds until the first fault's failures stopped (inf: never)",
    "longest_wait_s": "the longest a judged user waited for a reply after the first fault (s)",
    "generator_bound": "1 if the load generator limited the run, else 0",
    "lost_updates": "acknowledged updates a later reply lacked (parallel:N scenario only)",
    "lost_or_unanswered": "sessions_lost + unanswered",
}
_OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CHECK = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*([-+]?[0-9.]+(?:e[-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Check:
    metric: str
    op: str
    limit: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class Outcome:
    check: Check
    value: float | None  # None: the run could not measure it
    held: bool

    def words(self) -> str:
        shown = "not measured" if self.value is None else f"{self.value:g}"
        return f"{'held' if self.held else 'FAILED'}: {self.check} (value {shown})"


def parse_check(text: str, where: str = "--check") -> Check:
    """One check from 'metric op number'; ValueError in one line naming where it came from."""
    found = _CHECK.match(text)
    if not found:
        raise ValueError(f"{where} {text!r}: write METRIC OP NUMBER, e.g. 'p99_ms < 300'")
    metric, op, limit = found.groups()
    if metric not in METRICS:
        raise ValueError(
            f"{where} {text!r}: unknown metric {metric!r}; one of {', '.join(METRICS)}"
        )
    return Check(metric, op, float(limit))


def parse_checks(texts: Iterable[str], where: str = "--check") -> list[Check]:
    """Several checks; each text may hold several, separated by ';' or ','."""
    return [
        parse_check(part, where)
        for text in texts
        for part in re.split(r"[;,]", text)
        if part.strip()
    ]


def read_check_file(path: Path) -> list[Check]:
    """A TOML file's [checks] table: `p99_ms = "< 300"`, one line a metric."""
    data = read_toml(path, "checks", ValueError)
    table = data.get("checks")
    if not isinstance(table, dict) or not table:
        raise ValueError(f'{path}: checks: expected a [checks] table of metric = "OP NUMBER"')
    return [
        parse_check(f"{metric} {condition}", f"{path}: checks.{metric}:")
        for metric, condition in table.items()
    ]


def metric_values(summary: Mapping[str, Any]) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for name in METRICS:
        values[name] = _number(summary.get(name))
    if summary.get("recovered") is False:
        values["recovery_s"] = math.inf
    corrected = summary.get("corrected")
    if isinstance(corrected, dict):  # the open model is judged by the corrected latency
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            values[key] = _number(corrected.get(key))
    lost, unanswered = values["sessions_lost"], values["unanswered"]
    values["lost_or_unanswered"] = None if lost is None or unanswered is None else lost + unanswered
    # Runs written before answered_again have no count of it: not judged, never 0.
    again = summary.get("answered_again")
    values["never_answered_again"] = (
        None if unanswered is None or not isinstance(again, int) else unanswered - again
    )
    return values


def _number(raw: object) -> float | None:
    """A summary's number, or None (not judged) when it is missing or NaN."""
    return float(raw) if isinstance(raw, int | float) and not math.isnan(raw) else None


def evaluate(checks: Sequence[Check], summary: Mapping[str, Any]) -> list[Outcome]:
    values = metric_values(summary)
    results = []
    for check in checks:
        value = values[check.metric]
        held = value is not None and _OPERATORS[check.op](value, check.limit)
        results.append(Outcome(check, value, held))
    return results


def junit_xml(suite: str, cases: Sequence[tuple[str, bool, str]]) -> str:
    """JUnit XML of (name, passed, message) cases: one <testsuite>, a <failure> each fail."""
    root = ET.Element(
        "testsuites", tests=str(len(cases)), failures=str(sum(not ok for _, ok, _ in cases))
    )
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(sum(not ok for _, ok, _ in cases)),
        errors="0",
    )
    for name, ok, message in cases:
        case = ET.SubElement(node, "testcase", classname=suite, name=name)
        if not ok:
            ET.SubElement(case, "failure", message=message).text = message
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def outcomes_junit(suite: str, results: Sequence[Outcome]) -> str:
    return junit_xml(suite, [(str(r.check), r.held, r.words()) for r in results])
