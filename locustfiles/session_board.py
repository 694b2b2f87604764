"""Live session counts and HDR latency histograms for the web UI's Sessions tab.

Pure Python without Locust (like session_tracking.py), so unit tests and the harness
use it directly. In distributed mode every worker keeps a board of its own users and
sends what changed since its last report (`delta()`); the master `merge()`s those
into one board. User ids are unique across workers (see session_stability.py), so a
user's state is simply replaced by its newest report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hdrh.histogram import HdrHistogram
from session_tracking import DATA_LOST, ERROR, KEPT, NEW, OUTCOMES, REPLAYED, SESSION_LOST

from harness.results import outcomes as fate

# HDR settings: microseconds from 1 us to one hour, 3 significant digits (0.1% error).
HDR_LOWEST_US: Final = 1
HDR_HIGHEST_US: Final = 3_600_000_000
HDR_DIGITS: Final = 3
HDR_FORMAT: Final = "tomcat-bench/latency-hdr"
ALL: Final = "all"
ERRORS_NODE: Final = "(no reply)"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


class Latencies:
    """One HDR histogram for all requests and one per node that answered."""

    def __init__(self) -> None:
        self.histograms: dict[str, HdrHistogram] = {}

    def record(self, node: str, latency_ms: float) -> None:
        # Clamped into the trackable range: a 0 ms reply is still a reply, and a
        # request longer than an hour is one hour as far as percentiles care.
        micros = min(max(round(latency_ms * 1000), HDR_LOWEST_US), HDR_HIGHEST_US)
        for name in (ALL, node or ERRORS_NODE):
            histogram = self.histograms.get(name)
            if histogram is None:
                histogram = self.histograms[name] = new_histogram()
            histogram.record_value(micros)

    def encode(self) -> dict[str, str]:
        """Each histogram in HdrHistogram's portable compressed base64 form."""
        return {name: h.encode().decode("ascii") for name, h in self.histograms.items()}

    def add_encoded(self, encoded: Mapping[str, str]) -> None:
        for name, text in encoded.items():
            other = HdrHistogram.decode(text.encode("ascii"))
            mine = self.histograms.get(name)
            if mine is None:
                mine = self.histograms[name] = new_histogram()
            mine.add(other)

    def reset(self) -> None:
        self.histograms.clear()

    def percentiles_ms(self, name: str = ALL) -> dict[str, float] | None:
        histogram = self.histograms.get(name)
        if histogram is None or histogram.get_total_count() == 0:
            return None
        return percentiles_ms(histogram)

    def to_json(self, processes: int) -> dict[str, Any]:
        return {
            "format": HDR_FORMAT,
            "unit": "us",
            "lowest_us": HDR_LOWEST_US,
            "highest_us": HDR_HIGHEST_US,
            "significant_digits": HDR_DIGITS,
            "processes": processes,
            "latency": "measured, answered requests",
            "histograms": self.encode(),
        }

    def write(self, path: Path, processes: int) -> None:
        # Written to a temporary name first: the harness may read it the moment Locust exits.
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(processes), indent=1) + "\n")
        tmp.replace(path)


def percentiles_ms(histogram: HdrHistogram) -> dict[str, float]:
    def at(p: float) -> float:
        return round(histogram.get_value_at_percentile(p) / 1000, 3)

    return {
        "count": histogram.get_total_count(),
        "p50_ms": at(50.0),
        "p95_ms": at(95.0),
        "p99_ms": at(99.0),
        "p999_ms": at(99.9),
        "max_ms": round(histogram.get_max_value() / 1000, 3),
    }


@dataclass(slots=True)
class UserState:
    """What one user has seen so far; the flags only ever turn on."""

    node: str = ""
    lost: bool = False  # got a different session id at least once
    data_lost: bool = False  # same session, counter went back
    replayed: bool = False  # counter jumped: a request ran twice
    requests: int = 0
    errors: int = 0
    answered_epoch: float = 0.0  # its last reply of its session (0: none yet)
    error_epoch: float = 0.0  # its last error (0: none yet)

    def to_list(self) -> list[Any]:
        return [self.node, self.lost, self.data_lost, self.replayed, self.requests,
                self.errors, self.answered_epoch, self.error_epoch]  # fmt: skip

    @classmethod
    def from_list(cls, data: list[Any]) -> UserState:
        node, lost, data_lost, replayed, requests, errors, *rest = data
        epochs = [*map(float, rest[:2]), 0.0, 0.0][:2]  # older workers sent fewer
        return cls(
            str(node), bool(lost), bool(data_lost), bool(replayed), int(requests), int(errors),
            *epochs,
        )  # fmt: skip

    def fate(self, fault_epoch: float | None) -> str:
        """The results' judgement, live: its worst fate so far, a fault being the latest
        one delivered. A user not answered in its session since then is unanswered, and so
        is one whose latest reply was an error (the results judge a user whose replies end
        in errors so, unless its next reply is its session's)."""
        if self.lost:
            return fate.LOST
        if self.data_lost:
            return fate.DATA
        if fault_epoch is not None and self.answered_epoch < fault_epoch:
            return fate.UNANSWERED
        if self.error_epoch > self.answered_epoch:
            return fate.UNANSWERED
        if self.replayed:
            return fate.REPLAY
        return fate.KEPT_FATE


class SessionBoard:
    """Live counts of one Locust process (worker or local), or merged on the master."""

    def __init__(self) -> None:
        self.users: dict[int, UserState] = {}
        self.node_requests: dict[str, int] = {}
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.latencies = Latencies()
        self.faults: list[dict[str, Any]] = []
        self.processes = 1
        self.scenario = "counter"  # what session.jsp does with each session (--scenario)
        # The run's clock starts at its first request, as the results' t_s do.
        self.first_epoch: float | None = None
        self._changed: set[int] = set()
        self._node_delta: dict[str, int] = {}
        self._outcome_delta: dict[str, int] = {}
        self._latency_delta = Latencies()
        self.track_delta = True  # a worker's board: keep what changed for the master

    def observe(
        self, user: int, outcome: str, node: str, latency_ms: float, epoch: float | None = None
    ) -> None:
        """One classified reply; epoch (when it came) marks the run's first request."""
        if epoch is not None and (self.first_epoch is None or epoch < self.first_epoch):
            self.first_epoch = epoch
        state = self.users.get(user)
        if state is None:
            state = self.users[user] = UserState()
        state.requests += 1
        now = epoch if epoch is not None else time.time()
        if outcome == ERROR:
            state.errors += 1
            state.error_epoch = now
        else:
            state.node = node
            self._count(self.node_requests, self._node_delta, node)
        state.lost |= outcome == SESSION_LOST
        state.data_lost |= outcome == DATA_LOST
        state.replayed |= outcome == REPLAYED
        if outcome in (NEW, KEPT, REPLAYED):
            state.answered_epoch = now
        self._count(self.outcomes, self._outcome_delta, outcome)
        if outcome != ERROR:  # an error's latency is no service (as the harness's HDR)
            self.latencies.record(node, latency_ms)
            if self.track_delta:
                self._latency_delta.record(node, latency_ms)
        self._changed.add(user)

    @staticmethod
    def _count(total: dict[str, int], delta: dict[str, int], key: str) -> None:
        total[key] = total.get(key, 0) + 1
        delta[key] = delta.get(key, 0) + 1

    # -- distributed mode ---------------------------------------------------------

    def delta(self) -> dict[str, Any]:
        """What changed since the last call, for report_to_master; then forgotten here."""
        data = {
            "users": {str(u): self.users[u].to_list() for u in sorted(self._changed)},
            "nodes": self._node_delta,
            "outcomes": self._outcome_delta,
            "hdr": self._latency_delta.encode(),
            "first_epoch": self.first_epoch,
        }
        self._changed, self._node_delta, self._outcome_delta = set(), {}, {}
        self._latency_delta = Latencies()
        return data

    def merge(self, delta: Mapping[str, Any]) -> None:
        """Add one worker's delta (as produced by delta(), after a JSON-like round trip)."""
        for user, state in delta.get("users", {}).items():
            self.users[int(user)] = UserState.from_list(state)
        for key, count in delta.get("nodes", {}).items():
            self.node_requests[key] = self.node_requests.get(key, 0) + int(count)
        for key, count in delta.get("outcomes", {}).items():
            self.outcomes[key] = self.outcomes.get(key, 0) + int(count)
        self.latencies.add_encoded(delta.get("hdr", {}))
        first = delta.get("first_epoch")
        if first is not None and (self.first_epoch is None or first < self.first_epoch):
            self.first_epoch = float(first)

    # -- what the tab shows ------------------------------------------------------

    def latest_fault_epoch(self) -> float | None:
        """When the latest fault that was delivered happened (none: None)."""
        times = [
            float(f["epoch"])
            for f in self.faults
            if isinstance(f.get("epoch"), int | float) and not f.get("fault_error")
        ]
        return max(times) if times else None

    def counts(self) -> dict[str, Any]:
        states = list(self.users.values())
        answered = [s for s in states if s.requests > s.errors]
        users_on: dict[str, int] = {}
        for s in answered:
            users_on[s.node] = users_on.get(s.node, 0) + 1
        # Judged as the results judge: every user with a reply of its session.
        fault_epoch = self.latest_fault_epoch()
        fates = dict.fromkeys(fate.FATES, 0)
        for s in states:
            if s.answered_epoch or s.lost or s.data_lost:
                fates[s.fate(fault_epoch)] += 1
            elif s.requests:
                fates[fate.UNANSWERED] += 1  # asked, never answered at all
        judged = sum(fates.values())
        return {
            "users": len(states),
            "judged": judged,
            "fates": fates,
            "sessions_kept": judged - fates[fate.LOST] - fates[fate.UNANSWERED],
            "sessions_lost": fates[fate.LOST],
            "data_lost": fates[fate.DATA],
            "unanswered": fates[fate.UNANSWERED],
            "replayed": fates[fate.REPLAY],
            "no_answer": len(states) - len(answered),
            "requests": sum(self.outcomes.values()),
            "outcomes": dict(self.outcomes),
            "node_requests": dict(sorted(self.node_requests.items())),
            "users_on_node": dict(sorted(users_on.items())),
            "latency": self.latencies.percentiles_ms(),
            "faults": list(self.faults),
        }

    def rows(self) -> list[dict[str, str]]:
        """The Sessions tab's table: one row per figure, in reading order."""
        c = self.counts()
        users = c["users"]
        judged = c["judged"]
        rows = [
            _row("users", users, f"simulated users seen so far; {judged} with a reply judged"),
            _row("scenario", self.scenario, scenario_detail(self.scenario)),
            *(
                _row(fate.FATE_WORDS[name], c["fates"][name], f"of {judged}: {FATE_DETAIL[name]}")
                for name in reversed(fate.FATES)
            ),
            _row("requests", c["requests"], _outcome_text(c["outcomes"])),
        ]
        total = sum(c["node_requests"].values()) or 1
        for node, count in c["node_requests"].items():
            share = 100 * count / total
            rows.append(
                _row(
                    f"node {node}",
                    count,
                    f"{share:.1f}% of answered requests; {c['users_on_node'].get(node, 0)} "
                    "users' last reply came from it",
                )
            )
        latency = c["latency"]
        if latency:
            rows.append(
                _row(
                    "latency (HDR)",
                    f"p50 {latency['p50_ms']:.2f} ms",
                    f"p95 {latency['p95_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms, "
                    f"max {latency['max_ms']:.2f} ms over {latency['count']} requests, "
                    f"{self.processes} process(es) merged",
                )
            )
        rows.extend(fault_rows(c["faults"], self.first_epoch))
        return rows


def scenario_detail(scenario: str) -> str:
    """What the page does with the session, and so what "kept" and "lost data" mean."""
    if scenario.startswith(f"{fate.PARALLEL}:"):
        width = scenario.partition(":")[2]
        return (
            f"{width} requests of a session at once; every id a reply acknowledged must stay "
            "in the session's set (one missing is a lost update: lost data)"
        )
    return SCENARIO_DETAIL.get(scenario, "")


SCENARIO_DETAIL: Final = {
    "counter": "an Integer set on every request; its counter must go up by one each time",
    "inplace": "an int[1] changed in place, set only when new; must go up by one each time",
    "growing": "a cart gaining 2 KB a request up to 64 KB; the counter must go up by one",
    "readonly": "set once, then only read; the counter must stay put",
}


# The results' words (harness/results/outcomes.py), each with what it means here.
FATE_DETAIL: Final = {
    fate.KEPT_FATE: "same session, counter always +1",
    fate.REPLAY: "counter jumped: a request ran twice (a balancer's retry)",
    fate.UNANSWERED: "no reply of its session since the latest fault or its latest error",
    fate.DATA: "same session, but the counter went back",
    fate.LOST: "got a different session id",
}


def _row(what: str, value: object, detail: str) -> dict[str, str]:
    return {"what": what, "value": str(value), "detail": detail}


def _outcome_text(outcomes: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {outcomes.get(name, 0)}" for name in OUTCOMES if name != NEW)


def fault_rows(
    faults: Iterable[Mapping[str, Any]], start_epoch: float | None
) -> list[dict[str, str]]:
    rows = []
    for fault in faults:
        when = str(fault.get("at_utc", ""))
        epoch = fault.get("epoch")
        if start_epoch is not None and isinstance(epoch, int | float):
            when += f" (t+{epoch - start_epoch:.1f} s)"
        detail = f"at {when} from {fault.get('source', 'the harness')}"
        if fault.get("restored_at_utc"):
            detail += f"; {fault.get('restore', 'restored')} at {fault['restored_at_utc']}"
        if fault.get("fault_error"):
            detail += f"; FAILED: {fault['fault_error']}"
        rows.append(_row("fault", f"{fault.get('action')} {fault.get('target')}", detail))
    return rows
