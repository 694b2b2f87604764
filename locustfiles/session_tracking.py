"""Per-user session tracking for the session scenarios: parse a reply, classify it.

Pure Python without Locust, so the harness and the unit tests use it without
gevent's monkey-patching, and so it stays cheap on the load generator's hot path.
"""

from __future__ import annotations

import json
import re
import time
from typing import NamedTuple

# The outcome words are the results format's own (harness is installed in .venv);
# re-exported for the other locustfiles.
from harness.results.outcomes import (  # noqa: F401
    ANOMALIES,
    DATA_LOST,
    ERROR,
    KEPT,
    NEW,
    OUTCOMES,
    PARALLEL,
    REPLAYED,
    SCENARIO_CHOICES,
    SCENARIOS,
    SESSION_LOST,
    UNFINISHED,
    UNMOVING,
    check_scenario,
    parallel_width,
)


class Reply(NamedTuple):
    """What session.jsp said: the session (base id), the node, the counter.

    Immutable; a NamedTuple rather than a frozen dataclass because it is made once per
    request on the generator's hot path, and a frozen dataclass costs twice as much."""

    session: str
    node: str
    counter: int


def base_session_id(session_id: str) -> str:
    """The id without what a node or store appends.

    Tomcat appends ".<jvmRoute>"; memcached-session-manager inserts
    "-<memcachedNode>" before it, and both are rewritten on failover, so only the
    base identifies the session across nodes.
    """
    return session_id.split(".", 1)[0].split("-", 1)[0]


# session.jsp writes its JSON in one fixed shape; matching that shape costs a fraction of
# json.loads on the generator's hot path. Anything else takes the full JSON route below.
# The JSP's output starts with the newline after its scriptlet: without the leading \s*
# no real reply took this path (profiled: json.loads cost about 12 us a request more).
# The first group is base_session_id's result already: the id's leading run of
# [A-Za-z0-9_], up to its first "." or "-" (the lookahead keeps the id non-empty).
_TAIL = rb'([1-9][0-9]{0,17}),"new":(?:true|false)\}\s*$'  # from the counter on
_FIXED_SHAPE = re.compile(
    rb'^\s*\{"session":"(?=[A-Za-z0-9_.\-])([A-Za-z0-9_]*)[A-Za-z0-9_.\-]*",'
    rb'"node":"([A-Za-z0-9_.\-]*)","counter":' + _TAIL
)
_FIXED_TAIL = re.compile(_TAIL)


def fixed_reply(body: bytes) -> Reply | None:
    """The fast path alone: the reply if it has session.jsp's own shape, else None.
    Its session and node hold only [A-Za-z0-9_.-]: nothing a CSV field must quote."""
    return ReplyReader().read(body)


class ReplyReader:
    """fixed_reply for one user's replies in turn, cheaper for all but the first.

    A session's replies from one node differ only from the counter on. The reader keeps
    the bytes before the counter of the last reply it read; a reply that starts with
    them needs only its tail matched (the whole pattern's own end), at about half the
    cost of the whole pattern on the generator's hot path. Any other reply takes the
    whole pattern, as fixed_reply does, and becomes the one remembered."""

    __slots__ = ("_head", "_node", "_session")

    def __init__(self) -> None:
        self._head: bytes | None = None
        self._session = self._node = ""

    def read(self, body: bytes) -> Reply | None:
        head = self._head
        if head is not None and body.startswith(head):
            tail = _FIXED_TAIL.match(body, len(head))
            if tail is not None:
                return Reply(self._session, self._node, int(tail.group(1)))
        fixed = _FIXED_SHAPE.match(body)
        if fixed is None:
            return None
        session, node, counter = fixed.groups()
        self._head = body[: fixed.start(3)]
        self._session, self._node = session.decode(), node.decode()
        return Reply(self._session, self._node, int(counter))


def parse_reply(body: str | bytes) -> Reply:
    """Parse session.jsp's JSON; ValueError if it is not a session reply."""
    if isinstance(body, bytes) and (fixed := fixed_reply(body)) is not None:
        return fixed
    try:
        data = json.loads(body)
        session, node, counter = data["session"], data["node"], data["counter"]
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a session.jsp reply: {body[:80]!r}") from error
    if not isinstance(session, str) or not session or not isinstance(node, str):
        raise ValueError(f"not a session.jsp reply: {body[:80]!r}")
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 1:
        raise ValueError(f"session.jsp counter is not a positive integer: {counter!r}")
    return Reply(base_session_id(session), node, counter)


# The parallel page's own shape, matched like _FIXED_SHAPE; "held" is its bitmap in hex.
_PARALLEL_SHAPE = re.compile(
    rb'^\s*\{"session":"(?=[A-Za-z0-9_.\-])([A-Za-z0-9_]*)[A-Za-z0-9_.\-]*",'
    rb'"node":"([A-Za-z0-9_.\-]*)","counter":([1-9][0-9]{0,17}),"held":"([0-9a-f]{1,72})",'
    rb'"new":(?:true|false)\}\s*$'
)
# The page's bitmap covers its own id and the 255 below it (and siblings above it, which
# a reply may hold: up to 16 more bits, hence up to 72 hex digits).
HELD_BITS = 256


def parse_parallel_reply(body: bytes) -> tuple[Reply, int, bool]:
    """The parallel scenario's reply: the session, node and request id (as the counter),
    the ids the session held after this request (bit i: id counter - 255 + i), and
    whether its fields need no CSV quoting (the page's own shape). ValueError if it is
    not one."""
    fixed = _PARALLEL_SHAPE.match(body)
    if fixed is not None:
        session, node, counter, held = fixed.groups()
        return Reply(session.decode(), node.decode(), int(counter)), int(held, 16), True
    reply = parse_reply(body)
    try:
        bits = int(json.loads(body)["held"], 16)
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a parallel session.jsp reply: {body[:80]!r}") from error
    return reply, bits, False


def session_path(scenario: str, size: int) -> str:
    """session.jsp with the scenario and payload asked for (none: today's plain page).
    parallel:N's page is ?scenario=parallel; each request adds its own &id=."""
    page = PARALLEL if parallel_width(scenario) > 1 else scenario
    query = [f"scenario={page}"] if page != "counter" else []
    query += [f"size={size}"] if size > 0 else []
    return "/session.jsp" + ("?" + "&".join(query) if query else "")


class SessionTracker:
    """One simulated user's view of its session: classifies each reply in order."""

    __slots__ = ("counter", "errors_since_reply", "session", "step")

    def __init__(self, scenario: str = "counter") -> None:
        self.session: str | None = None
        self.counter = 0
        # A request that failed may still have run on the server and bumped the
        # counter; that many extra steps are expected, not a replay.
        self.errors_since_reply = 0
        # How far each request moves the counter: a read-only page never moves it.
        self.step = 0 if scenario in UNMOVING else 1

    def observe(self, reply: Reply | None) -> str:
        """Classify one reply (None for an HTTP or parse error) and remember it."""
        if reply is None:
            self.errors_since_reply += 1
            return ERROR
        # Classified inline, not in a helper: this runs on every request (make perf).
        session, counter = reply.session, reply.counter
        expected = self.counter + self.step
        if self.session is None:
            outcome = NEW
        elif session != self.session:
            outcome = SESSION_LOST
        elif expected <= counter <= expected + self.errors_since_reply * self.step:
            outcome = KEPT
        elif counter > expected:
            outcome = REPLAYED
        else:
            outcome = DATA_LOST
        self.session = session
        self.counter = counter
        self.errors_since_reply = 0
        return outcome


# The page keeps the ids at most 256 below a request's own; a reply is checked for the
# acknowledged ids within this span of its own id, leaving room for a round's width
# (a sibling with a higher id may have dropped a little more).
CHECKED_SPAN = 224


class ParallelTracker:
    """One user's session in the parallel scenario: rounds of N requests in flight at once.

    Every request adds its own id to the session's set. An id is acknowledged when its
    request got a good reply on the user's session; every reply of a LATER round must
    then hold it (siblings of one round race, so they are not held to each other). An
    acknowledged id that a later reply lacks is a lost update, counted once: exactly how
    many writes the store let another overwrite, not a guess from a counter."""

    __slots__ = ("_acked", "lost", "next_id", "session", "settled", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.session: str | None = None
        self.next_id = 1
        # Acknowledged in rounds already over, one bit per id (bit i: id i): all within
        # what the page keeps (end_round drops older ones), so no reply needs a range check.
        self.settled = 0
        self._acked: list[tuple[str, int]] = []  # this round's good replies, in order
        self.lost = 0

    def round_ids(self) -> list[int]:
        """The ids of the next round: one request until the user has a session (N at once
        would start N sessions), then N."""
        count = 1 if self.session is None else self.width
        first, self.next_id = self.next_id, self.next_id + count
        return list(range(first, first + count))

    def observe(self, reply: Reply | None, held: int) -> tuple[str, int]:
        """(outcome, lost updates this reply showed first) for one reply of the round."""
        if reply is None:
            return ERROR, 0
        self._acked.append((reply.session, reply.counter))
        if self.session is None:
            return NEW, 0
        if reply.session != self.session:
            return SESSION_LOST, 0
        base = reply.counter - (HELD_BITS - 1)  # the id of the reply's bit 0
        missing = (self.settled >> base if base >= 0 else self.settled << -base) & ~held
        if not missing:
            return KEPT, 0
        # Each lost id is counted once: no longer one to hold.
        self.settled &= ~(missing << base if base >= 0 else missing >> -base)
        count = missing.bit_count()
        self.lost += count
        return DATA_LOST, count

    def end_round(self) -> None:
        """The round's replies are all in: its acknowledged ids become ones to hold. A
        session that changed in the round is the one of its last good reply (the cookie the
        user keeps); only the ids acknowledged on it count from then on. Ids the page no
        longer keeps are dropped."""
        if self._acked:
            session = self._acked[-1][0]
            if session != self.session:
                self.session, self.settled = session, 0
            for acked_session, request_id in self._acked:
                if acked_session == session:
                    self.settled |= 1 << request_id
            self._acked.clear()
        floor = self.next_id - CHECKED_SPAN  # ids at or below it are dropped
        if floor >= 0:
            self.settled &= ~((1 << (floor + 1)) - 1)


class ArrivalSchedule:
    """One user's fixed-rate send times (the open model): request k is due at
    start + k * interval, whatever the replies take; users are spread over one interval.

    sent() returns how long a request was held back by its predecessor: the time past its
    due time, but only when the previous reply came after that due time (the server's
    doing: coordinated omission). A request that waited for its own due time and left a
    little late (a timer, the generator's own lag) was not held back by the server: 0.
    """

    __slots__ = ("interval_s", "last_reply_s", "next_s")

    def __init__(
        self, *, interval_s: float, user_index: int, users: int, now: float | None = None
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"arrival interval {interval_s!r}: must be positive")
        start = time.time() if now is None else now
        self.interval_s = interval_s
        self.next_s = start + interval_s * (user_index % users) / users
        self.last_reply_s = 0.0

    def wait(self, now: float | None = None) -> float:
        """Seconds to sleep until the next due time (0 when it has passed)."""
        return max(0.0, self.next_s - (time.time() if now is None else now))

    def sent(self, sent_s: float, reply_s: float | None = None) -> float:
        """Account for the request due at next_s, sent at sent_s; returns the seconds it
        was held back. Call once per request, after its reply (reply_s, default now)."""
        due = self.next_s
        held = sent_s - due if self.last_reply_s > due and sent_s > due else 0.0
        self.last_reply_s = time.time() if reply_s is None else reply_s
        self.next_s = due + self.interval_s
        return held
