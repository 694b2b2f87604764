import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.telemetry import Sampler, summarize_samples


def _rows(generator: float, node: float, machine: float) -> list[tuple[float, str, float, int]]:
    rows = []
    for t in range(1, 6):
        rows += [(float(t), "generator", generator, 1), (float(t), "node1", node, 1)]
        rows.append((float(t), "machine", machine, 0))
    return rows


def test_a_locust_at_a_full_core_is_generator_bound() -> None:
    summary = summarize_samples(_rows(0.97, 0.4, 1.4), cores=2)
    assert summary["generator_bound"] is True
    assert summary["cpu_cores_mean"] == {"generator": 0.97, "machine": 1.4, "node1": 0.4}


def test_servers_using_the_machine_are_not_generator_bound() -> None:
    summary = summarize_samples(_rows(0.5, 1.45, 1.95), cores=2)
    assert summary["machine_saturated"] is True
    assert summary["generator_bound"] is False


def test_a_saturated_machine_where_locust_dominates_is_generator_bound() -> None:
    assert summarize_samples(_rows(0.8, 0.6, 1.96), cores=2)["generator_bound"] is True


def test_sampler_measures_a_busy_process(tmp_path: Path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        watched = psutil.Process(busy.pid)
        start_epoch = time.time()
        sampler = Sampler(parts={"busy": busy.pid}, start_epoch=start_epoch, interval_s=0.2)
        before = sum(watched.cpu_times()[:2])
        sampler.start()
        time.sleep(1.2)
        sampler.stop()
        used = sum(watched.cpu_times()[:2]) - before
    finally:
        busy.kill()
        busy.wait()
    samples = [(t, c) for t, part, c, _ in sampler.rows if part == "busy"]
    assert len(samples) >= 4
    # One spinning thread never uses more than one core, however loaded the machine.
    assert all(0 <= c <= 1.1 for _, c in samples)
    # What the samples add up to is the CPU time the process really used (psutil's own
    # count over the same window), whatever share of a core it got on a busy machine.
    times = [t for t, _ in samples]
    measured = sum(c * (t - prev) for (t, c), prev in zip(samples[1:], times, strict=False))
    assert measured == pytest.approx(used, abs=0.25)
    assert measured > 0
    path = sampler.write(tmp_path)
    assert path.read_text().splitlines()[0] == "t_s,part,cpu_cores,rss_bytes"
