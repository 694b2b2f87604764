"""The judgement of results/judgement.py computed on columns, batch by batch: the same
windows, fates, waits and recovery, from batches of rows in time order, with what each
rule needs of a user carried from one batch to the next.

judgement.py is the definition (its docstring has the rules; its row-by-row code is what
the tests hold this module to). This is the judgement the harness runs: judge_columns on
a whole table (summarize, a session run, compare of a file read whole), BatchJudge on a
run of 100M requests in the memory of one batch (compare). Per user it keeps a few
numbers (its first good reply, the node of its last, a flag per outcome seen in each
window, its running waits), so memory grows with users, not with requests. Every float is
summed in the same order as there (a user's waits in row order, the sum carried into the
next batch as its first term), so the numbers are equal, not merely close; the tests hold
them equal on randomised runs, whole and down to one row a batch.

Each rule is applied for every user and the judged ones picked at the end: who a window
judges (a good reply before it) is known when the window starts, but who the control
judges (any reply before the first fault) only when it ends, and a user's own numbers do
not depend on who else is judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.results import outcomes as o
from harness.results.judgement import (
    ANSWERED_IN_SESSION,
    Judgement,
    Unfinished,
    Window,
    _fault_events,
    _planned,
    _unless_cut_off,
    hung_alone,
    hung_at_stop,
)
from harness.results.requests import Requests, sorted_by_time

if TYPE_CHECKING:
    from numpy.typing import NDArray


_NONE = np.iinfo(np.int64).max  # "no row yet" in a per-user row index
# User ids below this are looked up in a table indexed by id (Locust's and wrk's are
# small numbers); others by a search among the ids seen.
_TABLE_IDS = 1 << 22
# Each row's outcome as a small number, its kind; one more for an outcome no rule names.
_KINDS = (o.NEW, o.KEPT, o.REPLAYED, o.DATA_LOST, o.SESSION_LOST, o.ERROR)
_OTHER = len(_KINDS)
_N_KINDS = _OTHER + 1
_ERROR, _NEW = _KINDS.index(o.ERROR), _KINDS.index(o.NEW)
_LOST, _DATA = _KINDS.index(o.SESSION_LOST), _KINDS.index(o.DATA_LOST)
_REPLAYED = _KINDS.index(o.REPLAYED)


def _kinds_in(outcomes: Iterable[str]) -> NDArray[np.bool_]:
    """Which kinds are among these outcomes (a row's flag is this, indexed by its kind)."""
    wanted = set(outcomes)
    return np.asarray([k in wanted for k in _KINDS] + [False], dtype=bool)


_GOOD = _kinds_in(o.GOOD)
_ANSWERED = _kinds_in(ANSWERED_IN_SESSION)
_FAILED = _kinds_in(o.FAILED)


def _grown(values: NDArray[Any], size: int, fill: object) -> NDArray[Any]:
    """values lengthened to size with fill (the same array when long enough)."""
    if len(values) >= size:
        return values
    more = np.full(size - len(values), fill, dtype=values.dtype)
    return np.concatenate([values, more])


class _Users:
    """Dense codes for user ids, in order of first appearance, stable across batches."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)  # code -> id
        self._table = np.zeros(0, dtype=np.int64)  # id -> code + 1 (0: not seen)
        self._sorted = np.zeros(0, dtype=np.int64)  # ids in order, for large ids
        self._sorted_codes = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def codes(self, user: NDArray[np.int64]) -> NDArray[np.int64]:
        if not len(user):
            return np.zeros(0, dtype=np.int64)
        small = int(user.min()) >= 0 and int(user.max()) < _TABLE_IDS
        codes = self._lookup(user, small)
        unseen = codes < 0
        if unseen.any():
            self._add(user[unseen])
            codes = self._lookup(user, small)
        return codes

    def _lookup(self, user: NDArray[np.int64], small: bool) -> NDArray[np.int64]:
        if small:
            self._table = _grown(self._table, int(user.max()) + 1, 0)
            return self._table[user] - 1
        if not len(self._sorted):
            return np.full(len(user), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, user), len(self._sorted) - 1)
        return np.where(self._sorted[at] == user, self._sorted_codes[at], -1)

    def _add(self, new: NDArray[np.int64]) -> None:
        ids, first = np.unique(new, return_index=True)
        ids = ids[np.argsort(first)]  # first appearance first
        codes = np.arange(len(self.ids), len(self.ids) + len(ids), dtype=np.int64)
        self.ids = np.concatenate([self.ids, ids])
        small = ids[(ids >= 0) & (ids < _TABLE_IDS)]
        if len(small):
            self._table = _grown(self._table, int(small.max()) + 1, 0)
            self._table[small] = codes[(ids >= 0) & (ids < _TABLE_IDS)] + 1
        order = np.argsort(self.ids)
        self._sorted, self._sorted_codes = self.ids[order], order.astype(np.int64)


class _Names:
    """Dense codes for node names across batches (each batch has its own dictionary)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._code: dict[str, int] = {}

    def codes(self, names: tuple[str, ...]) -> NDArray[np.int32]:
        for name in names:
            if name not in self._code:
                self._code[name] = len(self.names)
                self.names.append(name)
        return np.asarray([self._code[n] for n in names] or [0], dtype=np.int32)

    def named(self) -> NDArray[np.bool_]:
        return np.asarray([bool(n) for n in self.names] or [False], dtype=bool)


class _Rows:
    """One batch as the judgement reads it: users and nodes as codes stable across
    batches, outcomes as kinds (each flag computed when first asked for), and the index
    of its first row among all rows."""

    def __init__(
        self,
        *,
        t: NDArray[np.float64],
        wait: NDArray[np.float64],
        ucode: NDArray[np.int64],
        node: NDArray[np.int32],
        kind: NDArray[np.uint8],
        offset: int,
    ) -> None:
        self.t, self.wait, self.ucode, self.node = t, wait, ucode, node  # wait: latency in s
        self.kind, self.offset = kind, offset

    def __len__(self) -> int:
        return len(self.t)

    @cached_property
    def error(self) -> NDArray[np.bool_]:
        return np.equal(self.kind, _ERROR)

    @cached_property
    def good(self) -> NDArray[np.bool_]:
        return _GOOD[self.kind]

    @cached_property
    def answered(self) -> NDArray[np.bool_]:
        return _ANSWERED[self.kind]

    @cached_property
    def failed(self) -> NDArray[np.bool_]:
        return _FAILED[self.kind]

    def cut(self, at_s: float) -> int:
        """The first row at or after at_s."""
        return int(np.searchsorted(self.t, at_s, side="left"))


def _first_positions(codes: NDArray[np.int64], n_users: int) -> NDArray[np.int64]:
    """Each code's first position in codes (_NONE where absent)."""
    first = np.full(n_users, _NONE, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    return first


def _set_firsts(
    first_row: NDArray[np.int64], codes: NDArray[np.int64], rows: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Each user without a first row yet gets its first among rows (codes: their users);
    the users that got one. Most batches have none to give: a look-up tells."""
    without = first_row == _NONE
    if not without.any():
        return np.zeros(0, dtype=np.int64)
    lacking = np.flatnonzero(without[codes])
    if not lacking.size:
        return lacking
    first = _first_positions(codes[lacking], len(first_row))
    users = np.flatnonzero(first != _NONE)
    first_row[users] = rows[lacking[first[users]]]
    return users


class _Fates:
    """Which kinds of outcome each user's rows showed, in a window: its fate by
    _fault_fate."""

    def __init__(self) -> None:
        self.seen = np.zeros((0, _N_KINDS), dtype=bool)

    def grow(self, n_users: int) -> None:
        if len(self.seen) < n_users:
            more = np.zeros((n_users - len(self.seen), _N_KINDS), dtype=bool)
            self.seen = np.concatenate([self.seen, more])

    def add(self, ucode: NDArray[np.int64], kind: NDArray[np.uint8]) -> None:
        if not len(ucode):
            return
        n_users = len(self.seen)
        # One count of (user, kind) pairs: every flag of every user at once.
        pairs = np.bincount(ucode * _N_KINDS + kind, minlength=n_users * _N_KINDS)
        self.seen |= pairs.reshape(n_users, _N_KINDS) > 0

    def has_rows(self, code: int) -> bool:
        return bool(self.seen[code].any())

    def fate(self, code: int) -> str:
        seen = self.seen[code]
        if seen[_LOST]:
            return o.LOST
        if seen[_DATA]:
            return o.DATA
        if not (seen & _ANSWERED).any():
            return o.UNANSWERED
        if seen[_REPLAYED]:
            return o.REPLAY
        return o.KEPT_FATE


class _CutOff:
    """judgement._cut_off as rows go by: each user's last kind of row inside the window,
    and the kind of its first reply (an error is none) at or after the window's end."""

    def __init__(self, at_s: float, until_s: float) -> None:
        self.at_s, self.until_s = at_s, until_s
        self.last = np.zeros(0, dtype=np.int16)  # -1: no row inside yet
        self.next_row = np.zeros(0, dtype=np.int64)
        self.next_kind = np.zeros(0, dtype=np.int16)  # -1: no reply after it yet

    def grow(self, n_users: int) -> None:
        self.last = _grown(self.last, n_users, -1)
        self.next_row = _grown(self.next_row, n_users, _NONE)
        self.next_kind = _grown(self.next_kind, n_users, -1)

    def add(self, rows: _Rows) -> None:
        lo, hi = rows.cut(self.at_s), rows.cut(self.until_s)
        if hi > lo:
            # Each user's last row inside: its first in reverse.
            from_end = _first_positions(rows.ucode[lo:hi][::-1], len(self.last))
            seen = np.flatnonzero(from_end != _NONE)
            self.last[seen] = rows.kind[hi - 1 - from_end[seen]]
        if hi < len(rows):
            replies = hi + np.flatnonzero(~rows.error[hi:])
            users = _set_firsts(self.next_row, rows.ucode[replies], rows.offset + replies)
            self.next_kind[users] = rows.kind[self.next_row[users] - rows.offset]

    def users(self) -> set[int]:
        """The codes of the users cut off."""
        replied = self.next_kind >= 0
        answered = np.zeros(len(self.next_kind), dtype=bool)
        answered[replied] = _ANSWERED[self.next_kind[replied]]
        return set(np.flatnonzero((self.last == _ERROR) & ~answered).tolist())


class _LongestWait:
    """judgement._longest_wait for every user: the longest run of its requests' waits
    (errors adding up, any reply ending it) from at_s, of requests sent before until_s.
    Per user: the sum of its open run, carried across batches, and its longest so far."""

    def __init__(self, at_s: float, until_s: float) -> None:
        self.at_s, self.until_s = at_s, until_s
        self.open = np.zeros(0, dtype=np.float64)
        self.longest = np.zeros(0, dtype=np.float64)
        self.last_seen = np.zeros(0, dtype=np.float64)  # each user's last counted row
        self.run_last_t: float | None = None  # the run's last row so far

    def grow(self, n_users: int) -> None:
        self.open = _grown(self.open, n_users, 0.0)
        self.longest = _grown(self.longest, n_users, 0.0)
        self.last_seen = _grown(self.last_seen, n_users, math.nan)

    def add(self, rows: _Rows) -> None:
        if len(rows.t):
            self.run_last_t = float(rows.t[-1])
        lo = rows.cut(self.at_s)
        t, wait = rows.t[lo:], rows.wait[lo:]
        kept = ~(t - wait >= self.until_s)
        users, error = rows.ucode[lo:], rows.error[lo:]
        weights = np.minimum(wait, t - self.at_s)
        if not kept.all():  # past the window's end: only requests sent before it
            users, error, weights, t = users[kept], error[kept], weights[kept], t[kept]
        if not len(users):
            return
        # Each user's rows together, in time order (a radix sort on small codes).
        key = users.astype(np.uint16) if len(self.open) <= np.iinfo(np.uint16).max else users
        order = np.argsort(key, kind="stable")
        users, weights, error = users[order], weights[order], error[order]
        ends = np.append(users[1:] != users[:-1], True)
        self.last_seen[users[ends]] = t[order][ends]
        if (weights < 0).any():
            self._add_by_row(users, weights, error)
        else:
            self._add_runs(users, weights, error)

    def _add_runs(
        self, users: NDArray[np.int64], weights: NDArray[np.float64], error: NDArray[np.bool_]
    ) -> None:
        """Non-negative waits: a run's longest is its total (sums of non-negative floats
        only grow). A run a user carried from the last batch is summed on from its sum."""
        first = np.ones(len(users), dtype=bool)
        first[1:] = users[1:] != users[:-1]
        starts = first.copy()
        starts[1:] |= ~error[:-1]
        run = np.cumsum(starts) - 1
        totals = np.bincount(run, weights=weights)
        at = np.flatnonzero(first)
        ends = np.append(np.flatnonzero(starts)[1:], len(users))
        for i in np.flatnonzero(self.open[users[at]]).tolist():
            # Few: only users whose last request was an error. Summed in row order.
            waited = float(self.open[users[at[i]]])
            for weight in weights[at[i] : ends[run[at[i]]]].tolist():
                waited += weight
            totals[run[at[i]]] = waited
        # Runs are grouped by user: each user's longest is the largest of its runs.
        self.longest[users[at]] = np.maximum(
            self.longest[users[at]], np.maximum.reduceat(totals, run[at])
        )
        last = np.append(at[1:], len(users)) - 1
        self.open[users[at]] = np.where(error[last], totals[run[last]], 0.0)

    def _add_by_row(
        self, users: NDArray[np.int64], weights: NDArray[np.float64], error: NDArray[np.bool_]
    ) -> None:
        """The same walk, row by row, for the odd batch with a negative latency."""
        rows = zip(users.tolist(), weights.tolist(), error.tolist(), strict=True)
        for user, weight, failed in rows:
            waited = float(self.open[user]) + weight
            self.longest[user] = max(float(self.longest[user]), waited)
            self.open[user] = waited if failed else 0.0

    def of(
        self,
        fates: dict[int, str],
        unfinished: Sequence[tuple[int, float, float]] = (),
        stopped_s: float | None = None,
    ) -> float | None:
        """The longest wait of the judged users (fates by code), with the open wait of
        those unanswered and of the requests unfinished at the load's stop (code, sent_s,
        stopped_s; stopped_s alone the latest of all), as judgement._longest_wait counts
        it."""
        if not fates:
            return None
        longest = max(0.0, float(self.longest[list(fates)].max()))
        for code, sent_s, stop_s in unfinished:
            if code in fates and sent_s < self.until_s and stop_s > self.at_s:
                open_s = stop_s - max(sent_s, self.at_s)
                longest = max(longest, float(self.open[code]) + open_s)
        ends = [t for t in (stopped_s, self.run_last_t) if t is not None]
        end = min(self.until_s, max(ends, default=self.at_s))
        for code in (c for c, fate in fates.items() if fate == o.UNANSWERED):
            seen = float(self.last_seen[code])
            since = self.at_s if math.isnan(seen) else max(self.at_s, seen)
            longest = max(longest, float(self.open[code]) + max(0.0, end - since))
        return round(longest, 3)


class _Window:
    """A fault's or restore's window, judged as its rows go by."""

    def __init__(self, plan: Window) -> None:
        self.plan = plan
        self.fates = _Fates()
        self.first_row = np.zeros(0, dtype=np.int64)  # each user's first row inside
        self.first_named = np.zeros(0, dtype=np.int64)  # its first with a node named
        self.first_node = np.zeros(0, dtype=np.int32)  # that row's node
        self.requests = self.errors = self.failed = 0
        self.last_failure_t: float | None = None
        self.good_after_t: float | None = None  # first good reply after the last failure
        # Per user: its time in the cluster up to its first answer inside, whether it
        # has a row inside, and whether that answer came.
        self.waited = np.zeros(0, dtype=np.float64)
        self.has_waited = np.zeros(0, dtype=bool)
        self.answered = np.zeros(0, dtype=bool)
        self.longest = _LongestWait(plan.at_s, plan.until_s)
        self.cut_off = _CutOff(plan.at_s, plan.until_s)

    def grow(self, n_users: int) -> None:
        self.fates.grow(n_users)
        self.cut_off.grow(n_users)
        self.first_row = _grown(self.first_row, n_users, _NONE)
        self.first_named = _grown(self.first_named, n_users, _NONE)
        self.first_node = _grown(self.first_node, n_users, -1)
        self.waited = _grown(self.waited, n_users, 0.0)
        self.has_waited = _grown(self.has_waited, n_users, False)
        self.answered = _grown(self.answered, n_users, False)
        self.longest.grow(n_users)

    def add(self, rows: _Rows, named: NDArray[np.bool_]) -> None:
        lo, hi = rows.cut(self.plan.at_s), rows.cut(self.plan.until_s)
        if hi > lo:
            inside = slice(lo, hi)
            self.requests += hi - lo
            self.errors += int(rows.error[inside].sum())
            self.failed += int(rows.failed[inside].sum())
            self.fates.add(rows.ucode[inside], rows.kind[inside])
            self._firsts(rows, lo, hi, named)
            if self.plan.delivered:
                self._recovery(rows, lo, hi)
                self._waits(rows, lo, hi)
        self.longest.add(rows)
        self.cut_off.add(rows)

    def _firsts(self, rows: _Rows, lo: int, hi: int, named: NDArray[np.bool_]) -> None:
        index = rows.offset + np.arange(lo, hi, dtype=np.int64)
        _set_firsts(self.first_row, rows.ucode[lo:hi], index)
        if not (self.first_named == _NONE).any():
            return
        with_name = np.flatnonzero(named[rows.node[lo:hi]])
        users = _set_firsts(self.first_named, rows.ucode[lo + with_name], index[with_name])
        self.first_node[users] = rows.node[self.first_named[users] - rows.offset]

    def _recovery(self, rows: _Rows, lo: int, hi: int) -> None:
        """The time of the last failure and of the first good reply after it."""
        failures = np.flatnonzero(rows.failed[lo:hi])
        if failures.size:
            self.last_failure_t = float(rows.t[lo + failures[-1]])
            self.good_after_t = None
        if self.last_failure_t is None or self.good_after_t is not None:
            return
        later = np.flatnonzero(rows.good[lo:hi] & (rows.t[lo:hi] > self.last_failure_t))
        if later.size:
            self.good_after_t = float(rows.t[lo + later[0]])

    def _waits(self, rows: _Rows, lo: int, hi: int) -> None:
        """_waits_to_answer: each user's time in the cluster up to and including its
        first answer in session, summed in row order across batches."""
        n_users = len(self.answered)
        if self.answered.all():
            return
        codes = rows.ucode[lo:hi]
        active = ~self.answered[codes]
        if not active.any():
            return
        answers = np.flatnonzero(active & rows.answered[lo:hi])
        first_answer = np.full(n_users, _NONE, dtype=np.int64)
        np.minimum.at(first_answer, codes[answers], answers)
        counted = np.flatnonzero(active & (np.arange(hi - lo) <= first_answer[codes]))
        users = codes[counted]
        weights = np.minimum(rows.wait[lo:hi][counted], rows.t[lo:hi][counted] - self.plan.at_s)
        # A user's sum so far goes in first, so its waits add up in row order.
        carried = np.flatnonzero(self.has_waited & ~self.answered)
        sums = np.bincount(
            np.concatenate([carried, users]),
            weights=np.concatenate([self.waited[carried], weights]),
            minlength=n_users,
        )
        touched = np.zeros(n_users, dtype=bool)
        touched[carried] = True
        touched[users] = True
        self.waited[touched] = sums[touched]
        self.has_waited |= touched
        self.answered |= first_answer != _NONE

    def recovery_s(self, fates: dict[int, str]) -> float | None:
        """judgement._recovery from what was kept."""
        if not fates:
            return None
        if any(f == o.UNANSWERED for f in fates.values()):
            return math.inf
        recovery = 0.0
        if self.last_failure_t is not None:
            if self.good_after_t is None:
                return math.inf
            recovery = self.good_after_t - self.plan.at_s
        judged = np.zeros(len(self.waited), dtype=bool)
        judged[list(fates)] = True
        waits: list[float] = self.waited[judged & self.has_waited].tolist()
        return round(max([recovery, *waits]), 3)


class _Control:
    """The control window (before the first fault), judged as its rows go by."""

    def __init__(self, until_s: float) -> None:
        self.until_s = until_s
        self.start = np.zeros(0, dtype=np.int64)  # each user's first reply (any session)
        self.fates = _Fates()
        self.requests = self.errors = self.failed = 0
        self.longest = _LongestWait(0.0, until_s)
        self.cut_off = _CutOff(0.0, until_s)

    def grow(self, n_users: int) -> None:
        self.start = _grown(self.start, n_users, _NONE)
        self.fates.grow(n_users)
        self.cut_off.grow(n_users)
        self.longest.grow(n_users)

    def add(self, rows: _Rows) -> None:
        hi = rows.cut(self.until_s)
        if hi:
            self.requests += hi
            self.errors += int(rows.error[:hi].sum())
            self.failed += int(rows.failed[:hi].sum())
            replies = np.flatnonzero(~rows.error[:hi])
            _set_firsts(self.start, rows.ucode[replies], rows.offset + replies)
            # A user's rows after its first reply, and that reply itself unless "new".
            begin = self.start[rows.ucode[:hi]]
            if bool((begin < rows.offset).all()):  # all started before: every row counts
                self.fates.add(rows.ucode[:hi], rows.kind[:hi])
            else:
                index = rows.offset + np.arange(hi, dtype=np.int64)
                mine = (index > begin) | ((index == begin) & (rows.kind[:hi] != _NEW))
                self.fates.add(rows.ucode[:hi][mine], rows.kind[:hi][mine])
        self.longest.add(rows)
        self.cut_off.add(rows)


class _GoodReplies:
    """Each user's first good reply (row) and the node of its last, as rows go by; kept
    as they were at each time asked for (where a window starts). Once all are kept, no
    more is needed."""

    def __init__(self, times: Iterable[float]) -> None:
        self.first = np.zeros(0, dtype=np.int64)
        self.node = np.zeros(0, dtype=np.int32)
        self._due = sorted(set(times))
        self.taken: dict[float, tuple[NDArray[np.int64], NDArray[np.int32]]] = {}

    def grow(self, n_users: int) -> None:
        self.first = _grown(self.first, n_users, _NONE)
        self.node = _grown(self.node, n_users, -1)

    def add(self, rows: _Rows) -> None:
        done = 0
        while self._due and len(rows) and rows.t[-1] >= self._due[0]:
            at = self._due.pop(0)
            cut = rows.cut(at)
            self._update(rows, done, cut)
            done = cut
            self.taken[at] = (self.first.copy(), self.node.copy())
        if self._due:
            self._update(rows, done, len(rows))

    def _update(self, rows: _Rows, lo: int, hi: int) -> None:
        good = lo + np.flatnonzero(rows.good[lo:hi])
        if not good.size:
            return
        codes = rows.ucode[good]
        _set_firsts(self.first, codes, rows.offset + good)
        # Each user's last good row: the first in reverse.
        last = _first_positions(codes[::-1], len(self.first))
        seen = np.flatnonzero(last != _NONE)
        self.node[seen] = rows.node[good[len(good) - 1 - last[seen]]]

    def at(self, at_s: float) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
        """The users with a good reply before at_s (in order of their first) and the
        node code of each one's last."""
        first, node = self.taken.get(at_s, (self.first, self.node))
        users = np.flatnonzero(first != _NONE)
        users = users[np.argsort(first[users], kind="stable")]
        return users, node[users]


def judge_columns(
    requests: Requests,
    faults: Iterable[dict[str, Any]],
    unfinished: Sequence[Unfinished] = (),
) -> Judgement:
    """judgement.judge on a whole table: one batch, in time order."""
    judge = BatchJudge(faults, unfinished)
    judge.add(sorted_by_time(requests), 0)
    return judge.judgement()


class BatchJudge:
    """The judgement from the requests' batches in time order: add each batch (with the
    index of its first row), then take the judgement. The requests unfinished at the load's
    stop (run.json's unfinished_requests) are known before the first batch."""

    def __init__(
        self, faults: Iterable[dict[str, Any]], unfinished: Sequence[Unfinished] = ()
    ) -> None:
        self.unfinished = tuple(unfinished)
        self.open_requests: list[tuple[int, float, float]] = []  # by code, once judged
        self.stopped_s: float | None = None
        planned = _planned(_fault_events(faults))
        starts = sorted(w.at_s for w in planned if w.delivered)
        self.windows = []
        for plan in planned:
            later = [t for t in starts if t > plan.at_s]
            self.windows.append(_Window(replace(plan, until_s=later[0] if later else math.inf)))
        self.control = _Control(starts[0] if starts else math.inf)
        self.users = _Users()
        self.nodes = _Names()
        self.good = _GoodReplies([*starts, self.control.until_s])
        self.replied = np.zeros(0, dtype=bool)

    def add(self, requests: Requests, offset: int) -> None:
        rows = self._rows(requests, offset)
        n_users = len(self.users)
        named = self.nodes.named()
        self.good.grow(n_users)
        self.control.grow(n_users)
        for window in self.windows:
            window.grow(n_users)
        self.replied = _grown(self.replied, n_users, False)
        lacking = ~self.replied[rows.ucode]
        if lacking.any():  # after the first batches, every user here has had a reply
            replies = rows.ucode[lacking & ~rows.error]
            self.replied |= np.bincount(replies, minlength=n_users) > 0
        self.good.add(rows)
        self.control.add(rows)
        for window in self.windows:
            window.add(rows, named)

    def _rows(self, requests: Requests, offset: int) -> _Rows:
        outcome = requests.outcome
        node = requests.node
        kinds = [_KINDS.index(name) if name in _KINDS else _OTHER for name in outcome.names]
        return _Rows(
            t=requests.t_s,
            wait=requests.latency_ms / 1000,
            ucode=self.users.codes(requests.user),
            node=self.nodes.codes(node.names)[node.codes],
            kind=np.asarray(kinds or [_OTHER], dtype=np.uint8)[outcome.codes],
            offset=offset,
        )

    def judgement(self) -> Judgement:
        code_of = {user: code for code, user in enumerate(self.users.ids.tolist())}
        self.open_requests = [
            (code_of[u.user], u.sent_s, u.stopped_s) for u in self.unfinished if u.user in code_of
        ]
        self.stopped_s = max((u.stopped_s for u in self.unfinished), default=None)
        windows = tuple(self._window(w) for w in self.windows)
        control = self._control()
        fates: dict[int, list[str]] = {u: [f] for u, f in control.fates.items()}
        for window in windows:
            for user, fate in window.fates.items():
                fates.setdefault(user, []).append(fate)
        # A user that asked and was never answered at all, in the whole run, is judged too.
        # So is one whose only request had hung at the stop.
        hung = hung_alone(self.unfinished, code_of.keys())
        for user in [*self.users.ids[~self.replied].tolist(), *hung]:
            fates.setdefault(int(user), []).append(o.UNANSWERED)
        return Judgement(
            control=control,
            windows=windows,
            fates={u: o.worst(fs) for u, fs in sorted(fates.items())},
            users_seen=len(self.users) + len({u.user for u in self.unfinished} - code_of.keys()),
        )

    def _hung(self, at_s: float, until_s: float) -> set[int]:
        """judgement.hung_at_stop, by code (a user without a record is in no window)."""
        hung = [Unfinished(code, sent_s, stop_s) for code, sent_s, stop_s in self.open_requests]
        return hung_at_stop(hung, at_s, until_s)

    def _ids(self, by_code: dict[int, Any]) -> dict[int, Any]:
        ids = self.users.ids
        return {int(ids[code]): value for code, value in by_code.items()}

    def _good_before(self, at_s: float) -> dict[int, str]:
        users, nodes = self.good.at(at_s)
        names = self.nodes.names
        return dict(zip(users.tolist(), [names[n] for n in nodes.tolist()], strict=True))

    def _window(self, state: _Window) -> Window:
        plan = state.plan
        good_before = self._good_before(plan.at_s) if plan.delivered else {}
        fates = {code: state.fates.fate(code) for code in good_before}
        fates = _unless_cut_off(fates, state.cut_off.users() | self._hung(plan.at_s, plan.until_s))
        entered = np.flatnonzero(state.first_row != _NONE)
        entered = entered[np.argsort(state.first_row[entered], kind="stable")]
        names = self.nodes.names
        nodes_after = {
            code: names[state.first_node[code]]
            for code in entered.tolist()
            if code in good_before and state.first_node[code] >= 0
        }
        return replace(
            plan,
            fates=self._ids(fates),
            nodes=self._ids(good_before),
            nodes_after=self._ids(nodes_after),
            requests=state.requests,
            errors=state.errors,
            failed=state.failed,
            recovery_s=state.recovery_s(fates) if plan.delivered else None,
            longest_wait_s=state.longest.of(fates, self.open_requests, self.stopped_s),
        )

    def _control(self) -> Window:
        state = self.control
        started = np.flatnonzero(state.start != _NONE)
        started = started[np.argsort(state.start[started], kind="stable")]
        fates = {
            code: state.fates.fate(code) if state.fates.has_rows(code) else o.KEPT_FATE
            for code in started.tolist()
        }
        fates = _unless_cut_off(fates, state.cut_off.users() | self._hung(0.0, state.until_s))
        until_s = state.until_s
        return Window(
            kind="control",
            label="no fault" if math.isinf(until_s) else "before the first fault",
            at_s=0.0,
            until_s=until_s,
            fates=self._ids(fates),
            nodes=self._ids(self._good_before(until_s)),
            requests=state.requests,
            errors=state.errors,
            failed=state.failed,
            longest_wait_s=state.longest.of(fates, self.open_requests, self.stopped_s),
        )
