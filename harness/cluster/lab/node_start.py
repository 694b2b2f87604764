"""Where a node's start went, read the moment it first answers: the CPU its JVM spent and
how much of it its JIT compilers took (from /proc), and the parts of its start in seconds
(from its JVM's perf counters and Tomcat's own log lines).

Why: a lab up waits on CPU, not on a sleep. On this project's 2-core machine each node
took 3.3 s of CPU to answer (2.0 s of it in the C1 and C2 compiler threads), so two nodes
cannot be up in less than 3.3 s whatever else is cut; on 8 cores the same two fit in one
node's time. The timing benchmark and the bench's summary print these seconds beside the
lab's wall time, so a reader sees which of the two bounds it.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from harness.cluster import hsperf

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
            _thread_cpu_s(task)
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


def _thread_cpu_s(task: Path) -> float:
    try:
        return _cpu_s(task / "stat")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0  # a thread that ended while the folder was read


def _cpu_s(stat: Path) -> float:
    """utime + stime of a /proc stat line (fields 14 and 15), in seconds. For a process,
    the kernel's figure includes its threads that have already ended."""
    text = stat.read_text()
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


# Tomcat's own account of its start, in English (a JVM in another language logs these in
# its own: the parts they give are then left out, not guessed).
_TOMCAT_LINES = {
    "tomcat_init": re.compile(r"Server initialization in \[([\d,.\s]+)\] milliseconds"),
    "deploy": re.compile(
        r"Deployment of web application (?:directory|archive) \[[^\]]*\] has finished in "
        r"\[([\d,.\s]+)\] ms"
    ),
    "startup": re.compile(r"Server startup in \[([\d,.\s]+)\] milliseconds"),
}


def start_parts(
    pid: int, log_text: str, answered_at: float, first_page_s: float
) -> dict[str, float]:
    """Seconds of each part of a node's start, from its JVM's creation to its first page:

      jvm           the JVM's own start (createVmBeginTime to createVmEndTime)
      tomcat_init   Catalina.load: server.xml read, listeners, connectors bound
      deploy        the webapp deployed: web.xml read, the session manager started and
                    connected to its store (Redisson, msm)
      tomcat_start  the rest of Catalina.start: the connectors started
      health_page   from Tomcat's "Server startup" line to health.jsp's first answer: the
                    first JSP loaded (compiled, in a lab that kept none) and up to one
                    readiness poll; in a lab that kept none, a node after the first also
                    waits here for the first's compiled pages (lab._share_compiled_pages)
      first_page    from health.jsp's first answer to session.jsp's (its JSP loaded)
      other         the rest: Bootstrap's classes and logging before Catalina.load

    log_text: the node's console log of this start; answered_at: the epoch second its
    health.jsp first answered. A part whose source is missing is left out, and "other"
    with it."""
    tomcat = {name: _millis(line, log_text) for name, line in _TOMCAT_LINES.items()}
    parts: dict[str, float] = {}
    began, ended = _jvm_created(pid)
    if began is not None and ended is not None:
        parts["jvm"] = ended - began
    init, deploy, startup = tomcat["tomcat_init"], tomcat["deploy"], tomcat["startup"]
    if init is not None:
        parts["tomcat_init"] = init
    if deploy is not None:
        parts["deploy"] = deploy
        if startup is not None:
            parts["tomcat_start"] = max(startup - deploy, 0.0)
    started = _started_line_at(log_text)
    # The line's clock is the JVM's, in its time zone: one outside the start is not used.
    if began is not None and started is not None and began <= started <= answered_at:
        parts["health_page"] = answered_at - started
    parts["first_page"] = first_page_s
    named = {"jvm", "tomcat_init", "deploy", "tomcat_start", "health_page"}
    if began is not None and named <= parts.keys():
        parts["other"] = max(answered_at + first_page_s - began - sum(parts.values()), 0.0)
    return {name: round(seconds, 3) for name, seconds in parts.items()}


# Tomcat's OneLineFormatter stamps each line "05-Dec-2026 02:35:27.774" in the JVM's
# default zone (the lab's nodes run in the harness's environment, so in its zone too).
_STARTED_LINE = re.compile(
    r"^(\d{1,2})-([A-Z][a-z]{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) .*"
    + _TOMCAT_LINES["startup"].pattern,
    re.MULTILINE,
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _started_line_at(text: str) -> float | None:
    """The epoch second of the last "Server startup in" line, read as local time; None
    if there is none or its date is not in English (the formatter follows the locale)."""
    found = _STARTED_LINE.findall(text)
    if not found or found[-1][1] not in _MONTHS:
        return None
    day, month, year, hour, minute, second, millis = (
        _MONTHS[part] if part in _MONTHS else int(part) for part in found[-1][:7]
    )
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000).timestamp()
    except (ValueError, OverflowError):
        return None  # not a date: no part rather than a wrong one


def _millis(line: re.Pattern[str], text: str) -> float | None:
    """The last such line's milliseconds, in seconds ("1,391" and "1.391" are 1391 ms)."""
    found = line.findall(text)
    digits = re.sub(r"\D", "", found[-1]) if found else ""
    return int(digits) / 1000 if digits else None


def _jvm_created(pid: int) -> tuple[float | None, float | None]:
    """The JVM's creation, begun and ended, in epoch seconds, from its perf counters."""
    try:
        counters = hsperf.counters(hsperf.perf_file(pid))
    except (OSError, ValueError):
        return None, None  # -XX:-UsePerfData, or the JVM is gone
    began, ended = counters.get("sun.rt.createVmBeginTime"), counters.get("sun.rt.createVmEndTime")
    if not isinstance(began, int) or not isinstance(ended, int):
        return None, None
    return began / 1000, ended / 1000
