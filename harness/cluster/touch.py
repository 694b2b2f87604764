"""A touched web.xml asks Tomcat to reload; whether it did is watched for in its log,
the same way on the lab and over SSH."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
