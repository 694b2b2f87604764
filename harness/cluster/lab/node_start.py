"""The CPU a node's JVM spent to start, and how much of it its JIT compilers took, read
from /proc the moment the node first answers.

Why: a lab up waits on CPU, not on a sleep. On this project's 2-core machine each node
took 3.3 s of CPU to answer (2.0 s of it in the C1 and C2 compiler threads), so two nodes
cannot be up in less than 3.3 s whatever else is cut; on 8 cores the same two fit in one
node's time. The timing benchmark and the bench's summary print these seconds beside the
lab's wall time, so a reader sees which of the two bounds it.
"""

from __future__ import annotations

import os
from pathlib import Path

# A thread's name as /proc shows it (cut at 15 characters): HotSpot's compiler threads.
_JIT_PREFIXES = ("C1 CompilerThre", "C2 CompilerThre")


def start_cpu(pid: int, proc_root: Path = Path("/proc")) -> dict[str, float] | None:
    """{"cpu_s": all the process's CPU so far, "jit_s": its compiler threads' share}, or
    None when the process is gone. jit_s is at least what the JIT took: a compiler thread
    the JVM ended while idle (more than one per compiler, on a larger machine) takes its
    seconds with it, while cpu_s keeps them."""
    proc = proc_root / str(pid)
    try:
        total = _cpu_s(proc / "stat")
        jit = sum(
            _cpu_s(task / "stat")
            for task in (proc / "task").iterdir()
            if _name(task).startswith(_JIT_PREFIXES)
        )
    except (FileNotFoundError, ProcessLookupError):
        return None
    return {"cpu_s": round(total, 3), "jit_s": round(jit, 3)}


def _name(task: Path) -> str:
    try:
        return (task / "comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""  # a thread that ended while the folder was read


def _cpu_s(stat: Path) -> float:
    """utime + stime of a /proc stat line (fields 14 and 15), in seconds. For a process,
    the kernel's figure includes its threads that have already ended."""
    try:
        text = stat.read_text()
    except (FileNotFoundError, ProcessLookupError):
        if stat.parent.parent.name == "task":
            return 0.0  # a thread that ended while the folder was read
        raise
    # The name, in parentheses, may hold spaces: the fields are counted after it.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor_s(cpu_s: float, cores: int | None = None) -> float:
    """The least wall time this much CPU takes on this machine's cores."""
    return cpu_s / max(cores or os.cpu_count() or 1, 1)


def cpu_words(start_cpu_s: dict[str, dict[str, float]], cores: int | None = None) -> str:
    """'the nodes' start took 6.7 s of CPU, 61% of it JIT: 3.3 s at least on 2 cores', or
    "" when no node was read (a remote cluster, a lab.json from before)."""
    if not start_cpu_s:
        return ""
    cpu = sum(node["cpu_s"] for node in start_cpu_s.values())
    jit = sum(node["jit_s"] for node in start_cpu_s.values())
    cores = max(cores or os.cpu_count() or 1, 1)
    share = f", {100 * jit / cpu:.0f}% of it JIT" if cpu else ""
    return (
        f"the nodes' start took {cpu:.1f} s of CPU{share}: "
        f"{floor_s(cpu, cores):.1f} s at least on {cores} core{'s' if cores != 1 else ''}"
    )
