"""What a fault did to sessions and requests, from the per-request records alone.

Used by the bench (into run.json's summary), the CLI summary and the report; it knows
nothing of the lab, so a report can be rebuilt from a results folder.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from harness.results import Record

_GOOD = frozenset({"new", "kept"})
_LOST = frozenset({"session_lost", "data_lost"})


def _last_node_before(records: Sequence[Record], at_s: float) -> dict[int, str]:
    """Each user's node at the fault: the one that served its last good request before it."""
    nodes: dict[int, str] = {}
    for r in sorted(records, key=lambda r: r.t_s):
        if r.t_s >= at_s:
            break
        if r.outcome in _GOOD:
            nodes[r.user] = r.node
    return nodes


def _longest_wait(records: Sequence[Record], users: set[int], at_s: float) -> float | None:
    """The longest time any of these users went without a good reply across the fault:
    from its last good reply before the fault (or after) to its next one."""
    good: dict[int, list[float]] = {}
    for r in records:
        if r.user in users and r.outcome != "error":
            good.setdefault(r.user, []).append(r.t_s)
    longest = None
    for times in good.values():
        times.sort()
        for a, b in itertools.pairwise(times):
            if b >= at_s and (longest is None or b - a > longest):
                longest = b - a
    return round(longest, 3) if longest is not None else None


def fault_effects(records: Sequence[Record], event: dict[str, Any]) -> dict[str, Any]:
    """What one fault did to sessions and requests.

    Users are split by the node that served them just before the fault (the target, or
    elsewhere: the control group). A user "lost" its session (or its data) if any of its
    requests after the fault says so; it "kept" it if none did and it got a good reply
    after the fault's last recorded step (restore, redeploy, reload done); otherwise it
    went "unanswered" (no good reply before the run ended). The window runs from the
    fault to one second after that last step."""
    at = float(event["at_s"])
    steps = [v for k, v in event.items() if k.endswith("_s") and isinstance(v, int | float)]
    until = max([at, *steps])
    before = _last_node_before(records, at)
    after: dict[int, list[Record]] = {}
    for r in records:
        if r.t_s >= at and r.user in before:
            after.setdefault(r.user, []).append(r)
    out: dict[str, Any] = {
        "fault": str(event.get("spec") or f"{event.get('action')}:{event.get('target')}"),
        "window_s": [at, round(until + 1.0, 3)],
    }
    if event.get("action") == "touch":
        # A touched web.xml is only a request: did Tomcat act on it?
        out["reloaded"] = "reloaded_at_s" in event
    for group, members in (
        ("on_target", {u for u, n in before.items() if n == event.get("target")}),
        ("elsewhere", {u for u, n in before.items() if n != event.get("target")}),
    ):
        mine = {u: after.get(u, []) for u in members}
        lost = {u for u, rs in mine.items() if any(r.outcome in _LOST for r in rs)}
        kept = {
            u
            for u, rs in mine.items()
            if u not in lost and any(r.t_s >= until and r.outcome == "kept" for r in rs)
        }
        out[f"users_{group}"] = len(members)
        out[f"kept_{group}"] = len(kept)
        out[f"lost_{group}"] = len(lost)
        out[f"unanswered_{group}"] = len(members) - len(kept) - len(lost)
    out["longest_wait_on_target_s"] = _longest_wait(
        records, {u for u, n in before.items() if n == event.get("target")}, at
    )
    window = [r for r in records if at <= r.t_s <= until + 1.0]
    out["requests_in_window"] = len(window)
    out["errors_in_window"] = sum(1 for r in window if r.outcome == "error")
    out["max_latency_ms_in_window"] = (
        round(max(r.latency_ms for r in window), 3) if window else None
    )
    statuses: dict[str, int] = {}
    for r in window:
        if r.outcome == "error":
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    out["error_statuses"] = statuses
    return out


def describe_effects(effects: dict[str, Any]) -> str:
    """One line for the summary and the report."""
    max_ms = effects.get("max_latency_ms_in_window")
    wait = effects.get("longest_wait_on_target_s")
    statuses = ", ".join(f"{n}x {s}" for s, n in sorted(effects.get("error_statuses", {}).items()))
    reloaded = effects.get("reloaded")
    touch = {True: "Tomcat reloaded the context; ", False: "Tomcat did not reload; ", None: ""}
    return (
        f"{touch[reloaded]}"
        f"users on the target: {effects['kept_on_target']}/{effects['users_on_target']} kept "
        f"their session, {effects['lost_on_target']} lost it, "
        f"{effects['unanswered_on_target']} got no good reply after it; elsewhere "
        f"{effects['kept_elsewhere']}/{effects['users_elsewhere']} kept, "
        f"{effects['lost_elsewhere']} lost, {effects['unanswered_elsewhere']} no reply; "
        f"{effects['errors_in_window']} errors"
        f"{f' ({statuses})' if statuses else ''} in {effects['requests_in_window']} requests "
        f"from {effects['window_s'][0]:g} to {effects['window_s'][1]:g} s"
        f"{f', slowest {max_ms:.0f} ms' if max_ms is not None else ''}"
        f"{f'; longest wait on the target {wait:.1f} s' if wait is not None else ''}"
    )
