"""Real servers on loopback: each test module gets its own lab net (127.0.x) and folder."""

from __future__ import annotations

import csv
import functools
import http.client
import http.cookiejar
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from session_tracking import Reply, parse_reply

from harness.cluster.endpoints import Endpoint, is_listening
from harness.cluster.lab import Lab, Topology, l4hash
from harness.config.profile import Profile, load_profile
from harness.paths import PROFILES_DIR


class _BoundHTTPHandler(urllib.request.HTTPHandler):
    """Connections from one loopback source address, as a client host would have."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = functools.partial(http.client.HTTPConnection, source_address=(self.source, 0))
        return self.do_open(factory, req)  # type: ignore[arg-type]


class Browser:
    """One user: its own cookie jar (and source address, if given), like a Locust user."""

    def __init__(self, base_url: str, source: str | None = None) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPCookieProcessor(self.cookies)
        ]
        if source:
            handlers.append(_BoundHTTPHandler(source))
        self._opener = urllib.request.build_opener(*handlers)

    def session_page(self, query: str = "") -> Reply:
        with self._opener.open(f"{self.base_url}/session.jsp{query}", timeout=10) as reply:
            return parse_reply(reply.read())


def assert_lab_gone(lab: Lab) -> None:
    assert lab.state is not None
    if lab.state.nft_table:
        assert not l4hash.exists(lab.state.nft_table), f"nft table {lab.state.nft_table} remains"
    for name, record in lab.state.processes.items():
        assert record.process() is None, f"{name} (pid {record.pid}) still runs"
        for address, port in record.endpoints:
            assert not is_listening(Endpoint(address, port)), f"{address}:{port} still listens"
    assert not probe_servers(), "the JMX reader (JvmProbe --serve) outlived the lab"


def probe_servers() -> list[psutil.Process]:
    """This test process's JvmProbe servers (harness.cluster.probe_server) still running."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue  # ended meanwhile
        if "JvmProbe" in argv and "--serve" in argv:
            found.append(child)
    return found


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    net = request.module.LAB_NET
    lab = Lab(Topology(net=net, run_dir=tmp_path_factory.mktemp("lab")))
    lab.up(
        load_profile("best-practice"),
        balancer_name=getattr(request.module, "LAB_BALANCER", "nginx-rr"),
        sessions=getattr(request.module, "LAB_SESSIONS", "redis"),
    )
    try:
        yield lab
    finally:
        lab.down()


def best_practice_with(folder: Path, extra: str) -> Profile:
    """best-practice with a few more lines (a [sessions.*] or [balancer.*] table), as a
    profile file of its own in folder that extends a copy of the real one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "best-practice.toml").write_text((PROFILES_DIR / "best-practice.toml").read_text())
    profile = folder / "with-extra.toml"
    profile.write_text(f'extends = "best-practice"\n{extra}\n')
    return load_profile(str(profile))


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def healthy_replies(records: Path) -> list[dict[str, str]]:
    """The rows of a raw records file that are replies. A request Locust cut off at its
    stop is a row of its own (outcome unfinished, no reply): at most one a user, and on a
    healthy lab none had waited long."""
    with records.open() as handle:
        written = list(csv.DictReader(handle))
    cut = [row for row in written if row["outcome"] == "unfinished"]
    assert len({row["user"] for row in cut}) == len(cut)
    assert all(float(row["latency_ms"]) < 1000 for row in cut)
    return [row for row in written if row["outcome"] != "unfinished"]
