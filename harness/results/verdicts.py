"""A run's verdict cell, balancer x sessions x fault, in numbers and in words.

Everything in it comes from the run's one judgement (results/judgement.py): the summary
and this cell read the same fates, so their numbers are the same. The part of the run
before the first fault is the control: a strategy that loses sessions or data there is
unstable without any fault, whatever the fault then does.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from harness.results import outcomes as o
from harness.results.judgement import STALL_S, Judgement
from harness.results.models import write_document

VERDICTS_FILE = "verdicts.json"


def _users_per_node(nodes: dict[int, str]) -> dict[str, int]:
    return dict(sorted(Counter(nodes.values()).items()))


def verdict_of(
    judgement: Judgement,
    *,
    balancer: str,
    sessions: str,
    updates: dict[str, int] | None = None,
    not_judged: list[str] | None = None,
) -> dict[str, Any]:
    """One verdict cell: the first delivered fault names it; every window counts.
    updates: the parallel scenario's acknowledged and lost updates (results.lost_updates).
    not_judged: what a fault was to show and the run ended too soon to (impact.not_judged)."""
    first = judgement.delivered[0] if judgement.delivered else None
    faults = judgement.faults
    counts = judgement.counts()
    users = judgement.users
    recovery = judgement.recovery_s
    again = judgement.answered_again()
    restore = judgement.recovery_after_restore
    if restore is not None and not math.isfinite(restore[1]):
        restore = None  # not even after it: "never recovered"
    result: dict[str, Any] = {
        "balancer": balancer,
        "sessions": sessions,
        "fault": (first or faults[0]).label if faults else "none",
        "fault_delivered": bool(first) if faults else None,
        "faults_not_delivered": [w.spec for w in judgement.undelivered],
        "users": users,
        # Session continued: kept, replayed or with its data lost.
        "kept": users - counts[o.LOST] - counts[o.UNANSWERED],
        # Session and data continued (a replay adds, it does not lose).
        "data_kept": counts[o.KEPT_FATE] + counts[o.REPLAY],
        "lost": counts[o.LOST],
        "data_lost": counts[o.DATA],
        "unanswered": counts[o.UNANSWERED],
        # Of the unanswered: answered in their session again after a heal or restart.
        "answered_again": len(again),
        "answered_again_after": sorted(set(again.values())),
        "replayed": counts[o.REPLAY],
        "failed_requests": judgement.failed_requests,
        "requests": sum(w.requests for w in judgement.windows if w.delivered)
        or judgement.control.requests,
        "recovery_s": recovery if recovery is not None and math.isfinite(recovery) else None,
        "recovered": None if recovery is None else math.isfinite(recovery),
        # Never while the fault lasted, but after the restore that ended it: its label, and
        # the seconds from it.
        "recovered_after": restore[0] if restore else None,
        "recovery_after_s": restore[1] if restore else None,
        "longest_wait_s": judgement.longest_wait_s,
        "stable_without_fault": judgement.unstable_users == 0,
        "unstable_users": judgement.unstable_users,
        "nodes_before": _users_per_node(first.nodes if first else judgement.control.nodes),
        "nodes_after": _users_per_node(first.nodes_after) if first else {},
        **(updates or {}),
    }
    not_judged = [*_users_not_judged(judgement), *(not_judged or [])]
    if not_judged:
        result["not_judged"] = not_judged
    result["verdict"] = verdict_words(result, total_users=users)
    return result


def _users_not_judged(judgement: Judgement) -> list[str]:
    """The users seen that no window judged: without a reply before the first fault, it
    tells nothing of them, and a verdict of the others must not read as theirs."""
    missing = judgement.users_seen - judgement.users
    if missing <= 0 or not judgement.delivered:
        return []
    first = judgement.delivered[0]
    return [
        f"{missing} of {judgement.users_seen} users, with no reply before "
        f"{first.label} at {first.at_s:.1f} s"
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def _failed_words(c: dict[str, Any]) -> str:
    count = c["failed_requests"]
    if not count:
        return ""
    share = f" ({_share(count, c['requests'])} of requests)" if c.get("requests") else ""
    return f", {count} failed request{'s' if count != 1 else ''}{share}"


def verdict_words(c: dict[str, Any], *, total_users: int) -> str:
    """The cell in words a person understands; never better than what the users saw."""
    if c.get("fault_delivered") is False:
        return f"fault not delivered ({', '.join(c['faults_not_delivered'])}): not judged"
    if not c["stable_without_fault"]:
        return (
            f"unstable without any fault ({_share(c['unstable_users'], total_users)} of users "
            "lost their session or its data before it)"
        ) + _updates_words(c)
    if c["users"] == 0:
        return "no users to judge"
    words = _fates_words(c)
    if c.get("recovered") is False:
        words += _not_recovered_words(c)
    if _stalled(c):
        words += f", users waited up to {c['longest_wait_s']:.1f} s"
    if c.get("faults_not_delivered"):
        words += f"; not delivered: {', '.join(c['faults_not_delivered'])}"
    if c.get("not_judged"):
        words += f"; not judged: {'; '.join(c['not_judged'])}"
    return words + _failed_words(c) + _updates_words(c)


def _not_recovered_words(c: dict[str, Any]) -> str:
    after = c.get("recovered_after")
    if not after:
        return ", never recovered"
    return f", recovered only {c['recovery_after_s']:.2f} s after {after}"


def _updates_words(c: dict[str, Any]) -> str:
    """The parallel scenario's exact count, whatever the verdict: a lost update is lost
    data even where it happened before any fault."""
    if c.get("lost_updates") is None:
        return ""
    return f"; {c['lost_updates']} of {c['acknowledged_updates']} acknowledged updates lost"


def _stalled(c: dict[str, Any]) -> bool:
    wait = c.get("longest_wait_s")
    return isinstance(wait, int | float) and wait >= STALL_S


def _fates_words(c: dict[str, Any]) -> str:
    users = c["users"]
    broken = []
    if c["lost"]:
        broken.append(f"loses {_share(c['lost'], users)} of sessions")
    if c["data_lost"]:
        broken.append(f"loses data of {_share(c['data_lost'], users)}")
    again = c.get("answered_again") or 0
    if c["unanswered"] > again:
        broken.append(f"{_share(c['unanswered'] - again, users)} of users never answered again")
    if again:
        until = " or ".join(c["answered_again_after"])
        broken.append(f"{_share(again, users)} of users unanswered until {until}")
    if c["replayed"]:
        broken.append(f"{c['replayed']} saw a replayed request")
    if not broken and not c["failed_requests"] and not _stalled(c):
        return "survives" if c["fault"] != "none" else "stable"
    if not broken:
        return "keeps sessions"
    if not c["lost"] and not c["unanswered"]:
        return "keeps sessions, " + ", ".join(broken)
    return ", ".join(broken)


def recovery_words(cell: dict[str, Any]) -> str:
    """A cell's recovery for a table: seconds, "never", or "-" without a fault."""
    if cell.get("recovered") is False:
        after = cell.get("recovered_after")
        return f"{cell['recovery_after_s']:.2f} s after {after}" if after else "never"
    seconds = cell.get("recovery_s")
    return "-" if seconds is None else f"{seconds:.2f} s"


def fates_line(fates: dict[str, Any], users: object, answered_again: object = 0) -> str:
    """'10 users: 8 kept session and data, 2 lost their session, ...' (all five fates);
    answered_again: how many of the unanswered a later window answered in their session."""
    again = (
        f" ({answered_again} of them answered in their session after a heal or restart)"
        if isinstance(answered_again, int) and answered_again > 0
        else ""
    )
    parts = [
        f"{fates.get(f, 0)} {o.FATE_WORDS[f]}" + (again if f == o.UNANSWERED else "")
        for f in reversed(o.FATES)
    ]
    return f"{users} users: " + ", ".join(parts)


def window_line(window: dict[str, Any]) -> str:
    """One judged window (run.json's summary.judgement.windows[i]) in words."""
    if not window.get("delivered"):
        why = window.get("error") or "the run ended first"
        if window.get("kind") == "restore" and window.get("error"):
            return f"not judged ({why}): nobody judged"
        return f"not delivered ({why}): nobody judged"
    until = window.get("until_s")
    span = f"to {until:g} s" if isinstance(until, int | float) else "to the end"
    recovered = window.get("recovered")
    recovery = (
        "never recovered"
        if recovered is False
        else f"recovered after {window['recovery_s']:.1f} s"
        if recovered
        else ""
    )
    return (
        f"{span}: {fates_line(window.get('fates') or {}, window.get('users'))}; "
        f"{window.get('failed_requests', 0)} failed of {window.get('requests', 0)} requests"
        + (f"; {recovery}" if recovery else "")
    )


def write_verdicts(run_dir: Path, cells: list[dict[str, Any]]) -> Path:
    return write_document(run_dir / VERDICTS_FILE, cells, "verdicts")
