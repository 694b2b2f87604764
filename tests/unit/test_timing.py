"""make timing's tables: each figure beside the previous run's, found on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.cli import timing as cli
from harness.load.timing import (
    TIMING_FILE,
    latest,
    memory_task_s,
    one_core_task_s,
    previous_figures,
)


def _figures(up_s: float, beyond_s: float, report_s: float) -> dict[str, Any]:
    return {
        "lab_up": {
            "redis": {
                "first_s": up_s + 1,
                "warm_median_s": up_s,
                "warm_parts_median_s": {"node1": up_s - 0.5, "redis": 0.1, "up": up_s},
                "warm_start_cpu_median_s": {"cpu_s": 2 * up_s - 0.2, "jit_s": up_s},
                "cores": 2,
                "warm_node_parts_median_s": {"jvm": 0.15, "tomcat_init": 1.25, "deploy": 1.3},
            }
        },
        "benches": [
            {
                "duration_s": 20.0,
                "beyond_load_s": beyond_s,
                "phases_s": {"lab_up": 1.0},
                "cpu_before_load": {"busy_share": 0.934, "cores": 2},
            }
        ],
        "results": [
            {
                "rows": 1_000_000,
                "report_s": report_s,
                "report_peak_mb": 250.0,
                "compare_s": 2.0,
                "compare_peak_mb": 300.0,
            }
        ],
    }


def _text(data: dict[str, Any], before: dict[str, Any]) -> str:
    console = Console(width=200, record=True)
    for table in (cli._lab_table, cli._bench_table, cli._results_table):
        console.print(table(data, before))
    console.print(cli._node_table(data))
    return console.export_text()


def test_a_run_prints_each_figure_beside_the_newest_earlier_one(tmp_path: Path) -> None:
    for name, figures in (
        ("20261201T000000Z-timing", _figures(9.0, 9.0, 9.0)),
        ("20261202T000000Z-timing", _figures(4.25, 6.5, 1.75)),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / TIMING_FILE).write_text(json.dumps(figures))
    found = latest(tmp_path)
    assert found == tmp_path / "20261202T000000Z-timing" / TIMING_FILE
    now = {**_figures(3.5, 5.0, 1.25), "previous": str(found)}
    text = _text(now, previous_figures(now) or {})
    assert "3.50" in text and "4.25" in text  # warm lab up, now and before
    assert "5.00" in text and "6.50" in text  # beyond the load
    assert "1.25" in text and "1.75" in text  # report of 1M rows
    assert "node1 3.00" in text  # the slowest part of lab up
    # Whether the wait before the load had idle cores: none here.
    assert "before the load, 93% of 2 cores busy" in text
    # The nodes' start CPU, its JIT's share, and the least wall time it takes on 2 cores.
    assert "6.80, 51% JIT: 3.40 at least on 2 cores" in text
    # Where a node's start went; a part not read shows as "-".
    row = next(line for line in text.splitlines() if line.startswith("│ redis ") and "0.15" in line)
    assert row.split("│")[2:-1] == [" 0.15 ", " 1.25        ", " 1.30   ", " -            ",
                                     " -           ", " -          ", " -     "]  # fmt: skip
    del now["lab_up"]["redis"]["warm_start_cpu_median_s"]  # a run from before it was read
    assert "JIT" not in _text(now, {})
    assert "9.00" not in text  # an older run is not "before"


def test_without_an_earlier_run_the_before_columns_are_empty(tmp_path: Path) -> None:
    assert latest(tmp_path) is None
    now = {**_figures(3.5, 5.0, 1.25), "previous": None}
    assert previous_figures(now) is None
    assert "4.25" not in _text(now, {})


def test_the_machines_speed_is_printed_beside_the_last_runs() -> None:
    """The same code's figures moved by a third within an hour on this shared VM: the
    machine's core speed, now and before, says whether a slower core explains a figure."""
    now = {"machine": {"one_core_task_s": {"start": 0.125, "end": 0.1304},
                       "memory_task_s": {"start": 0.0642, "end": 0.07}}}  # fmt: skip
    before = {"machine": {"one_core_task_s": {"start": 0.19, "end": 0.2}}}
    assert cli.machine_words(now, before) == (
        "machine: a fixed one-core task took 0.125 s at the start, 0.130 s at the end "
        "(before: 0.190, 0.200); random reads over 1 GiB took 0.064 s at the start, 0.070 s "
        "at the end (before: -, -); a slower core or memory slows every figure above"
    )
    # A last run from before the machine was timed; no last run at all.
    assert "(before: -, -)" in cli.machine_words(now, {"lab_up": {}})
    assert "before" not in cli.machine_words(now, {})
    # A run from before the memory task had only the core's.
    assert "random reads" not in cli.machine_words(before, {})


def test_the_fixed_tasks_take_a_positive_best_time() -> None:
    assert 0 < one_core_task_s(rounds=1) < 30
    assert 0 < memory_task_s(rounds=1) < 30
