"""Whether the generator was the limit, where a run could not be judged (no steady second,
a load host unread): every table says so, none reads "no". The storebench's end-to-end
rows and make perf's rounds turned that unknown into False, and their tables into "no"."""

from __future__ import annotations

from harness.load.perf import Measured, _median
from harness.report.capacity import COLUMNS, _step
from harness.results.telemetry import any_bound, bound_word
from harness.storebench.e2e import cell_row
from harness.storebench.report import _E2E_FIELDS, _table


def test_unknown_is_a_question_mark_never_a_no() -> None:
    assert [bound_word(b) for b in (True, False, None)] == ["YES", "no", "?"]
    assert any_bound([False, None, True]) is True
    assert any_bound([False, None]) is None
    assert any_bound([False, False]) is False
    assert any_bound([]) is False


def test_the_storebench_end_to_end_row_keeps_it_unknown() -> None:
    summary = {"requests": 1000, "failures": 0, "errors": 0, "rps": 10.0, "p50_ms": 1.0,
               "p95_ms": 2.0, "p99_ms": 3.0, "generator_bound": None,
               "telemetry": {"cpu_cores_mean": {"redis": 0.1}}}  # fmt: skip
    row = cell_row("redis", 1024, summary, 6.0)
    assert row["generator_bound"] is None
    fields, (cells,) = _table([row], _E2E_FIELDS)
    assert cells[list(fields).index("generator_bound")] == "?"


def test_make_perf_and_capacity_keep_it_unknown() -> None:
    def measured(bound: bool | None) -> Measured:
        return Measured("x", 1000, 1000.0, 1.0, 1.0, generator_bound=bound, failures=0)

    assert _median("x", [measured(False), measured(None)]).generator_bound is None
    assert _median("x", [measured(None), measured(True)]).generator_bound is True
    step = {"requests": 100, "rps": 10.0, "failures": 0, "generator_bound": None}
    cells = _step(step).cells
    assert cells[[key for key, _ in COLUMNS].index("generator_bound")] == "?"
