"""Capacity mode's pieces without wrk running: steps, command lines, wrk's output, records."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.cluster.lab import LabSpec
from harness.config.profile import load_profile
from harness.load.capacity import CapacityPlan, LoadStep
from harness.load.capacity.wrk import SCRIPT, parse_summary, session_command
from harness.load.driver import Finished
from harness.load.telemetry import Sampler
from harness.report.capacity import render_sweep
from harness.results.wrk_records import read_records

WRK_OUTPUT = """Running 2s test @ http://127.0.81.1:8080/session.jsp
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms    0.50ms  10.00ms   90.00%
  5128 requests in 2.00s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   2563.87
Transfer/sec:    614.00KB
"""


def test_wrk_summary_is_parsed_with_its_errors() -> None:
    assert parse_summary(WRK_OUTPUT) == {
        "requests": 5128,
        "rps": 2563.87,
        "connect_errors": 0,
        "read_errors": 2,
        "write_errors": 0,
        "timeouts": 3,
        "non_2xx": 7,
    }


def test_a_wrk_that_printed_no_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="wrk printed no summary: unable to connect"):
        parse_summary("unable to connect to 127.0.81.1:8080 Connection refused\n")


def test_a_paced_step_gives_each_thread_its_share_of_the_rate() -> None:
    step = LoadStep(connections=8, duration_s=3, threads=2, rate=1000)
    command = session_command("http://h:1/session.jsp", step, Path("/tmp/out-"))
    assert command[:8] == ["wrk", "-t", "2", "-c", "8", "-d", "3s", "--timeout"]
    assert command[-6:] == [
        str(SCRIPT), "http://h:1/session.jsp", "--", "/tmp/out-", "500.000000", "5",
    ]  # fmt: skip
    assert step.name == "rate1000-c8"
    assert step.model == "open"
    # wrk needs connections >= threads.
    assert LoadStep(connections=1, duration_s=3, threads=2).wrk_threads == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"connections": 0}, "connections 0: at least 1"),
        ({"rate": -5.0}, "rate -5: requests per second must be positive"),
        ({"duration_s": 0.5}, "step duration 0.5 s: at least 1 s"),
    ],
)
def test_bad_steps_are_named(kwargs: dict[str, float], message: str) -> None:
    values: dict[str, float] = {"connections": 4, "duration_s": 2, "threads": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        LoadStep(**values)  # type: ignore[arg-type]


def test_a_plan_needs_steps_and_a_known_target() -> None:
    profile = load_profile("best-practice")
    lab = LabSpec()
    with pytest.raises(ValueError, match="CONNECTIONS and RATES are both empty"):
        CapacityPlan(profile=profile, cluster=lab, connections=())
    with pytest.raises(ValueError, match="TARGET=node9: one of balancer, node1, node2"):
        CapacityPlan(profile=profile, cluster=lab, target="node9")
    with pytest.raises(ValueError, match="a cluster or a URL"):
        CapacityPlan(profile=profile)
    plan = CapacityPlan(profile=profile, cluster=lab, connections=(8, 32), rates=(500.0,))
    assert [s.name for s in plan.steps()] == ["c8", "c32", "rate500-c128"]


def test_records_from_the_script_become_results_records(tmp_path: Path) -> None:
    start = 1_700_000_000.0
    start_us = int(start * 1e6)
    (tmp_path / "r-1.csv").write_text(
        f"{start_us + 2_000_000},1000001,AB.node1,node1,2,kept,1500,4500,200,{start_us + 1_000}\n"
        f"{start_us + 1_000_000},1000001,AB.node1,node1,1,new,900,900,200,{start_us}\n"
    )
    (tmp_path / "r-2.csv").write_text(f"{start_us + 1_500_000},0,,,,error,,,502,\n")
    paths = sorted(tmp_path.glob("r-*.csv"))
    records = read_records(paths, start, paced=True)
    assert [(r.t_s, r.outcome, r.counter, r.status) for r in records] == [
        (1.0, "new", 1, 200),
        (1.5, "error", None, 502),
        (2.0, "kept", 2, 200),
    ]
    assert records[2].latency_ms == 1.5
    assert records[2].corrected_ms == 4.5
    assert records[2].intended_s == 0.001
    assert records[1].corrected_ms is None
    closed = read_records(paths, start, paced=False)
    assert all(r.corrected_ms is None and r.intended_s is None for r in closed)


def test_a_malformed_record_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r-1.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"r-1.csv:1: malformed wrk record"):
        read_records([path], 0.0, paced=False)


def test_the_sweep_page_marks_failed_and_generator_bound_steps() -> None:
    row = {
        "step": "c8", "model": "closed", "connections": 8, "target_rps": None, "rps": 100.0,
        "p50_ms": 1.0, "p99_ms": 2.0, "p99_corrected_ms": None, "sessions": 8, "failures": 3,
        "data_lost": 1, "replayed": 0, "generator_cpu_ms_per_1000": 30.0,
        "generator_bound": False, "run": "steps/c8",
    }  # fmt: skip
    page = render_sweep({"profile": "p", "target": "t", "steps": [row]})
    assert '<tr class="bad">' in page
    assert 'href="steps/c8/report.html"' in page


def test_a_step_that_answered_nothing_or_fell_short_of_its_rate_is_not_green() -> None:
    """A step wrk answered nothing in (all NaN and zeros) and a paced step at a fifth of
    its rate were both green."""
    nothing = {"step": "c32", "model": "closed", "connections": 32, "rps": 0.0, "requests": 0,
               "failures": 0, "p50_ms": math.nan, "p99_ms": math.nan,
               "generator_bound": False}  # fmt: skip
    short = {"step": "rate10000-c128", "model": "open", "connections": 128,
             "target_rps": 10000.0, "rps": 2000.0, "requests": 20000, "failures": 0,
             "p50_ms": 5.0, "p99_ms": 9.0, "generator_bound": False}  # fmt: skip
    page = render_sweep({"profile": "p", "target": "t", "steps": [nothing, short]})
    assert page.count('<tr class="bad">') == 1 and page.count('<tr class="warn">') == 1
    kept_up = short | {"rps": 9600.0}
    assert '<tr class="good">' in render_sweep({"profile": "p", "target": "t", "steps": [kept_up]})


def test_generator_cpu_per_request_leaves_start_up_out() -> None:
    sampler = Sampler(parts={}, start_epoch=0.0)
    whole = Finished(0.0, 10.0, 0, cpu_s=3.0, sampler=sampler)
    assert whole.cpu_ms_per_1000(6000) == 500.0
    assert whole.cpu_ms_per_1000(0) is None
    marked = Finished(0.0, 10.0, 0, cpu_s=3.0, sampler=sampler, mark_cpu_s=0.6, mark_requests=0)
    assert marked.cpu_ms_per_1000(6000) == 400.0
