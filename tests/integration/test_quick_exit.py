"""A Locust process leaves as soon as it has shut down (locustfiles/quick_exit.py), with
Locust's own exit code and every file written; after any other way out it leaves as usual.

Real Locust processes, headless. What they load is a stand-in: a loopback HTTP server of
the standard library, since this is about how Locust ends, not about what it measured.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.endpoints import free_port
from tests.integration.conftest import repo_root
from tests.stub_http import answering

pytestmark = pytest.mark.integration
ADDRESS = "127.0.87.1"

LOCUSTFILE = """
import atexit, pathlib, sys
sys.path.insert(0, {locustfiles!r})
# Registered before quick_exit's hook, so it runs after it: only when the interpreter
# tears down as usual.
atexit.register(pathlib.Path({mark!r}).touch)
import quick_exit  # noqa
from locust import FastHttpUser, constant, events, task

class Visitor(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def page(self):
        self.client.get("/")
{extra}
"""

FAILS_AFTER_QUIT = """
@events.quit.add_listener
def _fail(**_):
    raise KeyboardInterrupt  # not caught by Locust's listeners: it ends its shutdown
"""


@pytest.fixture
def server() -> Iterator[str]:
    with answering(ADDRESS) as url:
        yield url


def _locustfile(tmp_path: Path, name: str, extra: str = "") -> tuple[Path, Path]:
    """A locustfile, and the file its process touches if it tears down as usual."""
    mark = tmp_path / f"{name}-teardown-ran"
    locustfile = tmp_path / f"{name}.py"
    locustfile.write_text(
        LOCUSTFILE.format(locustfiles=str(repo_root() / "locustfiles"), mark=str(mark), extra=extra)
    )
    return locustfile, mark


def _locust(tmp_path: Path, host: str, extra: str = "") -> tuple[int, Path, str]:
    locustfile, mark = _locustfile(tmp_path, "visitor", extra)
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", host,
            "-u", "2", "-r", "2", "-t", "2s", "--csv", str(tmp_path / "run"),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode, mark, done.stderr


def _aggregated(tmp_path: Path) -> dict[str, str]:
    with (tmp_path / "run_stats.csv").open() as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}["Aggregated"]


def test_a_clean_run_leaves_at_once_with_its_files_whole(tmp_path: Path, server: str) -> None:
    code, mark, stderr = _locust(tmp_path, server)
    assert code == 0, stderr[-2000:]
    assert not mark.exists()  # the interpreter's teardown was skipped
    assert int(_aggregated(tmp_path)["Request Count"]) > 0
    assert "Shutting down (exit code 0)" in stderr  # the log flushed before leaving


def test_a_run_with_failures_keeps_locusts_exit_code(tmp_path: Path) -> None:
    # Nothing listens on port 9 of this address: every request is refused.
    code, mark, stderr = _locust(tmp_path, f"http://{ADDRESS}:9")
    assert code == 1, stderr[-2000:]
    assert not mark.exists()
    assert int(_aggregated(tmp_path)["Failure Count"]) > 0


def test_an_error_after_the_shutdown_leaves_the_usual_way(tmp_path: Path, server: str) -> None:
    code, mark, stderr = _locust(tmp_path, server, FAILS_AFTER_QUIT)
    assert code != 0
    assert "KeyboardInterrupt" in stderr  # its traceback, as Python prints it
    assert mark.exists()  # the interpreter tore down as usual


def test_a_program_that_ran_locust_inside_itself_leaves_its_own_way(tmp_path: Path) -> None:
    """Locust's shutdown seen in a process that is not Locust's command line: the process
    goes on after it, and ends with its own exit code and its own teardown."""
    mark = tmp_path / "teardown-ran"
    program = (
        f"import atexit, pathlib, sys\nsys.path.insert(0, {str(repo_root() / 'locustfiles')!r})\n"
        f"atexit.register(pathlib.Path({str(mark)!r}).touch)\n"
        "import quick_exit\nquick_exit._remember(exit_code=0)\nsys.exit(5)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, check=False)
    assert done.returncode == 5, done.stderr[-2000:]
    assert mark.exists()


def test_a_master_and_its_worker_leave_the_usual_way(tmp_path: Path, server: str) -> None:
    """A worker's last report leaves through ZeroMQ's own thread, which an immediate exit
    would cut off: a distributed bench's master then counted fewer requests than its
    workers' records held (test_inventory_cluster caught it). Both tear down as usual."""
    port = free_port(ADDRESS)
    master_file, master_mark = _locustfile(tmp_path, "master")
    worker_file, worker_mark = _locustfile(tmp_path, "worker")
    locust = [sys.executable, "-m", "locust"]
    master = subprocess.Popen(
        [
            *locust, "-f", str(master_file), "--master", "--master-bind-host", ADDRESS,
            "--master-bind-port", str(port), "--expect-workers", "1", "--headless",
            "--host", server, "-u", "2", "-r", "2", "-t", "2s",
        ],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [
            *locust, "-f", str(worker_file), "--worker", "--master-host", ADDRESS,
            "--master-port", str(port),
        ],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _, master_err = master.communicate(timeout=60)
        _, worker_err = worker.communicate(timeout=60)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert master.returncode == 0, master_err[-2000:]
    assert worker.returncode == 0, worker_err[-2000:]
    assert master_mark.exists() and worker_mark.exists()
