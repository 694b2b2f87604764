"""Ctrl-C and SIGTERM stop the harness once.

The first one raises KeyboardInterrupt, so every `finally` on the way out stops what it
started: Locust, the faults, the lab. Later ones are noted and not obeyed. A second
KeyboardInterrupt inside that cleanup would cut it short and leave servers running, and
one after it, while the interpreter exits, would end the harness by SIGINT instead of
with the status 130 a shell or CI reads as "interrupted".

Inside deferred() (a bench whose load has ended, writing its results), the first one is
held: a run that ran is finished before the harness stops, and its caller says so.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received = threading.Event()
_deferring = threading.Event()
_held = threading.Event()
_until = ""


Handlers = dict[int, Any]


def install() -> Handlers:
    """The first Ctrl-C or SIGTERM interrupts the command; the rest wait for its cleanup.
    Returns the handlers it replaced, for restore()."""
    _received.clear()
    _held.clear()
    return {signum: signal.signal(signum, _interrupt) for signum in _STOP_SIGNALS}


def restore(previous: Handlers) -> None:
    """The command ended with no stop signal: its caller's handlers back (a test, say)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def received() -> bool:
    """A stop signal came since install(); a command that catches KeyboardInterrupt
    itself (a bench writes what ran) returns normally after it."""
    return _received.is_set()


class Deferral:
    """What deferred() yields: take() hands a held stop signal to the caller."""

    def __init__(self) -> None:
        self._taken = False

    def take(self) -> bool:
        """Whether a stop signal came inside the block so far; the caller now acts on it
        (it is not raised when the block ends). One that comes later still is."""
        self._taken = _held.is_set()
        return self._taken


@contextmanager
def deferred(until: str) -> Iterator[Deferral]:
    """Inside, the first stop signal interrupts nothing (the operator is told the harness
    stops once `until`). When the block ends, it is raised as KeyboardInterrupt, unless
    the block raised already or took it (Deferral.take). A signal that came before the
    block is not raised again."""
    global _until  # noqa: PLW0603 - one process, one handler: the handler reads it
    _until = until
    _held.clear()
    _deferring.set()
    deferral = Deferral()
    try:
        yield deferral
    finally:
        _deferring.clear()
    if _held.is_set():
        _held.clear()
        if not deferral._taken:
            raise KeyboardInterrupt


def ignore_from_now() -> None:
    """The cleanup is done and the process exits: a late signal changes nothing. (The
    interpreter resets a Python handler to the default as it exits; SIG_IGN it keeps.)"""
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # The next signal goes elsewhere first: one that came while the flag's lock was held
    # ran this handler again inside it, and again (a held-down Ctrl-C in CI), until the
    # harness died by SIGINT instead of exiting 130.
    for stop in _STOP_SIGNALS:
        signal.signal(stop, _already_stopping)
    _received.set()
    if _deferring.is_set():
        _held.set()
        log.warning("stopping once %s", _until)
        return
    raise KeyboardInterrupt


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    # Told once: a held-down Ctrl-C repeats many times a second.
    for stop in _STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    log.warning(
        "already stopping: the harness exits once what it started has stopped "
        "(kill -9 would leave those servers running)"
    )
