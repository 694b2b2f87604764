"""A touched web.xml asks Tomcat to reload; whether it did is watched for in its log,
the same way on the lab and over SSH."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

# Tomcat's Engine checks every 10 s unless its server.xml says otherwise.
TOMCAT_CHECK_S = 10
# A busy host runs the check late, and the reload itself takes a while.
SLACK_S = 5.0


def deployer_checks(in_effect: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Each node's deployer check (s), as read with its settings before the load."""
    return {
        node: int(read["deployer_check_s"])
        for node, read in in_effect.items()
        if isinstance(read.get("deployer_check_s"), int)
    }


def notice_s(check_s: int | None) -> float:
    """How long a touch is watched: the node's own check and some slack. Tomcat's default
    where the node's could not be read: a node that checks less often than its window
    would read "did not reload" when its check had not yet come."""
    return (check_s or TOMCAT_CHECK_S) + SLACK_S


def watch_for_reload(
    touched: float,
    reloaded: Callable[[], bool],
    notice_s: float,
    until: threading.Event | None,
    *,
    poll_s: float,
) -> dict[str, float]:
    """A touch's outcome: "reloaded_at" once reloaded() holds; nothing more after
    notice_s without it; "watched_until" when until is set first (the load ended)."""
    stop = until or threading.Event()
    while time.time() - touched < notice_s:
        if stop.wait(poll_s):
            # A reload seen only now may have come after the load: no user's, not judged.
            return {"touched_at": touched, "watched_until": time.time()}
        if reloaded():
            return {"touched_at": touched, "reloaded_at": time.time()}
    return {"touched_at": touched}
