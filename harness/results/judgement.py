"""One judgement of every user: what each fault (and each restore) did to each user who
had a good reply before it. The summary, verdicts.json, the fault effects, the report and
compare all read this one result, so they cannot disagree.

The run is cut into windows at each delivered fault and each restore:

  control   from the start to the first fault (the whole run when there is none)
  a fault   from its delivery to the next fault or restore (or the end of the run)
  a restore the same, from the moment the part was started again

In a fault's or restore's window every user with a good reply before it gets exactly one
fate, the first that applies, from the replies that completed inside the window:

  session_lost  a reply with another session id
  data_lost     a reply of the same session whose counter went back
  unanswered    no reply of its session at all: only errors, or requests that never
                completed (a hung node, a request cut off when the run stopped); or
                its replies in the window ended in errors and its next reply, if any,
                was not its session's (cut off: a redeploy still answers in the old
                context until its undeploy is done, and those answers keep nobody)
  replayed      answered, but a request ran twice (a balancer's retry)
  kept          answered, session and counter continued

A user's fate for the run is its worst over all windows; a user that asked and was never
answered at all is unanswered. A user unanswered while a fault lasted and answered in its
session in a later window (after a heal, a restart) stays unanswered in every count, and
its words say "unanswered until" that window, not "never answered again". A fault that
was not delivered judges nobody, and the run says so; it is never "survived".

A kept user may still have waited: each window also records the longest any judged user
waited for a reply (longest_wait_s), counting the requests still in flight when the load
stopped (Unfinished: no record says how they ended, only how long they had waited). A
verdict reads "survives" only when nobody waited STALL_S or more: a partition that holds
every request for nine seconds and then answers them all lost nothing, but its users saw
a frozen page.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from harness.results import outcomes as o


class Request(Protocol):
    """What the judgement reads of a request (a results Record has it all)."""

    @property
    def t_s(self) -> float: ...
    @property
    def user(self) -> int: ...
    @property
    def node(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def status(self) -> int: ...


ANSWERED_IN_SESSION = frozenset({o.KEPT, o.REPLAYED})
# A user kept this long without an answer has noticed: the classic limit of an
# uninterrupted flow of thought in response-time guidance (Nielsen's one second).
STALL_S = 1.0


@dataclass(frozen=True)
class Unfinished:
    """A request still in flight when the load stopped: the generator gave up on it, so no
    record says how it ended, but its user had waited from sent_s to stopped_s (seconds
    from the run's start, as the records' t_s). A request hung on a stopped node until the
    end is one; so are a few of a healthy run's, cut off milliseconds after their send."""

    user: int
    sent_s: float
    stopped_s: float


@dataclass(frozen=True)
class Window:
    """One stretch of the run and the fate of every user judged in it."""

    kind: str  # "control", "fault" or "restore"
    label: str  # "sigkill node1", "start node1", "no fault"
    at_s: float
    until_s: float  # math.inf: to the end of the run
    spec: str | None = None
    target: str | None = None
    delivered: bool = True
    error: str | None = None
    fates: dict[int, str] = field(default_factory=dict)
    nodes: dict[int, str] = field(default_factory=dict)  # each user's node just before
    nodes_after: dict[int, str] = field(default_factory=dict)  # its first reply's inside
    requests: int = 0
    errors: int = 0
    failed: int = 0  # errors and anomalies
    recovery_s: float | None = None  # math.inf: never recovered inside the window
    longest_wait_s: float | None = None  # the longest a judged user waited for an answer

    def count(self, fate: str) -> int:
        return sum(1 for f in self.fates.values() if f == fate)

    def counts(self) -> dict[str, int]:
        return {fate: self.count(fate) for fate in o.FATES}

    def to_json(self) -> dict[str, Any]:
        recovered = self.recovery_s is not None and math.isfinite(self.recovery_s)
        return {
            "kind": self.kind,
            "label": self.label,
            "spec": self.spec,
            "target": self.target,
            "at_s": None if math.isinf(self.at_s) else self.at_s,
            "until_s": None if math.isinf(self.until_s) else self.until_s,
            "delivered": self.delivered,
            "error": self.error,
            "users": len(self.fates),
            "fates": self.counts(),
            "requests": self.requests,
            "errors": self.errors,
            "failed_requests": self.failed,
            "recovery_s": self.recovery_s if recovered else None,
            "recovered": recovered if self.recovery_s is not None else None,
            "longest_wait_s": self.longest_wait_s,
        }


@dataclass(frozen=True)
class Judgement:
    control: Window
    windows: tuple[Window, ...]  # faults and restores in time order, delivered or not
    fates: dict[int, str]  # each judged user's worst fate over the run
    # Every user with a record. More than the judged ones when some had no reply before
    # any fault (the load flowed late, or they arrived later): no window judged them.
    users_seen: int

    @property
    def users(self) -> int:
        return len(self.fates)

    def count(self, fate: str) -> int:
        return sum(1 for f in self.fates.values() if f == fate)

    def counts(self) -> dict[str, int]:
        return {fate: self.count(fate) for fate in o.FATES}

    @property
    def faults(self) -> tuple[Window, ...]:
        return tuple(w for w in self.windows if w.kind == "fault")

    @property
    def delivered(self) -> tuple[Window, ...]:
        return tuple(w for w in self.faults if w.delivered)

    @property
    def undelivered(self) -> tuple[Window, ...]:
        return tuple(w for w in self.faults if not w.delivered)

    @property
    def failed_requests(self) -> int:
        """Failures where the verdict looks: after the first fault, or all of a run
        without one (the control's own failures make it unstable, not this)."""
        judged = [w for w in self.windows if w.delivered] or [self.control]
        return sum(w.failed for w in judged)

    @property
    def recovery_s(self) -> float | None:
        """The first delivered fault's recovery: None without one, math.inf if never."""
        first = self.delivered[:1]
        return first[0].recovery_s if first else None

    @property
    def longest_wait_s(self) -> float | None:
        """The longest any judged user waited for an answer where the verdict looks (after
        the first fault, or all of a run without one); None when nobody was judged."""
        judged = [w for w in self.windows if w.delivered] or [self.control]
        waits = [w.longest_wait_s for w in judged if w.longest_wait_s is not None]
        return max(waits) if waits else None

    def answered_again(self) -> dict[int, str]:
        """The users counted unanswered whom a later window answered in their session, and
        that window's label: no reply while a fault lasted, then their session again after
        its heal or restart. Unanswered until then, not "never answered again"; their worst
        fate stays unanswered, and every count with it."""
        after: dict[int, str] = {}  # "" while a user waits for an answer in a later window
        for window in (self.control, *self.windows):  # in time order
            for user, fate in window.fates.items():
                if fate == o.UNANSWERED:
                    after[user] = ""
                elif fate in (o.KEPT_FATE, o.REPLAY) and after.get(user) == "":
                    after[user] = window.label
        return {u: label for u, label in after.items() if label and self.fates[u] == o.UNANSWERED}

    @property
    def recovery_after_restore(self) -> tuple[str, float] | None:
        """When the first delivered fault never recovered in its own window and a restore
        ended it: that restore's label and seconds from it to its recovery (math.inf: not
        even then). The fault's recovery stays "never": the cluster did not recover while
        it lasted. None without such a restore, or when the fault recovered."""
        first = self.delivered[:1]
        if not first or first[0].recovery_s is None or math.isfinite(first[0].recovery_s):
            return None
        then = [w for w in self.windows if w.delivered and w.at_s == first[0].until_s]
        if not then or then[0].kind != "restore" or then[0].recovery_s is None:
            return None
        return then[0].label, then[0].recovery_s

    @property
    def unstable_users(self) -> int:
        return sum(1 for f in self.control.fates.values() if f in (o.LOST, o.DATA, o.REPLAY))

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "users_seen": self.users_seen,
            "fates": self.counts(),
            "answered_again": len(self.answered_again()),
            "failed_requests": self.failed_requests,
            "unstable_users": self.unstable_users,
            "longest_wait_s": self.longest_wait_s,
            "control": self.control.to_json(),
            "windows": [w.to_json() for w in self.windows],
        }


# --------------------------------------------------------------------------- windows


def _fault_events(faults: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The faults a run scheduled (a director's own reactions are not faults)."""
    return [f for f in faults if not str(f.get("action", "")).startswith("director")]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _delivered(event: dict[str, Any]) -> bool:
    return _number(event.get("at_s")) is not None and not event.get("fault_error")


def _planned(events: list[dict[str, Any]]) -> list[Window]:
    """Fault and restore windows without their users yet: where each starts, and why."""
    windows = []
    for e in events:
        at = _number(e.get("at_s"))
        at = at if at is not None else _number(e.get("planned_at_s"))
        target = str(e.get("target", ""))
        windows.append(
            Window(
                kind="fault",
                label=f"{e.get('action')} {target}",
                at_s=at if at is not None else math.inf,
                until_s=math.inf,
                spec=str(e.get("spec") or f"{e.get('action')}:{target}"),
                target=target,
                delivered=_delivered(e),
                error=str(e["fault_error"]) if e.get("fault_error") else None,
            )
        )
        restored = _number(e.get("restored_at_s"))
        if _delivered(e) and (restored is not None or e.get("restore_error")):
            # A restore that completed only after the load had ended judges nobody: no
            # user could ask anything after it (its fault's window runs to the end).
            late = bool(e.get("restored_after_load"))
            error = "completed after the load had ended" if late else None
            windows.append(
                Window(
                    kind="restore",
                    label=f"{e.get('restore') or 'restore'} {target}",
                    at_s=restored if restored is not None else math.inf,
                    until_s=math.inf,
                    spec=f"restore {e.get('spec') or target}",
                    target=target,
                    delivered=restored is not None and not late,
                    error=str(e["restore_error"]) if e.get("restore_error") else error,
                )
            )
    return sorted(windows, key=lambda w: w.at_s)


def _fault_fate(mine: Sequence[Request]) -> str:
    seen = {r.outcome for r in mine}
    if o.SESSION_LOST in seen:
        return o.LOST
    if o.DATA_LOST in seen:
        return o.DATA
    if not seen & ANSWERED_IN_SESSION:
        return o.UNANSWERED
    if o.REPLAYED in seen:
        return o.REPLAY
    return o.KEPT_FATE


def _cut_off(records: Sequence[Request], inside: Sequence[Request], until_s: float) -> set[int]:
    """The users whose replies inside a window ended in errors and whose next reply after
    it, if any, was not their session's: whatever answered them earlier in the window,
    the fault reached them after it, and they were not answered again."""
    last = {r.user: r.outcome for r in inside}
    ended = {u for u, outcome in last.items() if outcome == o.ERROR}
    next_reply: dict[int, str] = {}
    for r in records:
        if r.t_s >= until_s and r.user in ended and r.outcome != o.ERROR:
            next_reply.setdefault(r.user, r.outcome)
    return {u for u in ended if next_reply.get(u) not in ANSWERED_IN_SESSION}


def _unless_cut_off(fates: dict[int, str], cut_off: set[int]) -> dict[int, str]:
    """A user judged kept or replayed, but cut off at the window's end, is unanswered."""
    return {
        u: o.UNANSWERED if u in cut_off and f in (o.KEPT_FATE, o.REPLAY) else f
        for u, f in fates.items()
    }


def _control_fate(mine: Sequence[Request]) -> str:
    """Before any fault a user needs no reply to be judged kept: its requests after the
    first good one may simply not have come yet. Only errors after it is unanswered."""
    if not mine:
        return o.KEPT_FATE
    return _fault_fate(mine)


def _recovery(window: Sequence[Request], fates: dict[int, str], at_s: float) -> float | None:
    """Seconds from the fault until failures stopped and every judged user had been
    answered in its session again; math.inf when that never happened in the window;
    None when it judged nobody (no user had a good reply before it): nothing recovered.

    A user's wait counts the time its requests spent in the cluster after the fault up to
    its first answer (a request hung across the fault counts from the fault), not the
    pauses it made between requests of its own accord."""
    if not fates:
        return None
    if any(f == o.UNANSWERED for f in fates.values()):
        return math.inf
    failures = [r.t_s for r in window if r.outcome in o.FAILED]
    recovery = 0.0
    if failures:
        last = max(failures)
        after = [r.t_s for r in window if r.t_s > last and r.outcome in o.GOOD]
        if not after:
            return math.inf
        recovery = min(after) - at_s
    waited: dict[int, float] = {}
    answered: set[int] = set()
    for r in window:
        if r.user not in fates or r.user in answered:
            continue
        waited[r.user] = waited.get(r.user, 0.0) + min(r.latency_ms / 1000, r.t_s - at_s)
        if r.outcome in ANSWERED_IN_SESSION:
            answered.add(r.user)
    return round(max([recovery, *waited.values()]), 3)


def _longest_wait(
    records: Sequence[Request],
    fates: dict[int, str],
    span: tuple[float, float],
    unfinished: Sequence[Unfinished] = (),
) -> float | None:
    """The longest any judged user waited for a reply in the window (at_s, until_s): the
    time its requests spent in the cluster from one reply to the next (errors in between
    add up, its own pauses between requests do not; a lost session is judged by its fate).
    A request in flight across the window's start counts from the start; one sent inside
    the window counts whole, even if it completed after it (a stall across the window's
    end), or never did (unfinished: it counts up to the load's stop).

    A user never answered in its session in the window (unanswered) has a request that
    never completed, or none left to send: it waited from its last record (or the window's
    start) to the window's end or the run's end (its last record, or the load's stop),
    whichever came first."""
    if not fates:
        return None
    at_s, until_s = span
    waiting: dict[int, float] = {}
    last_seen: dict[int, float] = {}
    longest = 0.0
    for r in records:
        if r.user not in fates or r.t_s < at_s or r.t_s - r.latency_ms / 1000 >= until_s:
            continue
        waiting[r.user] = waiting.get(r.user, 0.0) + min(r.latency_ms / 1000, r.t_s - at_s)
        last_seen[r.user] = r.t_s
        longest = max(longest, waiting[r.user])
        if r.outcome != o.ERROR:
            waiting[r.user] = 0.0
    for u in unfinished:
        if u.user in fates and u.sent_s < until_s and u.stopped_s > at_s:
            open_s = u.stopped_s - max(u.sent_s, at_s)
            longest = max(longest, waiting.get(u.user, 0.0) + open_s)
    end = min(until_s, run_end(records, unfinished, at_s))
    for user in (u for u, fate in fates.items() if fate == o.UNANSWERED):
        since = max(at_s, last_seen.get(user, at_s))
        longest = max(longest, waiting.get(user, 0.0) + max(0.0, end - since))
    return round(longest, 3)


def hung_at_stop(unfinished: Sequence[Unfinished], at_s: float, until_s: float) -> set[int]:
    """The users cut off in a window by a request sent before its end that had waited
    STALL_S or more when the load stopped (inside the window or after it): answered
    earlier or not, the last thing they asked got no answer, as with a timeout's error.
    One cut off sooner is not: the stop may have been all that kept its reply away."""
    return {
        u.user
        for u in unfinished
        if u.sent_s < until_s and u.stopped_s > at_s and u.stopped_s - u.sent_s >= STALL_S
    }


def hung_alone(unfinished: Sequence[Unfinished], with_records: Collection[int]) -> set[int]:
    """The users whose only request had hung at the stop (hung_at_stop, over the whole
    run): they asked and were never answered."""
    return hung_at_stop(unfinished, -math.inf, math.inf) - set(with_records)


def run_end(records: Sequence[Request], unfinished: Sequence[Unfinished], empty: float) -> float:
    """When the run's users were last seen: its last record, or the load's stop if a
    request was still in flight then; empty without either."""
    ends = [u.stopped_s for u in unfinished]
    if records:
        ends.append(records[-1].t_s)
    return max(ends, default=empty)


def _judge_window(
    plan: Window, records: Sequence[Request], unfinished: Sequence[Unfinished]
) -> Window:
    """A fault's or restore's window: every user with a good reply before it, judged on
    the replies that completed inside it."""
    inside = [r for r in records if plan.at_s <= r.t_s < plan.until_s]
    good_before = _good_before(records, plan.at_s) if plan.delivered else {}
    by_user: dict[int, list[Request]] = {}
    for r in inside:
        by_user.setdefault(r.user, []).append(r)
    fates = {user: _fault_fate(by_user.get(user, [])) for user in good_before}
    cut_off = _cut_off(records, inside, plan.until_s)
    fates = _unless_cut_off(fates, cut_off | hung_at_stop(unfinished, plan.at_s, plan.until_s))
    return replace(
        plan,
        fates=fates,
        nodes=good_before,
        nodes_after={
            user: next(r.node for r in rs if r.node)
            for user, rs in by_user.items()
            if user in good_before and any(r.node for r in rs)
        },
        requests=len(inside),
        errors=sum(1 for r in inside if r.outcome == o.ERROR),
        failed=sum(1 for r in inside if r.outcome in o.FAILED),
        recovery_s=_recovery(inside, fates, plan.at_s) if plan.delivered else None,
        longest_wait_s=_longest_wait(records, fates, (plan.at_s, plan.until_s), unfinished),
    )


def _good_before(records: Sequence[Request], at_s: float) -> dict[int, str]:
    """Each user with a good reply before at_s, and the node of its last one."""
    nodes: dict[int, str] = {}
    for r in records:
        if r.t_s >= at_s:
            break
        if r.outcome in o.GOOD:
            nodes[r.user] = r.node
    return nodes


def _control(
    records: Sequence[Request], until_s: float, unfinished: Sequence[Unfinished]
) -> Window:
    """Before the first fault: every user with a reply of a session, judged on all its
    requests but its first session's first reply. (A user whose very first reply is
    already another session's, as a capacity slot whose session the server replaced, is
    judged too: the anomaly is no start.)"""
    inside = [r for r in records if r.t_s < until_s]
    mine: dict[int, list[Request]] = {}
    for r in inside:
        if r.user not in mine:
            if r.outcome == o.ERROR:
                continue  # no reply yet: nothing to judge this user by
            mine[r.user] = [] if r.outcome == o.NEW else [r]
        else:
            mine[r.user].append(r)
    fates = {u: _control_fate(rs) for u, rs in mine.items()}
    cut_off = _cut_off(records, inside, until_s)
    fates = _unless_cut_off(fates, cut_off | hung_at_stop(unfinished, 0.0, until_s))
    return Window(
        kind="control",
        label="no fault" if math.isinf(until_s) else "before the first fault",
        at_s=0.0,
        until_s=until_s,
        fates=fates,
        nodes=_good_before(records, until_s),
        requests=len(inside),
        errors=sum(1 for r in inside if r.outcome == o.ERROR),
        failed=sum(1 for r in inside if r.outcome in o.FAILED),
        longest_wait_s=_longest_wait(records, fates, (0.0, until_s), unfinished),
    )


def judge(
    records: Sequence[Request],
    faults: Iterable[dict[str, Any]],
    unfinished: Sequence[Unfinished] = (),
) -> Judgement:
    """The one judgement of a run, from its records, its fault events as run.json keeps
    them and the requests still in flight when its load stopped."""
    records = sorted(records, key=lambda r: r.t_s)
    planned = _planned(_fault_events(faults))
    starts = sorted(w.at_s for w in planned if w.delivered)
    windows = []
    for plan in planned:
        later = [t for t in starts if t > plan.at_s]
        bounded = replace(plan, until_s=later[0] if later else math.inf)
        windows.append(_judge_window(bounded, records, unfinished))
    control = _control(records, starts[0] if starts else math.inf, unfinished)
    fates: dict[int, list[str]] = {u: [f] for u, f in control.fates.items()}
    for window in windows:
        for user, fate in window.fates.items():
            fates.setdefault(user, []).append(fate)
    # A user that asked and was never answered at all, in the whole run, is judged too:
    # leaving it out would let a run read better than what its users saw.
    # So is one whose only request was still in flight when the load stopped, if it had
    # waited long enough to notice (a web UI's Ctrl-C cuts a new user's first request short).
    answered = {r.user for r in records if r.outcome != o.ERROR}
    with_records = {r.user for r in records}
    for user in with_records - answered | hung_alone(unfinished, with_records):
        fates.setdefault(user, []).append(o.UNANSWERED)
    seen = with_records | {u.user for u in unfinished}
    return Judgement(
        control=control,
        windows=tuple(windows),
        fates={u: o.worst(fs) for u, fs in sorted(fates.items())},
        users_seen=len(seen),
    )
