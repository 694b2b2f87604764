"""What one fault did, told per group of users: those the target served just before it,
and the rest. The fates are the run's one judgement (results/judgement.py); this module
only groups them and adds the window's requests, errors and waits.

fault_impact reads records row by row and is the definition; impact_columns computes the
same numbers on columns, which is what summarize runs on millions of requests (the tests
hold the two equal). Used by summarize (into run.json's summary), the CLI summary and the
report; it knows nothing of the lab, so a report can be rebuilt from a results folder.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.config.faults import parse_fault
from harness.results import outcomes as o
from harness.results.judgement import Request, Unfinished, Window, run_end
from harness.results.requests import Requests, sorted_by_time

if TYPE_CHECKING:
    from numpy.typing import NDArray


def _longest_wait(
    records: Sequence[Request],
    users: set[int],
    window: Window,
    unfinished: Sequence[Unfinished] = (),
) -> float | None:
    """The longest time any of these users went without a reply of its session across the
    fault: from its last one before the fault to its next one, or to the window's end
    (or the run's end: its last request, or the load's stop) when none came. A user
    answered after the fault whose next request was still in flight at the stop went
    without a reply from its last one to the stop (or the window's end)."""
    replies: dict[int, list[float]] = {u: [] for u in users}
    end = min(window.until_s, run_end(records, unfinished, window.at_s))
    stopped = _open_at_stop(unfinished, users, window)
    for r in records:
        if r.user in replies and r.outcome != o.ERROR and r.t_s < window.until_s:
            replies[r.user].append(r.t_s)
    longest = None
    for user, times in replies.items():
        times.sort()
        before = [t for t in times if t < window.at_s]
        after = [t for t in times if t >= window.at_s]
        gaps = [b - a for a, b in itertools.pairwise(times) if b >= window.at_s]
        if before and not after:
            gaps.append(end - before[-1])  # never answered again in the window
        if after and user in stopped:
            gaps.append(stopped[user] - after[-1])
        if gaps and (longest is None or max(gaps) > longest):
            longest = max(gaps)
    return round(longest, 3) if longest is not None else None


def _open_at_stop(
    unfinished: Sequence[Unfinished], users: set[int], window: Window
) -> dict[int, float]:
    """These users' requests sent before the window's end and still in flight when the
    load stopped inside or after it: when each stopped, or the window ended."""
    return {
        u.user: min(window.until_s, u.stopped_s)
        for u in unfinished
        if u.user in users and u.sent_s < window.until_s and u.stopped_s > window.at_s
    }


def _parts(event: dict[str, Any], window: Window) -> set[str]:
    """The parts the fault named (partition:A-B names A and B, drop:A:5% names A), as the
    run recorded them; a run from before they were recorded is read from its spec."""
    recorded = event.get("parts")
    if isinstance(recorded, list):
        return {str(part) for part in recorded}
    try:
        return set(parse_fault(window.spec or "").parts)
    except ValueError:
        return {window.target} if window.target else set()


def fault_impact(
    records: Sequence[Request],
    window: Window,
    event: dict[str, Any],
    unfinished: Sequence[Unfinished] = (),
) -> dict[str, Any]:
    """One fault's effects, from its judged window, the records inside it and the
    requests still in flight when the load stopped."""
    until = window.until_s
    out: dict[str, Any] = {
        "fault": window.spec or window.label,
        "window_s": [window.at_s, None if math.isinf(until) else until],
        "delivered": window.delivered,
    }
    if event.get("action") == "touch":
        # A touched web.xml is only a request: did Tomcat act on it? Not judged when the
        # load ended before Tomcat's check could be waited for (watched_until_s).
        if "reloaded_at_s" in event:
            out["reloaded"] = True
        elif "watched_until_s" in event:
            out["reloaded"] = None
            out["reload_watched_s"] = round(event["watched_until_s"] - event["touched_at_s"], 1)
        else:
            out["reloaded"] = False
    parts = _parts(event, window)
    on_target = {u for u, n in window.nodes.items() if n in parts}
    for group, members in (
        ("on_target", on_target),
        ("elsewhere", set(window.nodes) - on_target),
    ):
        fates = [window.fates[u] for u in members]
        out[f"users_{group}"] = len(members)
        out[f"kept_{group}"] = sum(f in (o.KEPT_FATE, o.REPLAY, o.DATA) for f in fates)
        out[f"lost_{group}"] = fates.count(o.LOST)
        out[f"unanswered_{group}"] = fates.count(o.UNANSWERED)
    out["longest_wait_on_target_s"] = _longest_wait(records, on_target, window, unfinished)
    inside = [r for r in records if window.at_s <= r.t_s < until]
    errors = [r for r in inside if r.outcome == o.ERROR]
    out["requests_in_window"] = len(inside)
    out["errors_in_window"] = len(errors)
    # Slowest of every request in flight during the window, including one that only
    # completed after it: a stall across the fault must not read as a fast window.
    overlapping = [
        r for r in records if r.t_s >= window.at_s and r.t_s - r.latency_ms / 1000 < until
    ]
    out["max_latency_ms_in_window"] = (
        round(max(r.latency_ms for r in overlapping), 3) if overlapping else None
    )
    statuses: dict[str, int] = {}
    for r in errors:
        statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    out["error_statuses"] = statuses
    return out


def not_judged(faults: list[dict[str, Any]]) -> list[str]:
    """What a delivered fault was to show and the load ended too soon to: a touch whose
    reload was not seen when the load ended (see fault_impact)."""
    return [
        f"whether Tomcat reloads after {event['spec']} (the load ended "
        f"{event['watched_until_s'] - event['touched_at_s']:.0f} s after it)"
        for event in faults
        if event.get("action") == "touch"
        and "watched_until_s" in event
        and "reloaded_at_s" not in event
    ]


def describe_impact(effects: dict[str, Any]) -> str:
    """One line for the summary and the report."""
    if effects.get("delivered") is False:
        return "not delivered: nobody judged"
    max_ms = effects.get("max_latency_ms_in_window")
    wait = effects.get("longest_wait_on_target_s")
    statuses = ", ".join(f"{n}x {s}" for s, n in sorted(effects.get("error_statuses", {}).items()))
    reloaded = effects.get("reloaded")
    touch = {True: "Tomcat reloaded the context; ", False: "Tomcat did not reload; ", None: ""}
    if "reload_watched_s" in effects:
        touch[None] = (
            f"Tomcat had not reloaded when the load ended, {effects['reload_watched_s']:g} s "
            "after the touch: not judged (it checks every 10 s); "
        )
    start, end = effects["window_s"]
    return (
        f"{touch[reloaded]}"
        f"users on the target: {effects['kept_on_target']}/{effects['users_on_target']} kept "
        f"their session, {effects['lost_on_target']} lost it, "
        f"{effects['unanswered_on_target']} got no good reply after it; elsewhere "
        f"{effects['kept_elsewhere']}/{effects['users_elsewhere']} kept, "
        f"{effects['lost_elsewhere']} lost, {effects['unanswered_elsewhere']} no reply; "
        f"{effects['errors_in_window']} errors"
        f"{f' ({statuses})' if statuses else ''} in {effects['requests_in_window']} requests "
        f"from {start:g} s to {'the end' if end is None else f'{end:g} s'}"
        f"{f', slowest {max_ms:.0f} ms' if max_ms is not None else ''}"
        f"{f'; longest wait on the target {wait:.1f} s' if wait is not None else ''}"
    )


# --------------------------------------------------------------------------- on columns


def impact_columns(
    requests: Requests,
    window: Window,
    event: dict[str, Any],
    unfinished: Sequence[Unfinished] = (),
) -> dict[str, Any]:
    """fault_impact on columns: its grouping of users (which needs no records), then the
    numbers it reads from the records, computed here."""
    out = fault_impact([], window, event)
    ordered = sorted_by_time(requests)
    t, wait = ordered.t_s, ordered.latency_ms / 1000
    error = ordered.outcome.mask([o.ERROR])
    parts = _parts(event, window)
    on_target = {u for u, n in window.nodes.items() if n in parts}
    # The last request as recorded, as fault_impact reads it (not the latest in time).
    last_t = float(requests.t_s[-1]) if len(requests) else window.at_s
    ends = [u.stopped_s for u in unfinished]
    out["longest_wait_on_target_s"] = _gap_without_reply(
        ordered.user,
        t,
        error,
        on_target,
        window=window,
        last_t=max([last_t, *ends]) if len(requests) else max(ends, default=last_t),
        stopped=_open_at_stop(unfinished, on_target, window),
    )
    lo, hi = (int(np.searchsorted(t, x, side="left")) for x in (window.at_s, window.until_s))
    errors = np.flatnonzero(error[lo:hi]) + lo
    out["requests_in_window"] = hi - lo
    out["errors_in_window"] = int(errors.size)
    overlapping = (t >= window.at_s) & (t - wait < window.until_s)
    latency = ordered.latency_ms[overlapping]
    out["max_latency_ms_in_window"] = round(float(latency.max()), 3) if latency.size else None
    statuses, first, counts = np.unique(
        ordered.status[errors], return_index=True, return_counts=True
    )
    order = np.argsort(first)
    out["error_statuses"] = {
        str(s): int(n)
        for s, n in zip(statuses[order].tolist(), counts[order].tolist(), strict=True)
    }
    return out


def _gap_without_reply(
    user: NDArray[np.int64],
    t: NDArray[np.float64],
    error: NDArray[np.bool_],
    users: set[int],
    *,
    window: Window,
    last_t: float,
    stopped: dict[int, float],
) -> float | None:
    """_longest_wait on columns in time order: per user, the longest gap between replies
    that ends after the fault, or from its last reply before the fault to the end when
    none came after it, or from its last reply after it to when its unfinished request
    stopped (stopped, by user)."""
    if not users:
        return None
    judged = np.isin(user, np.fromiter(users, dtype=np.int64))
    rows = np.flatnonzero(judged & ~error & (t < window.until_s))
    if not rows.size:
        return None
    ids, code = np.unique(user[rows], return_inverse=True)
    order = np.argsort(code, kind="stable")  # by user, each user's rows in time order
    codes, times = code[order], t[rows[order]]
    same = codes[1:] == codes[:-1]
    gaps = (times[1:] - times[:-1])[same & (times[1:] >= window.at_s)]
    end = min(window.until_s, last_t)
    after = np.bincount(codes[times >= window.at_s], minlength=len(ids)) > 0
    last_before = np.full(len(ids), math.nan)
    earlier = np.flatnonzero(times < window.at_s)
    if earlier.size:
        found, from_end = np.unique(codes[earlier][::-1], return_index=True)
        last_before[found] = times[earlier[earlier.size - 1 - from_end]]
    silent = (end - last_before[~after & ~np.isnan(last_before)]).tolist()
    last = np.append(codes[1:] != codes[:-1], True)  # each user's last reply
    hung = [
        stopped[user] - at
        for user, at, answered in zip(
            ids.tolist(), times[last].tolist(), after[codes[last]].tolist(), strict=True
        )
        if answered and user in stopped
    ]
    candidates = [*gaps.tolist(), *silent, *hung]
    return round(max(candidates), 3) if candidates else None
