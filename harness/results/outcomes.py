"""The words of a run's results, defined once: what one request's reply was (its
outcome, written by the load generator) and what a fault did to one user (its fate,
decided by judgement.py). The locustfiles, the harness and the reports all use these.
"""

from __future__ import annotations

from typing import Final

# -- one request -----------------------------------------------------------------
NEW: Final = "new"  # the user's first session
KEPT: Final = "kept"  # same session, counter + 1
DATA_LOST: Final = "data_lost"  # same session, counter went back
REPLAYED: Final = "replayed"  # counter jumped: a request ran twice
SESSION_LOST: Final = "session_lost"  # a different session id
ERROR: Final = "error"  # no reply the session check could read (HTTP error, timeout)
OUTCOMES: Final = (NEW, KEPT, DATA_LOST, REPLAYED, SESSION_LOST, ERROR)
# Still in flight when the load stopped: neither a reply nor an error. Only the raw
# records have it; a run keeps these in run.json's unfinished_requests, not as requests.
UNFINISHED: Final = "unfinished"

# Wrong from the user's point of view beyond an HTTP error.
ANOMALIES: Final = frozenset({DATA_LOST, REPLAYED, SESSION_LOST})
# A reply that continued the user's session as it should.
GOOD: Final = frozenset({NEW, KEPT})
# A failure: an error or an anomaly.
FAILED: Final = frozenset({ERROR, *ANOMALIES})

# -- what the page does with the session (session.jsp's ?scenario=) ----------------
# Each with its expected course of the counter: +1 a request, but readonly's stays put.
SCENARIOS: Final = ("counter", "inplace", "growing", "readonly")
UNMOVING: Final = frozenset({"readonly"})
# parallel:N, N requests of a session in flight at once; its page keeps a set of request
# ids, and the check is the set's, not a counter's course.
PARALLEL: Final = "parallel"
MAX_PARALLEL: Final = 16
SCENARIO_CHOICES: Final = f"{', '.join(SCENARIOS)} or {PARALLEL}:N (N from 2 to {MAX_PARALLEL})"


def parallel_width(scenario: str) -> int:
    """How many requests of its session a user keeps in flight: N for parallel:N, else 1.
    ValueError naming the choices for anything that is not a scenario."""
    if scenario in SCENARIOS:
        return 1
    name, _, count = scenario.partition(":")
    if name == PARALLEL and count.isdigit() and 2 <= int(count) <= MAX_PARALLEL:
        return int(count)
    raise ValueError(f"scenario {scenario!r}: one of {SCENARIO_CHOICES}")


def check_scenario(scenario: str) -> str:
    """The scenario, if it is one (ValueError naming the choices if not)."""
    parallel_width(scenario)
    return scenario


# -- one user across one fault ----------------------------------------------------
# From worst to best: a user with several fates in a run is counted by its worst.
LOST: Final = "session_lost"  # got another session id after the fault
DATA: Final = "data_lost"  # same session, its data went back
UNANSWERED: Final = "unanswered"  # no good reply after the fault (hung, errors, gone)
REPLAY: Final = "replayed"  # kept, but a request ran twice (a balancer's retry)
KEPT_FATE: Final = "kept"  # same session, data continued
FATES: Final = (LOST, DATA, UNANSWERED, REPLAY, KEPT_FATE)
FATE_WORDS: Final = {
    LOST: "lost their session",
    DATA: "lost data",
    UNANSWERED: "got no good reply after it",
    REPLAY: "saw a replayed request",
    KEPT_FATE: "kept session and data",
}


def worst(fates: list[str]) -> str:
    return min(fates, key=FATES.index)
