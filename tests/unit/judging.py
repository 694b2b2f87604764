"""The judgement as the rule tests call it: the row-by-row reference (judgement.judge)
and the columnar one the harness runs, on a whole table (columnar_judgement.judge_columns)
and batch by batch as compare runs it on large files (BatchJudge), held equal on every case
a rule test builds, so each rule test checks the code that judges real runs. And random
runs with everything the rules are about, for the tests that hold them equal at large."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from harness.results import outcomes as o
from harness.results.columnar_judgement import BatchJudge, judge_columns
from harness.results.judgement import Judgement, Unfinished
from harness.results.judgement import judge as judge_rows
from harness.results.requests import Requests, from_records, sorted_by_time
from harness.results.run_folder import Record


def judge(
    records: Sequence[Record],
    faults: Iterable[dict[str, Any]],
    unfinished: Sequence[Unfinished] = (),
) -> Judgement:
    faults = list(faults)
    rows = judge_rows(records, faults, unfinished)
    columns = judge_columns(from_records(records), faults, unfinished)
    assert columns == rows, "the columnar judgement differs from the reference"
    for batch_rows in (1, 2):
        batched = judge_batches(from_records(records), faults, batch_rows, unfinished)
        assert batched == rows, f"the judgement in batches of {batch_rows} differs"
    return columns


def judge_batches(
    requests: Requests,
    faults: Iterable[dict[str, Any]],
    batch_rows: int,
    unfinished: Sequence[Unfinished] = (),
) -> Judgement:
    """BatchJudge on the requests in time order, batch_rows at a time."""
    ordered = sorted_by_time(requests)
    judge = BatchJudge(faults, unfinished)
    for start in range(0, len(ordered), batch_rows):
        judge.add(Requests(ordered.table.slice(start, batch_rows)), start)
    return judge.judgement()


NODES = ("node1", "node2", "node3")


def random_run(seed: int) -> tuple[list[Record], list[dict[str, Any]]]:
    """A small run with everything the judgement has rules for: faults delivered or not,
    restores (one after the load), errors, session changes, counters going back, replays,
    users that stop being answered and users never answered at all, equal times."""
    rng = random.Random(seed)
    users = rng.randint(1, 12)
    duration = rng.uniform(5.0, 30.0)
    records = []
    for user in range(1, users + 1):
        silent_after = rng.choice([None, None, rng.uniform(0, duration)])
        never = rng.random() < 0.1
        session, started = f"s{user}", False
        for _ in range(rng.randint(0, 40)):
            t = round(rng.choice([rng.uniform(0, duration), float(rng.randint(0, 30))]), 6)
            error = never or rng.random() < 0.15 or (silent_after is not None and t > silent_after)
            if error:
                outcome = o.ERROR
            elif not started:
                outcome, started = o.NEW, True
            else:
                outcome = rng.choice(
                    [o.KEPT] * 8 + [o.SESSION_LOST, o.DATA_LOST, o.REPLAYED, o.NEW]
                )
            if outcome == o.SESSION_LOST:
                session = f"s{user}-{rng.randint(0, 99)}"
            latency = rng.choice([rng.uniform(0.1, 50.0), rng.uniform(500.0, 9000.0), 0.0])
            records.append(
                Record(
                    t, user, "" if error else session, "" if error else rng.choice(NODES),
                    None if error else rng.randint(1, 50), outcome, round(latency, 3),
                    502 if error else 200,
                )
            )  # fmt: skip
    rng.shuffle(records)
    return records, random_faults(rng, duration)


def random_unfinished(seed: int, records: Sequence[Record]) -> list[Unfinished]:
    """Requests in flight when the load stopped, for some of the run's users: sent after
    their last record (a hang at the end, or a normal last request), at most one a user;
    now and then one of a user with no record at all."""
    rng = random.Random(seed)
    last: dict[int, float] = {}
    for r in records:
        last[r.user] = max(last.get(r.user, r.t_s), r.t_s)
    stop = round(max(last.values(), default=0.0) + rng.uniform(0.0, 3.0), 6)
    unfinished = [
        Unfinished(user, round(rng.uniform(t, stop), 6), stop)
        for user, t in last.items()
        if rng.random() < 0.3
    ]
    if rng.random() < 0.2:
        stranger = max(last, default=0) + 1  # its only request never came back
        unfinished.append(Unfinished(stranger, round(rng.uniform(0, stop), 6), stop))
    return unfinished


def random_faults(rng: random.Random, duration: float) -> list[dict[str, Any]]:
    faults = []
    for k in range(rng.randint(0, 3)):
        at = round(rng.uniform(0, duration), 3)
        fault: dict[str, Any] = {
            "action": rng.choice(["sigkill", "sigstop", "partition"]),
            "target": rng.choice(NODES),
            "spec": f"f{k}:{rng.choice(NODES)}@{at}",
        }
        kind = rng.random()
        if kind < 0.15:
            fault |= {"planned_at_s": at, "fault_error": "could not deliver"}
        else:
            fault["at_s"] = at
        if kind > 0.5:
            fault["restored_at_s"] = round(min(at + rng.uniform(0, 10), duration + 5), 3)
            fault["restored_after_load"] = rng.random() < 0.2
        faults.append(fault)
    if rng.random() < 0.1:
        faults.append({"action": "director-failover", "target": "node1", "at_s": 1.0})
    return faults
