"""A node's start CPU, its JIT's part, and the words the bench prints of them, on /proc
trees made here (the integration tests read real JVMs' in a lab up)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from harness.cluster.lab import node_start
from harness.cluster.lab.node_start import cpu_words, floor_s, start_cpu, start_parts

TICK = os.sysconf("SC_CLK_TCK")


def _stat(name: str, utime_s: float, stime_s: float) -> str:
    """A /proc stat line: pid, (name), then fields 3 to 17, utime and stime 14 and 15."""
    fields = ["S", *["0"] * 10, str(round(utime_s * TICK)), str(round(stime_s * TICK)), "0", "0"]
    return f"4242 ({name}) {' '.join(fields)}\n"


def _proc(root: Path, total: tuple[float, float], threads: dict[str, tuple[float, float]]) -> None:
    proc = root / "4242"
    (proc / "task").mkdir(parents=True)
    (proc / "stat").write_text(_stat("java", *total))
    for i, (name, (user, system)) in enumerate(threads.items()):
        task = proc / "task" / str(4242 + i)
        task.mkdir()
        (task / "comm").write_text(name.split("#")[0] + "\n")
        (task / "stat").write_text(_stat(name.split("#")[0], user, system))


def test_the_jit_is_the_compiler_threads_and_the_total_is_the_processs(tmp_path: Path) -> None:
    """A name with spaces and a closing parenthesis of its own still parses; the total is
    the process's own figure (it keeps threads that ended), not the threads' sum."""
    _proc(
        tmp_path,
        total=(3.0, 0.5),
        threads={
            "java": (1.0, 0.2),
            "C2 CompilerThre": (1.1, 0.1),
            "C1 CompilerThre": (0.7, 0.05),
            "C1 CompilerThre#2": (0.1, 0.0),
            "weird ) name": (0.3, 0.0),
        },
    )
    assert start_cpu(4242, tmp_path) == {"cpu_s": 3.5, "jit_s": 2.05}


def test_a_process_gone_is_not_read(tmp_path: Path) -> None:
    assert start_cpu(4242, tmp_path) is None


def test_a_thread_gone_while_read_counts_nothing(tmp_path: Path) -> None:
    _proc(tmp_path, total=(2.0, 0.0), threads={"C2 CompilerThre": (1.0, 0.0)})
    (tmp_path / "4242" / "task" / "4242" / "stat").unlink()
    assert start_cpu(4242, tmp_path) == {"cpu_s": 2.0, "jit_s": 0.0}


def test_the_words_name_the_floor_on_this_many_cores() -> None:
    nodes = {"node1": {"cpu_s": 3.3, "jit_s": 2.0}, "node2": {"cpu_s": 3.5, "jit_s": 2.1}}
    assert cpu_words(nodes, cores=2) == (
        "the nodes' start took 6.8 s of CPU, 60% of it JIT: 3.4 s at least on 2 cores"
    )
    assert cpu_words({}, cores=2) == ""
    assert floor_s(6.0, 8) == 0.75


LOG = """\
04-Dec-2026 23:15:09.566 INFO [main] org.apache.catalina.startup.Catalina.load Server initialization in [1580] milliseconds
04-Dec-2026 23:15:10.987 INFO [main] org.apache.catalina.startup.HostConfig.deployDirectory Deployment of web application directory [/lab/node1/webapps/ROOT] has finished in [1,391] ms
04-Dec-2026 23:15:11.085 INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [1518] milliseconds
"""  # noqa: E501
RESTARTED = LOG.replace("[1580]", "[980]").replace("[1,391]", "[1.203]").replace("[1518]", "[1300]")


def test_a_nodes_start_parts_come_from_tomcats_own_lines_the_last_start_first() -> None:
    """Grouped thousands in either style are milliseconds; the deploy is inside Tomcat's
    startup, so the start's own part is what is left of it. A process with no perf
    counters has no JVM part, and then no "other" (it would be a guess)."""
    parts = start_parts(2**22 + 1, LOG + RESTARTED, answered_at=1000.0, first_page_s=0.05)
    assert parts == {
        "tomcat_init": 0.98,
        "deploy": 1.203,
        "tomcat_start": 0.097,
        "first_page": 0.05,
    }


def test_lines_in_another_language_leave_their_parts_out() -> None:
    german = "Server-Initialisierung in [1580] Millisekunden\nServerstart in [1518] Millisekunden\n"
    assert start_parts(2**22 + 1, german, answered_at=1000.0, first_page_s=0.05) == {
        "first_page": 0.05
    }


def _local(stamp: str) -> float:
    """The epoch second of a log line's stamp, read in this machine's zone as Tomcat's is."""
    return datetime.strptime(stamp, "%d-%m-%Y %H:%M:%S.%f").timestamp()


def test_the_first_jsp_is_timed_from_tomcats_startup_line_and_other_is_bootstrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cold node's first health.jsp compiles its JSP: seconds that once hid in "other".
    The JVM's perf counters are replaced here (the integration tests read real ones)."""
    began = _local("04-12-2026 23:15:07.000")
    monkeypatch.setattr(node_start, "_jvm_created", lambda _: (began, began + 0.2))
    answered = _local("04-12-2026 23:15:11.085") + 2.5  # the last start's line, then 2.5 s
    parts = start_parts(4242, LOG + RESTARTED, answered_at=answered, first_page_s=0.05)
    assert parts == pytest.approx(
        {
            "jvm": 0.2,
            "tomcat_init": 0.98,
            "deploy": 1.203,
            "tomcat_start": 0.097,
            "health_page": 2.5,
            "first_page": 0.05,
            # 4.085 s from the JVM's start to the startup line, less Tomcat's 2.28 and 0.2
            "other": 1.605,
        }
    )


def test_a_startup_line_outside_the_start_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its clock read in another zone than the JVM's (an hour off), or no date at all:
    no health_page, and no "other" that would hold it."""
    began = _local("04-12-2026 23:15:07.000")
    answered = began + 5
    for zone_off, log in ((3600, LOG), (0, LOG.replace("04-Dec-2026", "31-Feb-2026"))):
        counters = (began + zone_off, began + zone_off + 0.2)
        monkeypatch.setattr(node_start, "_jvm_created", lambda _, c=counters: c)
        parts = start_parts(4242, log, answered_at=answered + zone_off, first_page_s=0.05)
        assert "health_page" not in parts and "other" not in parts
        assert parts["tomcat_start"] == 0.127
    # The same start, dated and in the JVM's zone: both are there.
    monkeypatch.setattr(node_start, "_jvm_created", lambda _: (began, began + 0.2))
    assert {"health_page", "other"} <= start_parts(4242, LOG, answered, 0.05).keys()
