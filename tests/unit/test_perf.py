"""make perf's arithmetic: tracking's cost per scenario, and the scenarios it accepts."""

from pathlib import Path

import pytest

from harness.cluster.lab import LabSpec, Topology
from harness.config.profile import load_profile
from harness.load.perf import (
    _PLAIN,
    Measured,
    PerfPlan,
    _plain_name,
    _scenario_name,
    _scenario_ratios,
)


def _m(name: str, cpu: float) -> Measured:
    return Measured(name, 1000, 1000.0, cpu, cpu, generator_bound=True, failures=0)


def test_each_scenarios_overhead_is_the_median_of_its_rounds_cpu_against_plain() -> None:
    # parallel:4 is priced against plain Locust making the same parallel requests.
    plain = [_m(_plain_name("parallel:4"), c) for c in (100.0, 100.0, 120.0)]
    parallel = [_m(_scenario_name("parallel:4"), c) for c in (125.0, 110.0, 150.0)]
    counter_page = [_m(_PLAIN, 50.0)] * 3
    inplace = [_m(_scenario_name("inplace"), 55.0)] * 3
    ratios = _scenario_ratios(
        {
            _PLAIN: counter_page,
            _plain_name("parallel:4"): plain,
            _scenario_name("parallel:4"): parallel,
            _scenario_name("inplace"): inplace,
        },
        ("parallel:4", "inplace", "growing"),
    )
    # Per round plain/parallel: 0.8, 0.909, 0.8; median 0.8: tracking costs 20%. inplace
    # against the counter page's plain Locust: 50/55. growing was not measured.
    assert ratios == {"parallel:4": 0.2, "inplace": round(1 - 50 / 55, 4), "growing": None}


def test_perf_refuses_a_scenario_that_is_none(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"PERF_SCENARIOS: scenario 'parallel:99'"):
        PerfPlan(
            profile=load_profile("best-practice"),
            cluster=LabSpec(balancer="nginx-rr", sessions="none", topology=Topology(
                net="127.0.9", run_dir=tmp_path)),
            scenarios=("parallel:99",),
        )  # fmt: skip
