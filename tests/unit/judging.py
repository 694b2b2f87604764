"""The judgement as the rule tests call it: the row-by-row reference (judgement.judge) and
the columnar one the harness runs (columnar_judgement.judge_columns), held equal on every
case a rule test builds, so each rule test checks the code that judges real runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from harness.results import Record
from harness.results.columnar_judgement import judge_columns
from harness.results.judgement import Judgement
from harness.results.judgement import judge as judge_rows
from harness.results.requests import from_records


def judge(records: Sequence[Record], faults: Iterable[dict[str, Any]]) -> Judgement:
    faults = list(faults)
    rows = judge_rows(records, faults)
    columns = judge_columns(from_records(records), faults)
    assert columns == rows, "the columnar judgement differs from the reference"
    return columns
