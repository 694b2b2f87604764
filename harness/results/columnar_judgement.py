"""The judgement of results/judgement.py computed on columns: the same windows, fates,
waits and recovery, from numpy arrays instead of a walk over Records.

judgement.py stays the definition (its docstring has the rules, and its row-by-row code is
what tests hold this module to on randomised runs); this module is how a run of millions of
requests is judged in a second. Every float is computed in the same order as there
(bincount adds a group's values in row order, as the loops did), so the numbers are equal,
not merely close.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.results import outcomes as o
from harness.results.impact import _parts, fault_impact
from harness.results.judgement import (
    ANSWERED_IN_SESSION,
    Judgement,
    Window,
    _fault_events,
    _planned,
)
from harness.results.requests import Requests, sorted_by_time

if TYPE_CHECKING:
    from numpy.typing import NDArray

_FATE_ORDER = (o.LOST, o.DATA, o.UNANSWERED, o.REPLAY, o.KEPT_FATE)


@dataclass(frozen=True)
class _Columns:
    """What the judgement reads, in time order, with users as dense codes."""

    t: NDArray[np.float64]
    wait: NDArray[np.float64]  # latency in seconds
    ucode: NDArray[np.int64]
    users: NDArray[np.int64]  # ucode -> user id
    node: NDArray[np.int32]
    node_names: tuple[str, ...]
    error: NDArray[np.bool_]
    good: NDArray[np.bool_]
    answered: NDArray[np.bool_]  # kept or replayed: answered in its session
    lost: NDArray[np.bool_]
    data: NDArray[np.bool_]
    replayed: NDArray[np.bool_]
    new: NDArray[np.bool_]
    failed: NDArray[np.bool_]

    @classmethod
    def of(cls, requests: Requests) -> _Columns:
        outcome = requests.outcome
        users, ucode = _user_codes(requests.user)
        node = requests.node
        return cls(
            t=requests.t_s,
            wait=requests.latency_ms / 1000,
            ucode=ucode.astype(np.int64, copy=False),  # int64 already: no second copy
            users=users,
            node=node.codes,
            node_names=node.names,
            error=outcome.mask([o.ERROR]),
            good=outcome.mask(o.GOOD),
            answered=outcome.mask(ANSWERED_IN_SESSION),
            lost=outcome.mask([o.SESSION_LOST]),
            data=outcome.mask([o.DATA_LOST]),
            replayed=outcome.mask([o.REPLAYED]),
            new=outcome.mask([o.NEW]),
            failed=outcome.mask(o.FAILED),
        )

    @property
    def n_users(self) -> int:
        return len(self.users)

    def cut(self, at_s: float) -> int:
        """The first row at or after at_s (rows are in time order)."""
        return int(np.searchsorted(self.t, at_s, side="left"))

    def any_by_user(self, rows: NDArray[np.int64], mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        hits = rows[mask[rows]]
        return np.bincount(self.ucode[hits], minlength=self.n_users) > 0


def _user_codes(user: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The distinct users in order and each row's index among them (np.unique's answer),
    by counting when ids are small non-negative numbers, as Locust's and wrk's are."""
    if len(user) and int(user.min()) >= 0 and int(user.max()) < 4 * len(user) + 1024:
        present = np.bincount(user) > 0
        index = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(np.int64), index[user]
    users, codes = np.unique(user, return_inverse=True)
    return users, codes.astype(np.int64)


def _first_index(codes: NDArray[np.int64], n_codes: int) -> NDArray[np.int64]:
    """Each code's first position in codes (len(codes) where absent): np.unique's
    return_index without its sort, which is most of a judgement's time on millions of rows."""
    first = np.full(n_codes, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    return first


def _last_index(codes: NDArray[np.int64], n_codes: int) -> NDArray[np.int64]:
    """Each code's last position in codes (-1 where absent)."""
    last = np.full(n_codes, -1, dtype=np.int64)
    np.maximum.at(last, codes, np.arange(len(codes), dtype=np.int64))
    return last


def _in_first_order(first: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    """The codes present (first position below size), in order of their first position."""
    present = np.flatnonzero(first < size)
    return present[np.argsort(first[present])]


def _by_user(c: _Columns, rows: NDArray[np.int64]) -> NDArray[np.int64]:
    """rows in user order, each user's in time order: a stable sort on the smallest integer
    type that holds the user codes (numpy sorts 16-bit keys by radix, in linear time)."""
    key = c.ucode[rows]
    if c.n_users <= np.iinfo(np.uint16).max:
        key = key.astype(np.uint16)
    return rows[np.argsort(key, kind="stable")]


def _first_by_user(c: _Columns, rows: NDArray[np.int64]) -> dict[int, int]:
    """Each user's first row among rows (in time order), in order of those first rows."""
    if not rows.size:
        return {}
    first = _first_index(c.ucode[rows], c.n_users)
    codes = _in_first_order(first, rows.size)
    return dict(zip(codes.tolist(), rows[first[codes]].tolist(), strict=True))


def _fates(c: _Columns, rows: NDArray[np.int64], codes: Iterable[int]) -> dict[int, str]:
    """_fault_fate of each of these users from its rows (a user without rows: unanswered)."""
    lost, data = c.any_by_user(rows, c.lost), c.any_by_user(rows, c.data)
    answered, replayed = c.any_by_user(rows, c.answered), c.any_by_user(rows, c.replayed)
    fates = {}
    for code in codes:
        if lost[code]:
            fate = o.LOST
        elif data[code]:
            fate = o.DATA
        elif not answered[code]:
            fate = o.UNANSWERED
        elif replayed[code]:
            fate = o.REPLAY
        else:
            fate = o.KEPT_FATE
        fates[code] = fate
    return fates


def _good_before(c: _Columns, at_s: float) -> dict[int, int]:
    """Each user (code) with a good reply before at_s and the node code of its last one,
    in order of their first good reply."""
    rows = np.flatnonzero(c.good[: c.cut(at_s)])
    if not rows.size:
        return {}
    users = c.ucode[rows]
    codes = _in_first_order(_first_index(users, c.n_users), rows.size)
    last = rows[_last_index(users, c.n_users)[codes]]
    return dict(zip(codes.tolist(), c.node[last].tolist(), strict=True))


def _judged_mask(c: _Columns, codes: Iterable[int]) -> NDArray[np.bool_]:
    judged = np.zeros(c.n_users, dtype=bool)
    judged[np.fromiter(codes, dtype=np.int64)] = True
    return judged


def _recovery(c: _Columns, lo: int, hi: int, fates: dict[int, str], at_s: float) -> float:
    """judgement._recovery on the rows [lo, hi)."""
    if any(f == o.UNANSWERED for f in fates.values()):
        return math.inf
    failures = np.flatnonzero(c.failed[lo:hi]) + lo
    recovery = 0.0
    if failures.size:
        last = c.t[failures].max()
        rows = np.arange(lo, hi)
        after = rows[(c.t[lo:hi] > last) & c.good[lo:hi]]
        if not after.size:
            return math.inf
        recovery = float(c.t[after].min() - at_s)
    waits = _waits_to_answer(c, lo, hi, fates, at_s)
    return round(max([recovery, *waits]), 3)


def _waits_to_answer(
    c: _Columns, lo: int, hi: int, fates: dict[int, str], at_s: float
) -> list[float]:
    """Per judged user with a request in the window: its time in the cluster up to and
    including its first answer in session."""
    if not fates:
        return []
    rows = np.arange(lo, hi)
    rows = rows[_judged_mask(c, fates)[c.ucode[rows]]]
    if not rows.size:
        return []
    users = c.ucode[rows]
    first_answer = np.full(c.n_users, np.iinfo(np.int64).max, dtype=np.int64)
    answered = rows[c.answered[rows]]
    np.minimum.at(first_answer, c.ucode[answered], answered)
    counted = rows <= first_answer[users]
    rows, users = rows[counted], users[counted]
    weights = np.minimum(c.wait[rows], c.t[rows] - at_s)
    sums = np.bincount(users, weights=weights, minlength=c.n_users)
    present = np.flatnonzero(np.bincount(users, minlength=c.n_users))
    return [float(v) for v in sums[present]]


def _longest_wait(c: _Columns, codes: Iterable[int], at_s: float, until_s: float) -> float | None:
    """judgement._longest_wait: the longest run of a user's requests (errors adding up,
    any reply ending it) from at_s, of requests sent before until_s."""
    codes = list(codes)
    if not codes:
        return None
    t, wait = c.t, c.wait
    keep = _judged_mask(c, codes)[c.ucode] & (t >= at_s) & ~(t - wait >= until_s)
    rows = np.flatnonzero(keep)
    if not rows.size:
        return 0.0
    rows = _by_user(c, rows)
    weights = np.minimum(wait[rows], t[rows] - at_s)
    if (weights < 0).any():
        return _longest_wait_by_row(c, rows, weights)
    users = c.ucode[rows]
    # A new stretch starts at a user's first row and after each of its replies; sums of
    # non-negative waits only grow, so each stretch's longest is its total.
    starts = np.ones(rows.size, dtype=bool)
    starts[1:] = (users[1:] != users[:-1]) | ~c.error[rows[:-1]]
    stretch = np.cumsum(starts) - 1
    totals = np.bincount(stretch, weights=weights)
    return round(max(0.0, float(totals.max())), 3)


def _longest_wait_by_row(
    c: _Columns, rows: NDArray[np.int64], weights: NDArray[np.float64]
) -> float:
    """The same walk, row by row, for the odd run with a negative latency."""
    waiting: dict[int, float] = {}
    longest = 0.0
    for row, weight in zip(rows.tolist(), weights.tolist(), strict=True):
        user = int(c.ucode[row])
        waiting[user] = waiting.get(user, 0.0) + weight
        longest = max(longest, waiting[user])
        if not c.error[row]:
            waiting[user] = 0.0
    return round(longest, 3)


def _user_dict(c: _Columns, by_code: dict[int, Any]) -> dict[int, Any]:
    users = c.users
    return {int(users[code]): value for code, value in by_code.items()}


def _judge_window(c: _Columns, plan: Window) -> Window:
    lo, hi = c.cut(plan.at_s), c.cut(plan.until_s)
    inside = np.arange(lo, hi)
    good_before = _good_before(c, plan.at_s) if plan.delivered else {}
    fates = _fates(c, inside, good_before)
    has_name = np.array([bool(name) for name in c.node_names] or [False], dtype=bool)
    named = inside[has_name[c.node[inside]]]
    first_named = _first_by_user(c, named)
    first_any = _first_by_user(c, inside)
    nodes_after = {
        code: c.node_names[c.node[first_named[code]]]
        for code in first_any
        if code in good_before and code in first_named
    }
    return replace(
        plan,
        fates=_user_dict(c, fates),
        nodes=_user_dict(c, {u: c.node_names[n] for u, n in good_before.items()}),
        nodes_after=_user_dict(c, nodes_after),
        requests=hi - lo,
        errors=int(c.error[lo:hi].sum()),
        failed=int(c.failed[lo:hi].sum()),
        recovery_s=_recovery(c, lo, hi, fates, plan.at_s) if plan.delivered else None,
        longest_wait_s=_longest_wait(c, fates, plan.at_s, plan.until_s),
    )


def _control(c: _Columns, until_s: float) -> Window:
    hi = c.cut(until_s)
    rows = np.arange(hi)
    starts = _first_by_user(c, rows[~c.error[:hi]])
    start_of = np.full(c.n_users, np.iinfo(np.int64).max, dtype=np.int64)
    if starts:
        start_of[list(starts)] = list(starts.values())
    begin = start_of[c.ucode[:hi]]
    # A user's rows after its first reply, and that reply itself unless it was "new".
    mine = rows[(rows > begin) | ((rows == begin) & ~c.new[:hi])]
    has_rows = np.bincount(c.ucode[mine], minlength=c.n_users) > 0
    judged = _fates(c, mine, starts)
    fates = {code: fate if has_rows[code] else o.KEPT_FATE for code, fate in judged.items()}
    return Window(
        kind="control",
        label="no fault" if math.isinf(until_s) else "before the first fault",
        at_s=0.0,
        until_s=until_s,
        fates=_user_dict(c, fates),
        nodes=_user_dict(c, {u: c.node_names[n] for u, n in _good_before(c, until_s).items()}),
        requests=hi,
        errors=int(c.error[:hi].sum()),
        failed=int(c.failed[:hi].sum()),
        longest_wait_s=_longest_wait(c, fates, 0.0, until_s),
    )


def judge_columns(requests: Requests, faults: Iterable[dict[str, Any]]) -> Judgement:
    """judgement.judge, on columns."""
    c = _Columns.of(sorted_by_time(requests))
    planned = _planned(_fault_events(faults))
    starts = sorted(w.at_s for w in planned if w.delivered)
    windows = []
    for plan in planned:
        later = [t for t in starts if t > plan.at_s]
        bounded = replace(plan, until_s=later[0] if later else math.inf)
        windows.append(_judge_window(c, bounded))
    control = _control(c, starts[0] if starts else math.inf)
    fates: dict[int, list[str]] = {u: [f] for u, f in control.fates.items()}
    for window in windows:
        for user, fate in window.fates.items():
            fates.setdefault(user, []).append(fate)
    # A user that asked and was never answered at all, in the whole run, is judged too.
    answered = np.bincount(c.ucode[~c.error], minlength=c.n_users) > 0
    for user in c.users[~answered].tolist():
        fates.setdefault(int(user), []).append(o.UNANSWERED)
    return Judgement(
        control=control,
        windows=tuple(windows),
        fates={u: o.worst(fs) for u, fs in sorted(fates.items())},
    )


# --------------------------------------------------------------------------- one fault


def impact_columns(requests: Requests, window: Window, event: dict[str, Any]) -> dict[str, Any]:
    """impact.fault_impact on columns: its grouping of users (which needs no records),
    then the numbers it reads from the records, computed here."""
    out = fault_impact([], window, event)
    ordered = sorted_by_time(requests)
    c = _Columns.of(ordered)
    parts = _parts(event, window)
    on_target = {u for u, n in window.nodes.items() if n in parts}
    last_t = float(requests.t_s[-1]) if len(requests) else window.at_s
    out["longest_wait_on_target_s"] = _gap_without_reply(c, on_target, window, last_t)
    lo, hi = c.cut(window.at_s), c.cut(window.until_s)
    errors = np.flatnonzero(c.error[lo:hi]) + lo
    out["requests_in_window"] = hi - lo
    out["errors_in_window"] = int(errors.size)
    t, wait = c.t, c.wait
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


def _gap_without_reply(c: _Columns, users: set[int], window: Window, last_t: float) -> float | None:
    """impact._longest_wait: per user, the longest gap between replies that ends after the
    fault, or from its last reply before the fault to the end when none came after it."""
    if not users:
        return None
    # Every judged user has records, so each id is found among the run's users.
    codes = np.searchsorted(c.users, np.fromiter(users, dtype=np.int64))
    judged = np.zeros(c.n_users, dtype=bool)
    judged[codes] = True
    rows = np.flatnonzero(judged[c.ucode] & ~c.error & (c.t < window.until_s))
    if not rows.size:
        return None
    rows = _by_user(c, rows)
    users_of, times = c.ucode[rows], c.t[rows]
    same = users_of[1:] == users_of[:-1]
    gaps = (times[1:] - times[:-1])[same & (times[1:] >= window.at_s)]
    end = min(window.until_s, last_t)
    after = np.bincount(users_of[times >= window.at_s], minlength=c.n_users) > 0
    last_before = np.full(c.n_users, math.nan)
    earlier = np.flatnonzero(times < window.at_s)
    if earlier.size:
        codes, from_end = np.unique(users_of[earlier][::-1], return_index=True)
        last_before[codes] = times[earlier[earlier.size - 1 - from_end]]
    silent = ~after & ~np.isnan(last_before)
    candidates = [*gaps.tolist(), *(end - last_before[silent]).tolist()]
    return round(max(candidates), 3) if candidates else None
