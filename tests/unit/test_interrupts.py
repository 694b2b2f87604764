"""Stop signals in this very process: the first interrupts, the rest are noted once.
(The integration test in test_cli sends a held-down Ctrl-C to a real `lab up`.)"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from harness import interrupts


@pytest.fixture
def installed() -> Iterator[None]:
    previous = interrupts.install()
    try:
        yield
    finally:
        interrupts.restore(previous)


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    signal.getsignal(signum)  # a bytecode boundary: the Python handler has run by now


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_the_first_stop_signal_interrupts_and_later_ones_are_noted_once(
    first: int, caplog: pytest.LogCaptureFixture
) -> None:
    assert not interrupts.received()
    with pytest.raises(KeyboardInterrupt):
        _deliver(first)
    assert interrupts.received()
    for again in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        _deliver(again)  # raises nothing: the cleanup goes on
    assert [r.message for r in caplog.records].count(
        "already stopping: the harness exits once what it started has stopped "
        "(kill -9 would leave those servers running)"
    ) == 1


def test_a_command_with_no_stop_signal_gives_its_caller_the_handlers_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.restore(interrupts.install())
    assert {s: signal.getsignal(s) for s in before} == before
    assert not interrupts.received()


@pytest.mark.usefixtures("installed")
def test_a_stop_signal_while_the_first_is_being_noted_is_only_noted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A held-down Ctrl-C's second signal came while the first one's handler was setting
    its flag (CI, test_cli's Ctrl-C storm): the handler ran again inside itself, again and
    again in the flag's lock, and the harness died by SIGINT (-2) instead of exiting 130.
    Here the second signal comes exactly there."""
    again = [signal.SIGINT]

    class SignalledWhileSet(type(interrupts._received)):  # type: ignore[misc]
        def set(self) -> None:
            if again:
                _deliver(again.pop())
            super().set()

    monkeypatch.setattr(interrupts, "_received", SignalledWhileSet())
    with pytest.raises(KeyboardInterrupt):
        _deliver(signal.SIGTERM)
    assert interrupts.received()
    assert [r.message for r in caplog.records].count(
        "already stopping: the harness exits once what it started has stopped "
        "(kill -9 would leave those servers running)"
    ) == 1


@pytest.mark.usefixtures("installed")
def test_a_stop_signal_inside_deferred_is_raised_once_the_block_has_ended(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt), interrupts.deferred("the run is written"):
        _deliver(signal.SIGINT)  # raises nothing here
        finished = True
    assert finished
    assert interrupts.received()
    assert "stopping once the run is written" in [r.message for r in caplog.records]


@pytest.mark.usefixtures("installed")
def test_deferred_raises_nothing_for_a_signal_handled_before_it() -> None:
    with pytest.raises(KeyboardInterrupt):
        _deliver(signal.SIGINT)  # the load's Ctrl-C, handled by the load
    with interrupts.deferred("the run is written"):
        _deliver(signal.SIGINT)  # already stopping: noted only
    assert interrupts.received()


@pytest.mark.usefixtures("installed")
def test_an_error_inside_deferred_is_what_leaves_it() -> None:
    with pytest.raises(RuntimeError), interrupts.deferred("the run is written"):
        _deliver(signal.SIGINT)
        raise RuntimeError("the results failed")


@pytest.mark.usefixtures("installed")
def test_a_held_signal_taken_by_the_caller_is_not_raised() -> None:
    with interrupts.deferred("the run is written") as deferral:
        _deliver(signal.SIGINT)
        assert deferral.take()  # the bench's result says it; its caller ends with 130
    assert interrupts.received()


@pytest.mark.usefixtures("installed")
def test_a_signal_after_the_take_is_raised_when_the_block_ends() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts.deferred("the run is written") as later:
        assert not later.take()  # nothing yet: the result says "not stopped"
        _deliver(signal.SIGINT)
