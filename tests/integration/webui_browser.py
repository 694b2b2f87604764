"""Drive `python -m harness webui` through a real headless Chromium (Debian's, via Playwright).

Shared by the web UI test modules; each module passes its own lab net. Not a test module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import Browser, Page, sync_playwright

from harness.results.run_folder import load_records
from tests.integration.conftest import repo_root

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
USERS = 6
READY_TIMEOUT_S = 120.0


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium (no browser download); closed, with its processes, on exit."""
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is not installed (scripts/setup installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WebUI:
    proc: subprocess.Popen[str]
    url: str
    results: Path
    net: str


def _ready(url: str, workers: int) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/stats/requests", timeout=2) as reply:
            stats = json.loads(reply.read())
    except (OSError, ValueError):
        return False
    return not workers or int(stats.get("worker_count") or 0) >= workers


@contextmanager
def harness_webui(tmp_path: Path, net: str, workers: int) -> Iterator[WebUI]:
    """`python -m harness webui` on its own net; stopped with Ctrl-C (SIGINT) at the end."""
    results = tmp_path / "results"
    log = (tmp_path / "webui.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness", "webui", "--net", net,
            "--run-dir", str(tmp_path / "lab"), "--results-dir", str(results),
            "--workers", str(workers), "--users", str(USERS), "--spawn-rate", str(USERS),
            "--source-net", "",
        ],
        cwd=repo_root(), stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    ui = WebUI(proc, f"http://{net}.30:8089", results, net)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ready(ui.url, workers):
            assert proc.poll() is None, (tmp_path / "webui.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "web UI not ready"
            time.sleep(0.5)
        yield ui
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        assert not locusts_on(net), "a Locust process of this test outlived the harness"


def locusts_on(net: str) -> list[int]:
    """Locust processes bound to this net's UI address (ours, not other agents')."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if "locust" in cmdline and f"{net}.30" in cmdline:
            found.append(p.info["pid"])
    return found


def start_swarm(page: Page, url: str) -> None:
    page.goto(url)
    page.fill("input[name=userCount]", str(USERS))
    page.fill("input[name=spawnRate]", str(USERS))
    page.click("button[type=submit]")
    page.get_by_role("tab", name="Sessions").click()


def tab(page: Page) -> dict[str, tuple[str, str]]:
    """The Sessions tab's table as {what: (value, detail)}, read from the rendered DOM."""
    rows = page.eval_on_selector_all(
        "table tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText))"
    )
    out: dict[str, tuple[str, str]] = {}
    for what, value, detail in rows:
        out.setdefault(what, (value, detail))
    return out


def wait_for(
    page: Page, check: Callable[[dict[str, tuple[str, str]]], bool], what: str, timeout: float = 30
) -> dict[str, tuple[str, str]]:
    """Poll the rendered tab (the UI refreshes every 2 s) until check holds."""
    deadline = time.monotonic() + timeout
    while True:
        rows = tab(page)
        if check(rows):
            return rows
        assert time.monotonic() < deadline, f"tab never showed {what}: {rows}"
        page.wait_for_timeout(500)


def number(rows: dict[str, tuple[str, str]], what: str) -> int:
    return int(rows[what][0]) if what in rows else 0


def read_results(results: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    (run_dir,) = list(results.iterdir())
    manifest = json.loads((run_dir / "run.json").read_text())
    records = [r._asdict() for r in load_records(run_dir / manifest["files"]["requests"])]
    return manifest, records


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Kept in the test's folder; WEBUI_SCREENSHOT_DIR keeps a copy (to look at one)."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("WEBUI_SCREENSHOT_DIR")
    if keep:
        shutil.copy(path, Path(keep) / name)
    return path


def run_scenario(
    tmp_path: Path, net: str, workers: int, *, restore: bool = False
) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, tuple[str, str]]]:
    """Start a swarm in the browser, watch the numbers move, SIGKILL node1 by a click,
    check the tab, (start node1 again by a click), stop with Ctrl-C; returns the results
    and the tab's last rows."""
    with harness_webui(tmp_path, net, workers) as ui, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start_swarm(page, ui.url)
        first = wait_for(page, lambda r: number(r, "users") == USERS and number(r, "requests") > 0,
                         f"{USERS} users")  # fmt: skip
        later = wait_for(page, lambda r: number(r, "requests") > number(first, "requests"),
                         "more requests")  # fmt: skip
        assert number(later, "node node1") > 0
        assert number(later, "node node2") > 0
        assert page.is_visible("#tb-faults"), "the fault buttons belong to the Sessions tab"

        page.click("button[data-action=sigkill][data-target=node1]")
        rows = wait_for(page, lambda r: "fault" in r, "the fault")
        assert rows["fault"][0] == "sigkill node1"
        assert "from web UI" in rows["fault"][1]
        status = page.inner_text("#tb-fault-status")
        assert status.startswith("sigkill node1 at ")
        # The dead node answers nothing more, the other one goes on.
        page.wait_for_timeout(3000)
        before = tab(page)
        after = wait_for(page, lambda r: number(r, "node node2") > number(before, "node node2"),
                         "node2 serving")  # fmt: skip
        assert number(after, "node node1") == number(before, "node node1")
        screenshot(page, tmp_path, f"sessions-tab-{workers}-workers.png")
        if restore:
            page.click("button[data-action=start][data-target=node1]")
            wait_for(page, lambda r: "; start at " in r["fault"][1], "the restore")
            # Back in the pool once nginx retries it (fail_timeout 10 s) and Tomcat is up.
            after = wait_for(
                page,
                lambda r: number(r, "node node1") > number(before, "node node1"),
                "node1 serving again",
                timeout=90,
            )
        page.get_by_role("tab", name="Statistics").click()
        # Only the Sessions tab shows the fault buttons (its script watches ?tab= every 0.3 s).
        page.wait_for_selector("#tb-faults", state="hidden", timeout=5000)
        page.close()
    manifest, records = read_results(ui.results)
    return manifest, records, {**after, "status": (status, "")}
