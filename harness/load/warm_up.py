"""The results' and the report's first-call costs, paid while the load runs.

A fresh process pays once for what the end of its first bench needs: pyarrow's compute
functions (0.03 s to import), and the report's plotly classes, Jinja templates and the
figure template's JSON (a run's first report took 0.15-0.18 s where the next took 0.07 s).
Paid after the load, they are part of the operator's wait; paid during it, on a machine
whose load leaves a core idle, they are not. So a bench writes, in a temporary folder and
a few seconds into its load, the report of a tiny synthetic run, and the real report then
finds everything warm. Once per process: a campaign's later benches are warm already.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

log = logging.getLogger(__name__)

# After the load's own start (Locust starting, the nodes' first requests), which is busy.
AFTER_S = 2.0
ROWS = 300  # enough for every figure of the report to be drawn

_warmed = threading.Event()


def warm_results_and_report() -> None:
    """Import and run, once, what writing a run's results and report first imports and
    builds; the synthetic run is removed after."""
    # Imported here: a bench that never gets this far needs none of it.
    import pyarrow.compute  # noqa: F401, PLC0415

    from harness.load.results_timing import make_run  # noqa: PLC0415
    from harness.report.run import write_report  # noqa: PLC0415

    with TemporaryDirectory(prefix="tomcat-bench-warm-") as scratch:
        write_report(make_run(Path(scratch) / "run", ROWS, users=10, nodes=2))


class WarmUp:
    """A companion of the load (see harness.cluster.Companion): warms the results and the
    report AFTER_S into the load, in a thread; stop() waits for it, since the results need
    the same imports next, and skips it when the load ended before its time."""

    def __init__(self, after_s: float = AFTER_S) -> None:
        self.after_s = after_s
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, start_epoch: float) -> None:
        del start_epoch  # timed from now: the load was launched a moment ago
        if _warmed.is_set():
            return
        self._thread = threading.Thread(target=self._run, name="warm-up", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._ended.wait(self.after_s):
            return
        try:
            warm_results_and_report()
        except Exception:  # a warm-up is no result: the real report says what fails
            log.debug("warming the report failed", exc_info=True)
        _warmed.set()

    def stop(self) -> list[dict[str, Any]]:
        self._ended.set()
        if self._thread is not None:
            self._thread.join()
        return []
