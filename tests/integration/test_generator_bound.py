"""A generator-bound run is detected: Locust's FastHttpUser against nginx serving a tiny
static reply, which costs nginx next to nothing, so Locust's single core is the limit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.endpoints import Endpoint, is_listening
from harness.cluster.lab.nginx import NGINX
from harness.load.driver import Load, run_generator
from tests.integration.conftest import repo_root

pytestmark = pytest.mark.integration
NET = "127.0.82"

_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp;
  server {{
    listen {address}:8080;
    location = /session.jsp {{ return 200 "static\\n"; }}
  }}
}}
"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(_CONF.format(dir=tmp_path, address=f"{NET}.1"))
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)])
    try:
        deadline = time.monotonic() + 10
        while not is_listening(Endpoint(f"{NET}.1", 8080)):
            assert proc.poll() is None, "nginx exited"
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_locust_against_a_static_page_is_flagged_generator_bound(
    nginx: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", "locustfiles/plain_fasthttp.py", "--headless",
        "--host", f"http://{NET}.1:8080", "-u", "64", "-r", "64", "-t", "8s",
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    finished = run_generator(
        Load(
            command=command,
            log_path=tmp_path / "locust.log",
            duration_s=8,
            servers={"nginx": nginx.pid},
            cwd=repo_root(),
        )
    )
    assert finished.returncode == 0, (tmp_path / "locust.log").read_text()[-2000:]
    summary = finished.sampler.summary()
    cpu = summary["cpu_cores_mean"]
    assert summary["generator_bound"] is True, summary
    # The generator, not the server, used the CPU: the reason for the flag.
    assert cpu["generator"] > cpu["nginx"]
    assert finished.cpu_s > 0
