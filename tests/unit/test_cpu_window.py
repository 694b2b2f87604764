"""How busy the machine was before a load: the CPU of each process this one started,
counted from the window's start, by part; real processes burning a known amount of CPU."""

from __future__ import annotations

import subprocess
import sys

from harness.load.cpu_window import CpuWindow, busy_words

# Burns CPU until its own CPU time reaches argv[1] seconds, then waits for stdin to close.
BURN = (
    "import sys, time\n"
    "while time.process_time() < float(sys.argv[1]):\n"
    "    pass\n"
    "print('done', flush=True)\n"
    "sys.stdin.read()\n"
)


def _burner(seconds: float, *words: str) -> subprocess.Popen[str]:
    """A child whose command line carries words (a part's name), done burning on return."""
    child = subprocess.Popen(
        [sys.executable, "-c", BURN, str(seconds), *words],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "done\n"
    return child


def _end(*children: subprocess.Popen[str]) -> None:
    for child in children:
        child.communicate()


def test_each_part_counts_only_what_it_did_inside_the_window() -> None:
    # Already running when the window opens (a lab lent by a matrix's pool): its 0.3 s
    # before the window are not the window's.
    children = [_burner(0.3, "org.apache.catalina.startup.Bootstrap")]
    try:
        window = CpuWindow()
        children += [_burner(0.3, "-m", "locust"), _burner(0.2, "JvmProbe")]
        figures = window.figures()
    finally:
        _end(*children)
    parts = figures["parts_s"]
    assert isinstance(parts, dict)
    assert parts["locust"] >= 0.29
    assert parts["settings_reader"] >= 0.19
    assert parts.get("nodes", 0.0) < 0.05
    # No process's CPU is counted twice: this tree's parts fit in what the machine did.
    assert sum(parts.values()) <= figures["machine_busy_s"] + 0.05
    assert figures["cores"] >= 1
    assert 0 < figures["busy_share"] <= 1.05


def test_the_words_rank_the_parts_and_say_the_share_of_all_cores() -> None:
    figures = {
        "wall_s": 5.93,
        "cores": 2,
        "machine_busy_s": 10.9,
        "busy_share": 0.919,
        "parts_s": {"harness": 0.6, "nodes": 8.8, "settings_reader": 0.9, "locust": 0.7},
    }
    assert busy_words(figures) == (
        "92% of 2 cores busy for 5.9 s (this run's processes: nodes 8.8 s, "
        "settings reader 0.9, locust 0.7, harness 0.6)"
    )
    assert busy_words({}) == ""


def test_a_child_that_ends_inside_the_window_brings_none_of_its_earlier_cpu() -> None:
    """Reaped, a child's whole CPU joins this process's own counters: the part it burnt
    before the window must not be counted as the harness's."""
    child = _burner(0.3, "org.apache.catalina.startup.Bootstrap")
    window = CpuWindow()
    _end(child)  # ends and is reaped inside the window
    parts = window.figures()["parts_s"]
    assert isinstance(parts, dict)
    assert parts["harness"] < 0.2, parts
    assert "nodes" not in parts


def test_a_path_naming_a_part_does_not_make_a_process_that_part() -> None:
    """A balancer run from a lab folder called "locust-lab" is not Locust."""
    children = []
    try:
        window = CpuWindow()
        children.append(_burner(0.1, "-p", "/tmp/locust-lab/JvmProbe-copy/nginx"))
        parts = window.figures()["parts_s"]
    finally:
        _end(*children)
    assert isinstance(parts, dict)
    assert parts["other"] >= 0.09 and "locust" not in parts and "settings_reader" not in parts
