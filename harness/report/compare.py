"""Compare two results folders: did HEAD get worse than BASE, beyond noise?

Reads only run.json and the requests file of each folder (see harness/results/) and writes
nothing unless asked (--markdown, --html): a results folder belongs to the run that made it.
A requests.parquet is read batch by batch (results/streaming.py, the judgement by
results/columnar_judgement.py), so a run of 100M requests is compared without holding its
rows; the numbers are those of the whole table.

Performance metrics (throughput, latency p50/p95/p99, error rate) count as a regression only
when BOTH hold:
  * the whole-run values differ by more than the threshold (a factor, as pyperf prints it:
    "1.25x slower"; for the error rate, percentage points), and
  * the runs' per-second samples differ significantly: a two-sided Mann-Whitney U test
    (normal approximation with tie and continuity correction, as asv uses it) below alpha,
    with the head's samples on the worse side.
Latency and throughput are of answered requests (a fast error is neither), computed from
each run's records; in the open model both sides are judged by the latency corrected for
coordinated omission.

Correctness comes first and has no tolerance: from each run's one judgement
(results/judgement.py), one more user in HEAD than in BASE who lost the session or got
no reply of it while a fault lasted, lost data, or saw a replay is a regression, and exits
1 whatever else is true of the two runs.

Speed is compared only on the same profile, balancer, session store, machine class (cores,
memory rounded to GiB), fault schedule and number of users, and only when neither run was
generator-bound; otherwise, or when a folder is missing or unreadable, compare_runs
raises CannotCompare (exit 2).
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.table import Table

from harness.config.tomlfile import describe, read_toml
from harness.paths import REPO_ROOT
from harness.report.run import Seconds
from harness.report.shell import figure_html, render_page
from harness.report.time_figure import TimeFigure
from harness.results import models
from harness.results import outcomes as o
from harness.results.checks import junit_xml
from harness.results.columnar_judgement import BatchJudge, judge_columns
from harness.results.judgement import Judgement, Unfinished
from harness.results.requests import (
    CSV_FILE,
    Requests,
    read_requests,
    second_of,
    sorted_by_time,
)
from harness.results.run_folder import (
    REPEATS_FILE,
    dig,
    nearest_rank,
    number,
    read_manifest,
    unfinished_of,
)
from harness.results.significance import (
    BLOCK_S,
    Statistic,
    Test,
    block_bootstrap,
    mean,
    median,
    permutation_test,
    smallest_p,
)
from harness.results.streaming import (
    DEFAULT_STREAMING,
    BinCounts,
    CountedValues,
    NotInTimeOrder,
    SecondPercentiles,
    Streaming,
    batches,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

DEFAULT_THRESHOLDS = REPO_ROOT / "profiles/compare/thresholds.toml"
MISSING = "n/a"
GIB = 2**30
BASE_COLOUR = "#1f77b4"
HEAD_COLOUR = "#d62728"


class CannotCompare(ValueError):
    """The two folders cannot be compared (exit 2); the message is one line."""


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used; the message is one line naming file and key."""


class _Console(Protocol):
    def print(self, *objects: Any, **kwargs: Any) -> None: ...


# --------------------------------------------------------------------------- thresholds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Significance(_Strict):
    alpha: float = Field(0.05, gt=0.0, lt=1.0)


class Throughput(_Strict):
    max_slowdown: float = Field(1.10, ge=1.0)


class Latency(_Strict):
    p50: float = Field(1.25, ge=1.0)
    p95: float = Field(1.50, ge=1.0)
    p99: float = Field(1.50, ge=1.0)


class ErrorRate(_Strict):
    max_increase_pp: float = Field(1.0, ge=0.0)


class Recovery(_Strict):
    max_slowdown: float = Field(1.5, ge=1.0)
    min_increase_s: float = Field(2.0, ge=0.0)


class Thresholds(_Strict):
    """How much worse HEAD may be before compare calls it a regression."""

    significance: Significance = Significance()
    throughput: Throughput = Throughput()
    latency: Latency = Latency()
    error_rate: ErrorRate = ErrorRate()
    recovery: Recovery = Recovery()


def load_thresholds(path: Path | None) -> Thresholds:
    """Read a thresholds TOML file; None means the shipped defaults. Keys left out keep
    their defaults, so a file only needs the thresholds it changes."""
    if path is None:
        if not DEFAULT_THRESHOLDS.is_file():
            return Thresholds()  # an installed copy without the repository's profiles/
        path = DEFAULT_THRESHOLDS
    data = read_toml(path, "thresholds", ThresholdsError)
    try:
        return Thresholds.model_validate(data)
    except ValidationError as error:
        raise ThresholdsError(describe(path, error)) from None


# --------------------------------------------------------------------------- statistics


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class Samples:
    """Per-second samples of one run, over its whole seconds (see _sample_bins)."""

    throughput: tuple[float, ...]
    p50: tuple[float, ...]
    p95: tuple[float, ...]
    p99: tuple[float, ...]
    error_rate: tuple[float, ...]


@dataclass(frozen=True)
class Series:
    """What the HTML page draws for one run: every 1-second bin, partial ones included."""

    throughput: tuple[int, ...]
    p99_ms: tuple[float | None, ...]
    fault_at_s: float | None


@dataclass(frozen=True)
class _Latencies:
    """A run's speed by one latency (as measured, or corrected for coordinated omission)."""

    samples: Samples
    whole: dict[str, float | None]

    @classmethod
    def of(cls, records: Requests) -> _Latencies:
        return cls(samples(records), whole_run(records))


@dataclass(frozen=True)
class _Run:
    """One run as compare reads it: what it needs of the requests is computed when the run
    is loaded, so no run's columns are held while the next one is read."""

    name: str
    manifest: dict[str, Any]
    summary: dict[str, Any]
    judgement: Judgement
    series: Series
    measured: _Latencies
    corrected: _Latencies | None  # only when every request has its corrected latency


@dataclass(frozen=True)
class _Side:
    """One side of a comparison: a run, or the runs of `bench --repeat N`."""

    name: str
    runs: tuple[_Run, ...]

    @property
    def first(self) -> _Run:
        return self.runs[0]


def _load_side(path: Path, role: str, streaming: Streaming) -> _Side:
    index = path / REPEATS_FILE
    if not index.is_file():
        run = _load_run(path, role, streaming)
        return _Side(run.name, (run,))
    try:
        listed = models.read(index, "repeats").runs
    except ValueError as error:
        raise CannotCompare(f"{role}: {error}") from None
    runs = tuple(_load_run(path / entry.run, role, streaming) for entry in listed)
    if not runs:
        raise CannotCompare(f"{role}: {index}: lists no run")
    return _Side(f"{path.name} ({len(runs)} runs)", runs)


def _load_run(path: Path, role: str, streaming: Streaming) -> _Run:
    if not path.is_dir():
        raise CannotCompare(f"{role}: {path}: no such results folder")
    try:
        manifest = read_manifest(path)
    except ValueError as error:
        raise CannotCompare(f"{role}: {error}") from None
    except AttributeError:
        # read_manifest expects a JSON object and calls .get on whatever it parsed.
        raise CannotCompare(f"{role}: {path / 'run.json'}: not a JSON object") from None
    name = dig(manifest, "files", "requests")
    requests = path / (name if isinstance(name, str) and name else CSV_FILE)
    faults = manifest.get("faults")
    judged = _Judged(faults if isinstance(faults, list) else [], unfinished_of(manifest) or [])
    try:
        read = _read(requests, judged, streaming)
    except FileNotFoundError:
        raise CannotCompare(f"{role}: {requests}: missing; not a complete results folder") from None
    except ValueError as error:  # the reader's own messages already name the file
        raise CannotCompare(f"{role}: {error}") from None
    except OSError as error:
        raise CannotCompare(f"{role}: {requests}: unreadable: {error}") from None
    summary = manifest.get("summary")
    run_id = manifest.get("run_id")
    return _Run(
        name=str(run_id) if run_id else path.name,
        manifest=manifest,
        summary=summary if isinstance(summary, dict) else {},
        judgement=read.judgement,
        series=Series(read.throughput, read.p99_ms, first_fault_at(manifest)),
        measured=read.measured,
        corrected=read.corrected,
    )


# What compare reads of each request (the corrected latency when the run has it).
COMPARE_COLUMNS = ("t_s", "user", "node", "outcome", "latency_ms", "corrected_ms")


@dataclass(frozen=True)
class _Judged:
    """What run.json adds to a run's requests for its judgement."""

    faults: list[dict[str, Any]]
    unfinished: list[Unfinished]  # still in flight when the load stopped


@dataclass(frozen=True)
class _Read:
    """What compare takes of a run's requests: its judgement, its speed by each latency
    and what its chart draws (Series without the fault, which run.json holds)."""

    judgement: Judgement
    throughput: tuple[int, ...]
    p99_ms: tuple[float | None, ...]
    measured: _Latencies
    corrected: _Latencies | None  # only when every request has its corrected latency


def _read(path: Path, judged: _Judged, streaming: Streaming) -> _Read:
    """Batch by batch where streaming applies (a large Parquet file in time order), else
    from the whole table: the same numbers either way."""
    if streaming.applies(path):
        try:
            return _read_batches(path, judged, streaming.batch_rows)
        except NotInTimeOrder:
            pass  # written by hand or by a tool that does not sort: read it whole
    return _read_table(read_requests(path, COMPARE_COLUMNS), judged)


def _read_table(records: Requests, judged: _Judged) -> _Read:
    # Its seconds and span are taken from rows in time order, as the batches are.
    records = sorted_by_time(records)
    seconds = Seconds(records)
    answered = ~records.is_error()  # a fast error is neither throughput nor a faster second
    return _Read(
        judgement=judge_columns(records, judged.faults, judged.unfinished),
        throughput=tuple(seconds.throughput(answered)),
        p99_ms=tuple(seconds.latency(answered).percentile(99.0)),
        measured=_Latencies.of(records),
        corrected=_Latencies.of(_as_corrected(records)) if _all_corrected(records) else None,
    )


# The percentiles samples() takes of each second.
_SAMPLED = (50.0, 95.0, 99.0)


class _LatencySums:
    """One latency's answered requests, summed batch by batch: each second's percentiles
    and the whole run's."""

    def __init__(self) -> None:
        self.per_second = SecondPercentiles(_SAMPLED)
        self.whole = CountedValues()

    def add(self, bins: NDArray[np.int64], latency: NDArray[np.float64]) -> None:
        self.per_second.add(bins, latency)
        self.whole.add(latency)


class _RunSums:
    """What _read_table computes, from batches in time order (results/streaming.py)."""

    def __init__(self, judged: _Judged) -> None:
        self.judge = BatchJudge(judged.faults, judged.unfinished)
        self.rows = self.bins = 0
        self.first_t = self.last_t = 0.0
        self.all, self.answered, self.errors = BinCounts(), BinCounts(), BinCounts()
        self.p99 = SecondPercentiles((99.0,))
        self.measured = _LatencySums()
        self.corrected: _LatencySums | None = _LatencySums()

    def add(self, records: Requests, offset: int) -> None:
        if not len(records):
            return
        self.judge.add(records, offset)
        t = records.t_s
        bins = second_of(t)
        if not self.rows:
            self.first_t = float(t[0])
        self.rows += len(records)
        self.last_t, self.bins = float(t[-1]), int(bins[-1]) + 1
        error = records.is_error()
        answered = ~error
        answered_bins = bins[answered]
        latency = records.latency_ms
        self.all.add(bins)
        self.errors.add(bins[error])
        self.answered.add(answered_bins)
        self.p99.add(answered_bins, latency[answered])
        self.measured.add(answered_bins, latency[answered])
        corrected = records.corrected_ms
        if corrected is None or np.isnan(corrected).any():
            self.corrected = None  # judged by the measured latency, as _all_corrected says
        elif self.corrected is not None:
            self.corrected.add(answered_bins, corrected[answered])

    def read(self) -> _Read:
        corrected = self.corrected if self.rows else None
        return _Read(
            judgement=self.judge.judgement(),
            throughput=tuple(self.answered.tolist(self.bins)),
            p99_ms=tuple(self.p99.result(self.bins)[99.0]),
            measured=self._latencies(self.measured),
            corrected=self._latencies(corrected) if corrected is not None else None,
        )

    def _latencies(self, sums: _LatencySums) -> _Latencies:
        """samples and whole_run from the sums."""
        n, answered = self.rows, len(sums.whole)
        span = self.last_t - self.first_t if n > 1 else 0.0
        whole: dict[str, float | None] = {
            "rps": answered / span if span > 0 else None,
            "error_rate": (n - answered) / n if n else None,
        }
        for p in (50, 95, 99):
            whole[f"p{p}_ms"] = sums.whole.percentile(p) if answered else None
        if not n:
            return _Latencies(Samples((), (), (), (), ()), whole)
        # Python's slice of the bins, so a negative last time keeps what it always kept.
        kept = len(range(self.bins)[: math.floor(self.last_t)])
        per_second = sums.per_second.result(self.bins)
        totals, errors = self.all.tolist(kept), self.errors.tolist(kept)
        samples = Samples(
            throughput=tuple(float(n) for n in self.answered.tolist(kept)),
            p50=_present(per_second[50.0][:kept]),
            p95=_present(per_second[95.0][:kept]),
            p99=_present(per_second[99.0][:kept]),
            error_rate=tuple(e / n for e, n in zip(errors, totals, strict=True) if n),
        )
        return _Latencies(samples, whole)


def _read_batches(path: Path, judged: _Judged, batch_rows: int | None) -> _Read:
    sums = _RunSums(judged)
    for batch in batches(path, COMPARE_COLUMNS, batch_rows):
        sums.add(batch.requests, batch.offset)
    return sums.read()


def _present(values: Sequence[float | None]) -> tuple[float, ...]:
    return tuple(v for v in values if v is not None)


def samples(records: Requests) -> Samples:
    """Throughput and latency of answered requests per second; the error rate of all,
    over the whole seconds [k, k+1) up to the last record. The cut-off last second is
    left out: its count says where the load stopped, not how fast the cluster was."""
    if not len(records):
        return Samples((), (), (), (), ())
    seconds = Seconds(records)
    # Python's slice of the bins, so a negative last time keeps what it always kept.
    kept = len(range(seconds.count)[: math.floor(records.t_s[-1])])
    inside = seconds.bin < kept
    answered = inside & ~records.is_error()
    replies = seconds.throughput(answered)[:kept]
    latency = seconds.latency(answered)
    totals = seconds.throughput(inside)[:kept]
    errors = seconds.throughput(inside & records.is_error())[:kept]
    # A second without replies has a throughput (zero) but no latency.
    return Samples(
        throughput=tuple(float(n) for n in replies),
        p50=_present(latency.percentile(50.0)[:kept]),
        p95=_present(latency.percentile(95.0)[:kept]),
        p99=_present(latency.percentile(99.0)[:kept]),
        error_rate=tuple(e / n for e, n in zip(errors, totals, strict=True) if n),
    )


def whole_run(records: Requests) -> dict[str, float | None]:
    """Throughput and latency percentiles of answered requests, the error rate of all."""
    n = len(records)
    ordered = np.sort(records.latency_ms[~records.is_error()])
    span = records.span_s()
    values: dict[str, float | None] = {
        "rps": len(ordered) / span if span > 0 else None,
        "error_rate": (n - len(ordered)) / n if n else None,
    }
    for p in (50, 95, 99):
        values[f"p{p}_ms"] = nearest_rank(ordered, p) if len(ordered) else None
    return values


def first_fault_at(manifest: dict[str, Any]) -> float | None:
    faults = manifest.get("faults")
    if not isinstance(faults, list):
        faults = dig(manifest, "summary", "faults")
    times = [
        t
        for f in (faults if isinstance(faults, list) else [])
        if (t := number(dig(f, "at_s"))) is not None
    ]
    return min(times) if times else None


def recovery_time(run: _Run) -> float | None:
    """The first delivered fault's recovery, as the run's judgement defines it: until
    failures stopped and every judged user was answered again. None without a fault;
    math.inf when it never recovered."""
    return run.judgement.recovery_s


def recovery_after_restore(run: _Run) -> float | None:
    """For a first fault that never recovered while it lasted: seconds from the restore
    that ended it (a heal, a restart) to the recovery, math.inf if not even then; None
    for a fault that recovered, or one that no restore ended."""
    after = run.judgement.recovery_after_restore
    return after[1] if after else None


# --------------------------------------------------------------------------- comparability


def _machine_class(manifest: dict[str, Any]) -> str:
    cores = number(dig(manifest, "machine", "cores"))
    memory = number(dig(manifest, "machine", "memory_bytes"))
    cores_text = MISSING if cores is None else f"{cores:g}"
    memory_text = MISSING if memory is None else f"{round(memory / GIB)}"
    return f"{cores_text} cores, {memory_text} GiB"


_IDENTITY: tuple[tuple[str, Callable[[dict[str, Any]], object]], ...] = (
    ("profile", lambda m: dig(m, "profile", "name")),
    ("balancer", lambda m: dig(m, "lab", "balancer")),
    ("session store", lambda m: dig(m, "lab", "session_store")),
    ("machine class", _machine_class),
)
# Not reasons to refuse, but a reader of the numbers must know.
_LOAD = (
    ("tool", "load generator"),
    ("model", "load model"),
    ("duration_s", "load duration (s)"),
    ("wait_s", "wait (s)"),
    ("rate", "fixed rate (req/s)"),
    ("arrival_rate", "arrival rate (req/s)"),
)


def _schedule(manifest: dict[str, Any]) -> list[tuple[str, str, float]]:
    """The faults a run planned: (action, target, seconds). A spec ("sigkill:node1@10")
    gives the planned time; a run written before specs were kept, its delivery time."""
    planned = []
    faults = manifest.get("faults")
    for f in faults if isinstance(faults, list) else []:
        if not isinstance(f, dict) or str(f.get("action", "")).startswith("director"):
            continue
        spec = str(f.get("spec") or "")
        at = number(f.get("at_s")) or number(f.get("planned_at_s")) or math.nan
        if "@" in spec:
            at = float(spec.rsplit("@", 1)[1].split("-", maxsplit=1)[0])
        planned.append((str(f.get("action")), str(f.get("target")), at))
    return planned


def _same_schedule(base: list[tuple[str, str, float]], head: list[tuple[str, str, float]]) -> bool:
    # A fault is delivered a few hundredths of a second after it is due.
    return len(base) == len(head) and all(
        (a1, t1) == (a2, t2) and abs(s1 - s2) < 1.0
        for (a1, t1, s1), (a2, t2, s2) in zip(base, head, strict=True)
    )


def _schedule_text(schedule: list[tuple[str, str, float]]) -> str:
    return ", ".join(f"{a}:{t}@{s:g}" for a, t, s in schedule) or "no fault"


def _fault_problems(base: _Run, head: _Run) -> list[str]:
    """Different fault plans, or the same plan where one run's fault never reached it
    (its users' fates say nothing of surviving it)."""
    b_faults, h_faults = _schedule(base.manifest), _schedule(head.manifest)
    if not _same_schedule(b_faults, h_faults):
        return [
            f"different fault schedules: base {_schedule_text(b_faults)}, "
            f"head {_schedule_text(h_faults)}"
        ]
    b_missed, h_missed = _not_delivered(base), _not_delivered(head)
    if b_missed != h_missed:
        return [f"faults not delivered: base {b_missed or 'none'}, head {h_missed or 'none'}"]
    return []


def _not_delivered(run: _Run) -> str:
    return ", ".join(w.spec or w.label for w in run.judgement.undelivered)


def _check_comparable(base: _Run, head: _Run, allow_different_profile: bool) -> list[str]:
    """Raise CannotCompare naming every difference that makes the runs incomparable;
    return notes on differences that do not."""
    notes: list[str] = []
    problems: list[str] = []
    for what, get in _IDENTITY:
        b, h = get(base.manifest), get(head.manifest)
        if b == h:
            continue
        text = f"different {what}: base {b!r}, head {h!r}"
        if what == "profile" and allow_different_profile:
            notes.append(f"{text} (compared on purpose: --allow-different-profile)")
        elif what == "profile":
            problems.append(f"{text} (--allow-different-profile compares them anyway)")
        else:
            problems.append(text)
    problems += _fault_problems(base, head)
    b_users, h_users = dig(base.manifest, "load", "users"), dig(head.manifest, "load", "users")
    if b_users != h_users:
        problems.append(f"different numbers of users: base {b_users!r}, head {h_users!r}")
    for role, run in (("base", base), ("head", head)):
        if run.summary.get("generator_bound") is True:
            problems.append(
                f"{role} was generator-bound (summary.generator_bound): its throughput "
                f"measures {dig(run.manifest, 'load', 'tool') or 'the load generator'}, "
                "not the server"
            )
    if problems:
        raise CannotCompare("; ".join(problems))
    for key, label in _LOAD:
        b, h = dig(base.manifest, "load", key), dig(head.manifest, "load", key)
        if b != h:
            notes.append(f"different {label}: base {b!r}, head {h!r}")
    notes += _unfinished_notes(base, head)
    return notes


def _unfinished_notes(base: _Run, head: _Run) -> list[str]:
    """A run from before the requests in flight at the stop were kept judged a user hung
    to the end as kept: beside a run that has them, its users may read better."""
    older = [
        role
        for role, run in (("base", base), ("head", head))
        if unfinished_of(run.manifest) is None
    ]
    if len(older) != 1:
        return []
    return [
        f"{older[0]} is from before requests in flight at the stop were kept: a user whose "
        "last request hung to the end reads kept there, and its waits may read shorter"
    ]


def whose_throughput(role: str, run: _Run) -> str:
    """One line per run: is its throughput the server's? (A bound run never gets here.)"""
    telemetry = run.summary.get("telemetry")
    tool = dig(run.manifest, "load", "tool") or "the load generator"
    if not isinstance(telemetry, dict):
        return f"{role}: no telemetry recorded: whose throughput it is cannot be told"
    if "generator_bound" in run.summary and run.summary["generator_bound"] is None:
        return f"{role}: whether {tool} was the limit could not be judged (no steady second)"
    used = number(dig(telemetry, "cpu_cores_mean", "generator"))
    cores = f"{used:.2f} cores" if used is not None else "an unknown share of a core"
    return f"{role}: throughput is the server's ({tool} used {cores}, not the limit)"


# --------------------------------------------------------------------------- metrics


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    # Kept apart from WITHIN: a large change that noise could explain is worth a rerun.
    NOT_SIGNIFICANT = "beyond threshold, not significant"
    WITHIN = "within threshold"
    SAME = "same"
    NA = "n/a"


@dataclass(frozen=True)
class Metric:
    name: str
    base: float | None
    head: float | None
    base_text: str
    head_text: str
    change: str
    significance: str
    verdict: Verdict
    reason: str


def _ratio_text(worse_factor: float, worse: str, better: str) -> str:
    # pyperf's wording: a factor above 1 in the direction the reader cares about.
    if worse_factor == 1.0:
        return "same"
    if worse_factor > 1.0:
        return f"{worse_factor:.2f}x {worse}"
    return f"{1 / worse_factor:.2f}x {better}"


def _test_text(test: Test | None, alpha: float) -> str:
    if test is None:
        return "too few runs or seconds to test"
    return test.words(alpha)


def _test(stat: _Stat, alpha: float) -> Test | None:
    """Across runs when each side has several (pyperf's way); otherwise a block bootstrap
    over one run's seconds. None when the sizes cannot reach alpha at all."""
    if len(stat.base_runs) >= 2 and len(stat.head_runs) >= 2:
        if smallest_p(len(stat.base_runs), len(stat.head_runs)) >= alpha:
            return None
        return permutation_test(stat.base_runs, stat.head_runs)
    if min(len(stat.base_samples), len(stat.head_samples)) < 2 * BLOCK_S:
        return None
    return block_bootstrap(stat.base_samples, stat.head_samples, stat.per_second)


@dataclass(frozen=True)
class _Stat:
    """One performance metric of both sides: the value (the mean of the runs' whole-run
    values), each run's value, and one run's per-second samples (for a single run a side)."""

    name: str
    unit: str
    base: float | None
    head: float | None
    base_samples: Sequence[float]
    head_samples: Sequence[float]
    higher_is_better: bool
    base_runs: Sequence[float] = ()
    head_runs: Sequence[float] = ()
    per_second: Statistic = mean


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return MISSING
    if math.isinf(value):
        return "never"
    return f"{value:,.2f} {unit}".rstrip()


def _missing(stat: _Stat) -> Metric | None:
    if stat.base is not None and stat.head is not None:
        return None
    side = "base" if stat.base is None else "head"
    return Metric(
        stat.name,
        stat.base,
        stat.head,
        _fmt(stat.base, stat.unit),
        _fmt(stat.head, stat.unit),
        MISSING,
        MISSING,
        Verdict.NA,
        f"{stat.name}: {side} run does not record it",
    )


def _direction(stat: _Stat, test: Test | None, alpha: float) -> int:
    """+1 if head's seconds are significantly worse, -1 if significantly better, else 0."""
    if test is None or test.p >= alpha:
        return 0
    return 1 if test.head_higher != stat.higher_is_better else -1


def _factor(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return 1.0 if numerator <= 0 else math.inf


def _factor_text(stat: _Stat, factor: float) -> str:
    if 0 < factor < math.inf:
        return _ratio_text(factor, "slower", "faster")
    # A zero on either side has no ratio worth printing; the difference is what happened.
    return f"{cast(float, stat.head) - cast(float, stat.base):+,.2f} {stat.unit}"


def _judge_factor(stat: _Stat, threshold: float, alpha: float) -> Metric:
    """A metric whose change is a factor: throughput and latency percentiles."""
    if (missing := _missing(stat)) is not None:
        return missing
    base, head = cast(float, stat.base), cast(float, stat.head)
    factor = _factor(base, head) if stat.higher_is_better else _factor(head, base)
    test = _test(stat, alpha)
    direction = _direction(stat, test, alpha)
    change = _factor_text(stat, factor)
    limit = f"threshold {threshold:.2f}x"
    if direction > 0 and factor > threshold:
        verdict, reason = Verdict.REGRESSION, f"{change} ({limit}) and significant"
    elif direction < 0 and factor < 1 / threshold:
        verdict, reason = Verdict.IMPROVEMENT, f"{change} ({limit}) and significant"
    elif factor == 1.0:
        verdict, reason = Verdict.SAME, change
    elif factor > threshold or factor < 1 / threshold:
        verdict, reason = Verdict.NOT_SIGNIFICANT, f"{change}, not significant"
    else:
        verdict, reason = Verdict.WITHIN, f"{change}, within the {limit}"
    texts = (_fmt(base, stat.unit), _fmt(head, stat.unit))
    return _metric(
        stat, texts, change=change, test=test, alpha=alpha, verdict=verdict, reason=reason
    )


def _metric(
    stat: _Stat,
    texts: tuple[str, str],
    *,
    change: str,
    test: Test | None,
    alpha: float,
    verdict: Verdict,
    reason: str,
) -> Metric:
    tested = _test_text(test, alpha)
    because = f"{stat.name}: {texts[1]} vs {texts[0]}: {reason}" + (f"; {tested}" if test else "")
    return Metric(stat.name, stat.base, stat.head, *texts, change, tested, verdict, because)


def _judge_error_rate(stat: _Stat, max_increase_pp: float, alpha: float) -> Metric:
    """The error rate changes in percentage points: a ratio of two small rates (0.1% to
    0.2%: "2.00x") overstates what users saw, and is undefined from a clean base."""
    if (missing := _missing(stat)) is not None:
        return missing
    base, head = cast(float, stat.base), cast(float, stat.head)
    delta_pp = 100 * (head - base)
    test = _test(stat, alpha)
    direction = _direction(stat, test, alpha)
    change = "same" if delta_pp == 0 else f"{delta_pp:+.2f} pp"
    if base > 0 and head > 0 and head != base:
        change += f" ({_ratio_text(head / base, 'worse', 'better')})"
    limit = f"threshold {max_increase_pp:g} pp"
    if direction > 0 and delta_pp > max_increase_pp:
        verdict, reason = Verdict.REGRESSION, f"{change} ({limit}) and significant"
    elif direction < 0 and -delta_pp > max_increase_pp:
        verdict, reason = Verdict.IMPROVEMENT, f"{change} ({limit}) and significant"
    elif delta_pp == 0:
        verdict, reason = Verdict.SAME, change
    elif abs(delta_pp) > max_increase_pp:
        verdict, reason = Verdict.NOT_SIGNIFICANT, f"{change}, not significant"
    else:
        verdict, reason = Verdict.WITHIN, f"{change}, within the {limit}"
    texts = (_fmt(100 * base, "%"), _fmt(100 * head, "%"))
    return _metric(
        stat, texts, change=change, test=test, alpha=alpha, verdict=verdict, reason=reason
    )


def _recovery_change(base: float, head: float) -> tuple[float, str]:
    """The slowdown factor (head/base) and how to show it; inf means "never recovered"."""
    if head == base:
        return 1.0, "same (neither recovered)" if math.isinf(head) else "same"
    if math.isinf(head):
        return math.inf, "head never recovered"
    if math.isinf(base):
        return 0.0, "base never recovered"
    if base <= 0:
        # A fault that disturbed nothing: no ratio to print.
        return math.inf, f"{head - base:+.2f} s"
    if head <= 0:
        return 0.0, f"{head - base:+.2f} s"
    return head / base, _ratio_text(head / base, "slower", "faster")


def _judge_recovery(
    base: float | None, head: float | None, limits: Recovery, name: str = "recovery time"
) -> Metric:
    """One value per run, so no spread to test: a slowdown counts only if it is also at
    least min_increase_s longer, since 1-second bins cannot resolve less."""
    texts = (_fmt(base, "s"), _fmt(head, "s"))
    if base is None or head is None:
        side = "base" if head is not None else "head" if base is not None else "either run"
        reason = f"{name}: no fault in {side}"
        return Metric(name, base, head, *texts, MISSING, MISSING, Verdict.NA, reason)
    factor, change = _recovery_change(base, head)
    # inf - inf is NaN, which fails both comparisons below, as "neither recovered" should.
    delta = head - base
    limit = f"threshold {limits.max_slowdown:.2f}x and +{limits.min_increase_s:g} s"
    if factor > limits.max_slowdown and delta >= limits.min_increase_s:
        verdict, reason = Verdict.REGRESSION, f"{change} ({limit})"
    elif factor < 1 / limits.max_slowdown and -delta >= limits.min_increase_s:
        verdict, reason = Verdict.IMPROVEMENT, f"{change} ({limit})"
    elif factor == 1.0:
        verdict, reason = Verdict.SAME, change
    else:
        verdict, reason = Verdict.WITHIN, f"{change}, within the {limit}"
    return Metric(
        name, base, head, *texts, change, "one value per run", verdict,
        f"{name}: {texts[1]} vs {texts[0]}: {reason}",
    )  # fmt: skip


@dataclass(frozen=True)
class _Exact:
    name: str
    lost_key: str
    label: str
    kept_view: bool


_EXACT = (
    _Exact(
        "sessions kept",
        "sessions_lost",
        "lost their session or got no reply after a fault",
        kept_view=True,
    ),
    _Exact("data kept", "data_lost", "lost data (counter went back)", kept_view=True),
)
_REPLAYED = _Exact("replayed", "replayed", "saw a replayed request", kept_view=False)
# Of the users unanswered through a fault, those never answered after its heal or restart
# either: "sessions kept" counts both alike, so a head whose users never came back, where
# the base's did, read the same. Shown only where a side had users answered again.
_ANSWERED_AGAIN = _Exact(
    "answered again", "never_answered_again", "never answered again after a fault", kept_view=True
)


def correctness(judgement: Judgement) -> dict[str, int]:
    """What _EXACT reads, from the run's one judgement: a user unanswered while a fault
    lasted did not keep its session through it (even if answered after its heal)."""
    fates = judgement.counts()
    return {
        "users": judgement.users,
        "sessions_lost": fates[o.LOST] + fates[o.UNANSWERED],
        "data_lost": fates[o.DATA],
        "replayed": fates[o.REPLAY],
        "never_answered_again": fates[o.UNANSWERED] - len(judgement.answered_again()),
    }


def _judge_exact(spec: _Exact, base: dict[str, Any], head: dict[str, Any]) -> Metric:
    """Correctness: no tolerance and no statistics; a single extra affected user fails."""
    b_lost, h_lost = number(base.get(spec.lost_key)), number(head.get(spec.lost_key))
    b_users, h_users = number(base.get("users")), number(head.get("users"))

    def shown(lost: float | None, users: float | None) -> tuple[float | None, str]:
        if lost is None or (spec.kept_view and users is None):
            return None, MISSING
        if not spec.kept_view:
            return lost, f"{lost:g} users"
        kept = cast(float, users) - lost
        return kept, f"{kept:g}/{cast(float, users):g}"

    (b_value, b_text), (h_value, h_text) = shown(b_lost, b_users), shown(h_lost, h_users)
    if b_lost is None or h_lost is None or b_value is None or h_value is None:
        side = "base" if b_value is None else "head"
        return Metric(
            spec.name, b_value, h_value, b_text, h_text, MISSING, "exact", Verdict.NA,
            f"{spec.name}: {side} run does not record summary.{spec.lost_key}",
        )  # fmt: skip
    change = "same" if h_lost == b_lost else f"{h_lost - b_lost:+g} users {spec.label}"
    if spec.kept_view and h_users == 0 and cast(float, b_users) > 0:
        # No request, or none answered before its fault: 0 of 0 lost is no evidence.
        verdict = Verdict.REGRESSION
        change = "nobody judged"
        reason = f"head judged no user, base {b_users:g}: it kept nothing it can show"
    elif h_lost > b_lost:
        verdict = Verdict.REGRESSION
        reason = f"{h_lost:g} users {spec.label} in head, {b_lost:g} in base (no tolerance)"
    elif h_lost < b_lost:
        verdict = Verdict.IMPROVEMENT
        reason = f"{h_lost:g} users {spec.label} in head, {b_lost:g} in base"
    else:
        verdict, reason = Verdict.SAME, f"{h_lost:g} users {spec.label} in both"
    return Metric(
        spec.name, b_value, h_value, b_text, h_text, change, "exact", verdict,
        f"{spec.name}: {reason}",
    )  # fmt: skip


def _judge_replays(base: _Side, head: _Side, alpha: float) -> Metric:
    """Replays are counted exactly, but they come and go between repeats of one
    configuration (a balancer retrying what a dying node had already run: 0 to 2 users in
    ten repeats of the smoke bench), so more of them is a regression only across runs."""
    b = [correctness(r.judgement)["replayed"] for r in base.runs]
    h = [correctness(r.judgement)["replayed"] for r in head.runs]
    worst = _judge_exact(_REPLAYED, {"replayed": max(b)}, {"replayed": max(h)})
    more_per_run = statistics.fmean(h) > statistics.fmean(b)
    if worst.verdict is not Verdict.REGRESSION and not more_per_run:
        return worst
    test = None
    if min(len(b), len(h)) >= 2 and smallest_p(len(b), len(h)) < alpha:
        test = permutation_test([float(v) for v in b], [float(v) for v in h])
    if test is not None and test.p < alpha and test.head_higher:
        return replace(worst, significance=test.words(alpha), verdict=Verdict.REGRESSION)
    why = (
        test.words(alpha)
        if test
        else "one run a side cannot tell: replays vary between repeats; repeat the runs"
    )
    return replace(
        worst,
        significance=why,
        verdict=Verdict.NOT_SIGNIFICANT,
        reason=f"replayed: {max(h)} users saw a replayed request in head, {max(b)} in base; {why}",
    )


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class RunInfo:
    name: str
    series: Series


@dataclass(frozen=True)
class Comparison:
    base: RunInfo
    head: RunInfo
    metrics: tuple[Metric, ...]
    notes: tuple[str, ...]
    alpha: float
    refused: str | None = None  # why speed was not compared (correctness was)

    @property
    def regressions(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.verdict is Verdict.REGRESSION)

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)


def both_corrected(base: _Side, head: _Side) -> bool:
    """Open-model runs on both sides: latency is judged corrected for coordinated omission."""
    return all(run.corrected is not None for run in (*base.runs, *head.runs))


def _all_corrected(records: Requests) -> bool:
    corrected = records.corrected_ms
    return bool(len(records)) and corrected is not None and not np.isnan(corrected).any()


def _as_corrected(records: Requests) -> Requests:
    corrected = records.corrected_ms
    if corrected is None:
        return records
    return records.with_latency(np.where(np.isnan(corrected), records.latency_ms, corrected))


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _performance(base: _Side, head: _Side, limits: Thresholds) -> list[Metric]:
    """From the records of both sides alike: answered requests, and in the open model the
    corrected latency on both sides (the same numbers whatever the summaries hold). A
    side's value is the mean of its runs' whole-run values."""
    corrected = both_corrected(base, head)

    def speed(run: _Run) -> _Latencies:
        return run.corrected if corrected and run.corrected is not None else run.measured

    sb, sh = speed(base.first).samples, speed(head.first).samples
    wb = [speed(r).whole for r in base.runs]
    wh = [speed(r).whole for r in head.runs]
    alpha = limits.significance.alpha

    def stat(
        name: str,
        key: str,
        unit: str,
        seconds: tuple[Sequence[float], Sequence[float]],
        *,
        higher_is_better: bool,
        per_second: Statistic = mean,
    ) -> _Stat:
        b_runs = [v for w in wb if (v := w[key]) is not None]
        h_runs = [v for w in wh if (v := w[key]) is not None]
        return _Stat(
            name, unit, _mean(b_runs), _mean(h_runs), seconds[0], seconds[1],
            higher_is_better, base_runs=b_runs, head_runs=h_runs, per_second=per_second,
        )  # fmt: skip

    throughput = stat(
        "throughput", "rps", "req/s", (sb.throughput, sh.throughput), higher_is_better=True
    )
    metrics = [_judge_factor(throughput, limits.throughput.max_slowdown, alpha)]
    for name, b, h, threshold in (
        ("p50", sb.p50, sh.p50, limits.latency.p50),
        ("p95", sb.p95, sh.p95, limits.latency.p95),
        ("p99", sb.p99, sh.p99, limits.latency.p99),
    ):
        latency = stat(
            f"latency {name}", f"{name}_ms", "ms", (b, h),
            higher_is_better=False, per_second=median,
        )  # fmt: skip
        metrics.append(_judge_factor(latency, threshold, alpha))
    errors = stat(
        "error rate", "error_rate", "%", (sb.error_rate, sh.error_rate), higher_is_better=False
    )
    metrics.append(_judge_error_rate(errors, limits.error_rate.max_increase_pp, alpha))
    return metrics


def compare_runs(
    base_dir: Path,
    head_dir: Path,
    thresholds: Thresholds,
    *,
    allow_different_profile: bool = False,
    streaming: Streaming = DEFAULT_STREAMING,
) -> Comparison:
    """Compare HEAD against BASE. Correctness first: a head that lost what the base kept
    is a regression even where speed cannot be compared; otherwise CannotCompare (one line)
    when the runs differ in what makes speed comparable. streaming: when a requests file
    is read batch by batch (the numbers are the same)."""
    # Side by side: most of a side's read is Parquet decoding and numpy, outside the GIL.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="compare-head") as reader:
        reading = reader.submit(_load_side, head_dir, "head", streaming)
        base = _load_side(base_dir, "base", streaming)
        head = reading.result()
    exact = [_judge_exact_runs(spec, base, head) for spec in _EXACT]
    if any(run.judgement.answered_again() for side in (base, head) for run in side.runs):
        exact.append(_judge_exact_runs(_ANSWERED_AGAIN, base, head))
    exact.append(_judge_replays(base, head, thresholds.significance.alpha))
    alpha = thresholds.significance.alpha
    try:
        notes = _check_sides(base, head, allow_different_profile)
    except CannotCompare as refusal:
        if not any(m.verdict is Verdict.REGRESSION for m in exact):
            raise
        note = f"speed not compared: {refusal}"
        return Comparison(_info(base), _info(head), tuple(exact), (note,), alpha, str(refusal))
    if both_corrected(base, head):
        notes.append("latency compared as corrected for coordinated omission (open model)")
    notes.append(_method_note(base, head))
    notes.extend(
        whose_throughput(role, side.first) for role, side in (("base", base), ("head", head))
    )
    recovery = _judge_recovery(_worst_recovery(base), _worst_recovery(head), thresholds.recovery)
    metrics = [*exact, *_performance(base, head, thresholds), recovery]
    # Neither recovered while the fault lasted: "same (neither recovered)" says nothing of
    # a head that did not recover after its heal or restart either, where the base did.
    after = [_worst_recovery(side, recovery_after_restore) for side in (base, head)]
    if None not in after:
        name = "recovery after the restore"
        metrics.append(_judge_recovery(after[0], after[1], thresholds.recovery, name))
    return Comparison(_info(base), _info(head), tuple(metrics), tuple(notes), alpha)


def _worst_correctness(side: _Side) -> dict[str, int]:
    """A side's correctness as shown: its worst run's, so losses are never averaged away."""
    counts = [correctness(run.judgement) for run in side.runs]
    return {key: max(c[key] for c in counts) for key in counts[0]}


def _mean_of(side: _Side, key: str) -> float:
    return statistics.fmean(correctness(run.judgement)[key] for run in side.runs)


def _judge_exact_runs(spec: _Exact, base: _Side, head: _Side) -> Metric:
    """Worst run against worst run; with several runs a side, also the mean per run, so
    one bad base run cannot hide a head that loses on every run."""
    worst = _judge_exact(spec, _worst_correctness(base), _worst_correctness(head))
    # The worst run's counts take each side's most users: a run of head that judged nobody
    # (no request) would hide behind the others.
    nobody = [run.name for run in head.runs if not run.judgement.users]
    judged_in_base = _worst_correctness(base)["users"] > 0
    if spec.kept_view and nobody and judged_in_base and worst.verdict is not Verdict.REGRESSION:
        return replace(
            worst,
            verdict=Verdict.REGRESSION,
            change="nobody judged",
            reason=f"{spec.name}: head's run {nobody[0]} judged no user: it kept nothing to show",
        )
    if worst.verdict is Verdict.NA or len(base.runs) == len(head.runs) == 1:
        return worst
    b_mean, h_mean = _mean_of(base, spec.lost_key), _mean_of(head, spec.lost_key)
    if h_mean > b_mean and worst.verdict is not Verdict.REGRESSION:
        reason = (
            f"{h_mean:.2g} users {spec.label} per run in head, {b_mean:.2g} in base (no tolerance)"
        )
        return replace(
            worst,
            verdict=Verdict.REGRESSION,
            change=f"{h_mean - b_mean:+.2g} users per run",
            reason=f"{spec.name}: {reason}",
        )
    if h_mean >= b_mean and worst.verdict is Verdict.IMPROVEMENT:
        return replace(worst, verdict=Verdict.SAME, reason=f"{worst.reason}, not per run")
    return worst


def _worst_recovery(
    side: _Side, of: Callable[[_Run], float | None] = recovery_time
) -> float | None:
    times = [t for run in side.runs if (t := of(run)) is not None]
    return max(times) if times else None


def _check_sides(base: _Side, head: _Side, allow_different_profile: bool) -> list[str]:
    """Every run of a side like its first, the two firsts comparable, none generator-bound."""
    for side, role in ((base, "base"), (head, "head")):
        for run in side.runs[1:]:
            try:
                _check_comparable(side.first, run, allow_different_profile=False)
            except CannotCompare as error:
                raise CannotCompare(f"the runs of {role} differ: {error}") from None
    notes = _check_comparable(base.first, head.first, allow_different_profile)
    for side, role in ((base, "base"), (head, "head")):
        for run in side.runs[1:]:
            if run.summary.get("generator_bound") is True:
                raise CannotCompare(f"{role}: {run.name} was generator-bound")
    return notes


def _method_note(base: _Side, head: _Side) -> str:
    if len(base.runs) >= 2 and len(head.runs) >= 2:
        return (
            f"speed judged across runs ({len(base.runs)} vs {len(head.runs)}): each run one "
            "value, an exact permutation test, pyperf's way"
        )
    return (
        "speed judged on one run a side: a moving-block bootstrap over its seconds; repeat "
        "the runs (bench --repeat N) for a test across runs"
    )


def _info(side: _Side) -> RunInfo:
    return RunInfo(side.name, side.first.series)


# --------------------------------------------------------------------------- rendering

_COLUMNS = ("metric", "base", "head", "change", "significance", "verdict")
_VERDICT_STYLE = {
    Verdict.REGRESSION: "bold red",
    Verdict.IMPROVEMENT: "green",
    Verdict.NOT_SIGNIFICANT: "yellow",
    Verdict.WITHIN: "",
    Verdict.SAME: "",
    Verdict.NA: "dim",
}


def _cells(m: Metric) -> tuple[str, ...]:
    return (m.name, m.base_text, m.head_text, m.change, m.significance, m.verdict.value)


def verdict_lines(c: Comparison) -> list[str]:
    """One line per regression naming the metric and why; one line when there is none."""
    if not c.regressions:
        return [f"no regression: {c.head.name} vs {c.base.name}"]
    return [f"regression: {m.reason}" for m in c.regressions]


def render_table(c: Comparison) -> Table:
    table = Table(title=f"compare: base {c.base.name} -> head {c.head.name}")
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in ("base", "head") else "left")
    for m in c.metrics:
        table.add_row(*_cells(m), style=_VERDICT_STYLE[m.verdict])
    return table


def render_junit(c: Comparison) -> str:
    """Each metric a test case; a regression its failure (CI systems show JUnit XML)."""
    cases = [(m.name, m.verdict is not Verdict.REGRESSION, m.reason) for m in c.metrics]
    if c.refused:
        cases.append(("speed comparable", False, f"speed not compared: {c.refused}"))
    return junit_xml(f"compare {c.base.name} -> {c.head.name}", cases)


def _md_cell(text: str) -> str:
    return text.replace("|", r"\|")


def render_markdown(c: Comparison) -> str:
    lines = [
        f"### compare: base `{c.base.name}` -> head `{c.head.name}`",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "| " + " | ".join("---:" if col in ("base", "head") else "---" for col in _COLUMNS) + " |",
    ]
    for m in c.metrics:
        cells = list(_cells(m))
        if m.verdict is Verdict.REGRESSION:
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
    lines.append("")
    lines.extend(f"- note: {_md_cell(note)}" for note in c.notes)
    lines.extend(f"- {_md_cell(line)}" for line in verdict_lines(c))
    return "\n".join(lines) + "\n"


def _centres(n: int) -> list[float]:
    # A bin covers [i, i+1); its middle keeps it on the right side of a fault line.
    return [i + 0.5 for i in range(n)]


def _figure(c: Comparison) -> TimeFigure:
    fig = TimeFigure(2, "Per-second throughput and p99, base and head overlaid", 650)
    runs = (("base", c.base, BASE_COLOUR), ("head", c.head, HEAD_COLOUR))
    for role, info, colour in runs:
        # Escaped: run ids come from files, and plotly renders some HTML in legends.
        label = html.escape(f"{role}: {info.name}", quote=False)
        x = _centres(len(info.series.throughput))
        fig.add_trace(
            go.Scatter(x=x, y=list(info.series.throughput), name=f"{label} throughput",
                       mode="lines", line={"color": colour}, hovertemplate="%{y} req/s"),
            row=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=x, y=list(info.series.p99_ms), name=f"{label} p99", mode="lines",
                       line={"color": colour, "dash": "dot"}, hovertemplate="%{y:.2f} ms"),
            row=2,
        )  # fmt: skip
        if info.series.fault_at_s is not None:
            fig.vertical_line(info.series.fault_at_s, {"color": colour, "dash": "dash", "width": 1})
    fig.y_axis(1, "answered (req/s)", rangemode="tozero")
    # Log scale: a failover spike must not flatten the steady-state p99 of either run.
    fig.y_axis(2, "p99 per 1-s bin (ms)", type="log")
    return fig


def render_html(c: Comparison, base_dir: Path, head_dir: Path) -> str:
    """A self-contained page: the table, and one figure with plotly.js inlined once."""
    return render_page(
        "compare.html.j2",
        base=c.base.name,
        head=c.head.name,
        base_dir=base_dir,
        head_dir=head_dir,
        alpha=f"{c.alpha:g}",
        columns=_COLUMNS,
        numeric=("base", "head"),
        rows=[(m.verdict.name.lower(), _cells(m)) for m in c.metrics],
        notes=c.notes,
        verdicts=verdict_lines(c),
        chart=figure_html(_figure(c), "compare"),
    )


# --------------------------------------------------------------------------- command


def _say(console: _Console, line: str, style: str) -> None:
    # soft_wrap: a verdict stays one line in a CI log however narrow the terminal;
    # markup off: paths and run ids may contain [brackets].
    console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


def _write(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def run(  # noqa: PLR0917 - the positional signature cli.py calls
    base: str,
    head: str,
    thresholds: str | None,
    markdown: str | None,
    html: str | None,
    console: _Console,
    *,
    allow_different_profile: bool = False,
    junit: str | None = None,
) -> int:
    """`python -m harness compare`: 0 no regression, 1 regression, 2 cannot compare."""
    base_dir, head_dir = Path(base), Path(head)
    try:
        limits = load_thresholds(Path(thresholds) if thresholds else None)
        comparison = compare_runs(
            base_dir, head_dir, limits, allow_different_profile=allow_different_profile
        )
    except (CannotCompare, ThresholdsError) as error:
        _say(console, f"cannot compare: {error}", "red")
        return 2
    console.print(render_table(comparison))
    for note in comparison.notes:
        _say(console, f"note: {note}", "")
    try:
        if markdown:
            _write(markdown, render_markdown(comparison))
        if html:
            _write(html, render_html(comparison, base_dir, head_dir))
        if junit:
            _write(junit, render_junit(comparison))
    except OSError as error:
        _say(console, f"cannot write: {error}", "red")
        return 2
    style = "bold red" if comparison.regressions else "green"
    for line in verdict_lines(comparison):
        _say(console, line, style)
    return 1 if comparison.regressions else 0
