"""A Locust process that has written everything leaves at once.

Locust's shutdown fires `quit`, closes its CSV files and calls sys.exit; the interpreter
then takes 0.11 s more to tear down its modules (gevent's hub, pyarrow, numpy), and every
bench waited for it after its load had ended. Past that point nothing is left to write, so
an atexit hook flushes the logs and streams and ends the process with Locust's exit code.

Only a Locust that runs alone (not a master or a worker: their last messages to each other
leave through ZeroMQ's own thread, which the interpreter's teardown waits for and an
immediate exit would cut off), in a process Locust's command line runs (`python -m
locust`, `locust`), after its own shutdown (its `quit` event fired), and only when no
exception went uncaught: any other way out (an error, Ctrl-C before the load, a program
that ran Locust inside itself and goes on) leaves as usual, traceback and all.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import LocalRunner

_exit_code: int | None = None  # Locust's, once its shutdown fired `quit`
_alone = False  # a LocalRunner: no master or worker waits for a last message of ours
_previous_hook = sys.excepthook


@events.init.add_listener
def _note_the_runner(environment: Environment, **_: Any) -> None:
    global _alone  # noqa: PLW0603
    _alone = isinstance(environment.runner, LocalRunner)


@events.quit.add_listener
def _remember(exit_code: int, **_: Any) -> None:
    global _exit_code  # noqa: PLW0603
    _exit_code = exit_code


def _uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    global _exit_code  # noqa: PLW0603
    _exit_code = None  # after `quit`, something still failed: exit the usual way
    _previous_hook(kind, error, trace)


def _locust_is_the_program() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", None) == "locust.__main__" or Path(sys.argv[0]).name == "locust"


def _leave() -> None:
    if _exit_code is None or not _alone or not _locust_is_the_program():
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(_exit_code)


sys.excepthook = _uncaught
# Registered after logging's own hook, so it runs first (atexit is last in, first out):
# hence logging.shutdown() above.
atexit.register(_leave)
