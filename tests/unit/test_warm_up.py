"""The warm-up a bench runs during its load: the real report code on a tiny synthetic run,
in a thread, leaving nothing behind. How much it saves is a benchmark's figure (make
timing's phases), not asserted here."""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness.load import warm_up
from harness.load.warm_up import WarmUp


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process not yet warmed, its scratch folders under tmp_path."""
    monkeypatch.setattr(warm_up, "_warmed", threading.Event())
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_load_that_ends_before_the_warm_ups_time_skips_it(fresh: Path) -> None:
    companion = WarmUp(after_s=30)
    companion.start(time.time())
    began = time.monotonic()
    assert companion.stop() == []
    assert time.monotonic() - began < 5  # stop() did not wait out the 30 s
    assert not warm_up._warmed.is_set()
    assert list(fresh.iterdir()) == []


def test_the_warm_up_writes_a_report_once_and_leaves_no_folder(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=warm_up.__name__)
    reports: list[Path] = []
    from harness.report import run  # noqa: PLC0415

    real = run.write_report

    def counted(folder: Path) -> Path:
        reports.append(folder)
        written = real(folder)
        assert written.stat().st_size > 100_000  # the page with plotly.js and its figures
        return written

    monkeypatch.setattr(run, "write_report", counted)
    for _ in range(2):  # the second bench of a process: warm already
        companion = WarmUp(after_s=0)
        companion.start(time.time())
        assert companion.stop() == []
    assert len(reports) == 1
    assert not caplog.records  # its failure would be logged, and only logged
    assert warm_up._warmed.is_set()
    assert "pyarrow.compute" in sys.modules
    assert list(fresh.iterdir()) == []
