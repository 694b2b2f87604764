"""Typed models of every document a run writes, and the one reader that checks them.

Each document names its kind ("schema": "tomcat-bench/run") and version; `read(path,
kind)` refuses another kind or a version this harness does not know, and a document
that does not fit its model, in one line naming the file and the key. The models are
open (extra keys are kept): a newer writer may add what an older reader does not know.
The JSON Schema files in docs/schema/ are generated from these models (`make schemas`),
and a test keeps them current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.config.tomlfile import describe


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Document(_Open):
    schema_id: str = Field(alias="schema")
    schema_version: int


# ------------------------------------------------------------------------- run.json


class Fault(_Open):
    """A fault as the run delivered it (at_s), or could not (fault_error)."""

    action: str
    target: str
    at_s: float | None = None
    planned_at_s: float | None = None
    restored_at_s: float | None = None
    spec: str | None = None
    fault_error: str | None = None
    restore_error: str | None = None


class Window(_Open):
    """One window of the judgement (results/judgement.py)."""

    kind: Literal["control", "fault", "restore"]
    label: str
    at_s: float | None
    until_s: float | None
    delivered: bool
    error: str | None = None
    users: int
    fates: dict[str, int]
    requests: int
    errors: int
    failed_requests: int
    recovery_s: float | None = None
    recovered: bool | None = None


class Judgement(_Open):
    users: int
    fates: dict[str, int]
    failed_requests: int
    unstable_users: int
    control: Window
    windows: list[Window]


class Summary(_Open):
    """run.json's summary. Before version 3 there was no judgement, and rps and the
    percentiles included errors."""

    requests: int | None = None
    failures: int | None = None
    errors: int | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    users: int | None = None
    sessions_kept: int | None = None
    sessions_lost: int | None = None
    data_lost: int | None = None
    replayed: int | None = None
    unanswered: int | None = None
    answered: int | None = None
    error_rate: float | None = None
    judgement: Judgement | None = None
    generator_bound: bool | None = None


class VerdictCell(_Open):
    """One verdict of verdicts.json (and of run.json's verdicts)."""

    balancer: str
    sessions: str
    fault: str
    verdict: str
    users: int | None = None
    kept: int | None = None
    data_kept: int | None = None
    lost: int | None = None
    unanswered: int | None = None
    failed_requests: int | None = None
    recovery_s: float | None = None
    recovered: bool | None = None
    longest_wait_s: float | None = None
    scenario: str | None = None  # the session page's (a matrix with a scenario axis)
    # parallel:N only: good replies, and the acknowledged updates a later reply lacked.
    acknowledged_updates: int | None = None
    lost_updates: int | None = None


class UnfinishedRequest(_Open):
    """A request still in flight when the load stopped (seconds from the run's start)."""

    user: int
    sent_s: float
    stopped_s: float


class Run(_Document):
    """run.json of a bench, a web UI run or a capacity step. Its readers show what a
    document lacks as missing, so little is required; what is there must fit."""

    schema_id: Literal["tomcat-bench/run"] = Field(alias="schema")
    run_id: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    start_epoch: float | None = None
    duration_s: float | None = None
    profile: dict[str, Any] | None = None
    lab: dict[str, Any] = {}
    load: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    faults: list[Fault] = []
    summary: Summary = Summary()
    verdicts: list[VerdictCell] = []
    files: dict[str, str] = {}
    complete: bool = True
    interrupted_at_s: float | None = None
    unfinished_requests: list[UnfinishedRequest] = []


class Verdicts(BaseModel):
    """verdicts.json: a list of cells (it predates kinds; its reader knows it by name)."""

    cells: list[VerdictCell]


# ------------------------------------------------------------------------- side files


class RepeatsEntry(_Open):
    run: str


class Repeats(_Document):
    schema_id: Literal["tomcat-bench/repeats"] = Field(alias="schema")
    complete: bool = True
    runs: list[RepeatsEntry]


class LatencyHdr(_Open):
    """latency_hdr.json (named by "format", not "schema": it came first)."""

    format: Literal["tomcat-bench/latency-hdr"]
    unit: Literal["us"]
    processes: int | None = None
    latency: str | None = None
    histograms: dict[str, str]


class Matrix(_Document):
    schema_id: Literal["tomcat-bench/matrix"] = Field(alias="schema")
    profile: str
    balancers: list[str]
    sessions: list[str]
    scenarios: list[str] = []


class Profiles(_Document):
    schema_id: Literal["tomcat-bench/profiles"] = Field(alias="schema")
    runs: list[dict[str, Any]]


class Perf(_Document):
    schema_id: Literal["tomcat-bench/perf"] = Field(alias="schema")


class TlsCost(_Document):
    """tls.json of `make tls`: per balancer, each mode's figures and its ratios to plain."""

    schema_id: Literal["tomcat-bench/tls"] = Field(alias="schema")
    balancers: dict[str, dict[str, Any]]


class Scale(_Document):
    """scale.json of `make scale`: a row per strategy and node count, and the claims."""

    schema_id: Literal["tomcat-bench/scale"] = Field(alias="schema")
    rows: list[dict[str, Any]]
    claims: list[dict[str, Any]]


class Timing(_Document):
    """timing.json of `make timing`: lab up per store, bench overhead, report times."""

    schema_id: Literal["tomcat-bench/timing"] = Field(alias="schema")
    lab_up: dict[str, dict[str, Any]]
    benches: list[dict[str, Any]]
    results: list[dict[str, Any]]
    # {"one_core_task_s": {"start": s, "end": s}, "memory_task_s": {...}}: the machine's
    # speed (older runs: none, or the one-core task alone)
    machine: dict[str, Any] | None = None


class Capacity(_Document):
    schema_id: Literal["tomcat-bench/capacity"] = Field(alias="schema")
    steps: list[dict[str, Any]]


class Storebench(_Document):
    """storebench's run.json: its own document, not a bench run."""

    schema_id: Literal["tomcat-bench/storebench"] = Field(alias="schema")
    run_id: str
    complete: bool
    verdicts: list[dict[str, Any]] = []


# kind -> (model, the versions this harness reads)
KINDS: dict[str, tuple[type[BaseModel], tuple[int, ...]]] = {
    "run": (Run, (1, 2, 3, 4)),
    "repeats": (Repeats, (1,)),
    "matrix": (Matrix, (1,)),
    "profiles": (Profiles, (1,)),
    "perf": (Perf, (1,)),
    "capacity": (Capacity, (1,)),
    "tls": (TlsCost, (1,)),
    "scale": (Scale, (1,)),
    "timing": (Timing, (1,)),
    "storebench": (Storebench, (1,)),
    "latency-hdr": (LatencyHdr, ()),
    "verdicts": (Verdicts, ()),
}


def read(path: Path, kind: str) -> Any:
    """The document at path as its model; ValueError (one line naming the file and the
    key) if it is missing, not JSON, another kind, an unknown version or malformed."""
    model, versions = KINDS[kind]
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file (expected a {kind} document)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if kind == "verdicts":
        data = {"cells": data}
    elif not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    elif versions:
        expected = f"tomcat-bench/{kind}"
        if data.get("schema") != expected:
            raise ValueError(f"{path}: schema: expected {expected!r}, got {data.get('schema')!r}")
        if data.get("schema_version") not in versions:
            readable = ", ".join(str(v) for v in versions)
            raise ValueError(
                f"{path}: schema_version: this harness reads {readable}, "
                f"got {data.get('schema_version')!r}"
            )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValueError(describe(path, error)) from None


def check(data: Any, kind: str, where: Path) -> None:
    """ValueError (one line) unless data is a valid document of this kind."""
    model, _ = KINDS[kind]
    try:
        model.model_validate({"cells": data} if kind == "verdicts" else data)
    except ValidationError as error:
        raise ValueError(describe(where, error)) from None


def write_document(path: Path, data: Any, kind: str) -> Path:
    """Write a document once it fits its model: no writer leaves what readers refuse."""
    check(data, kind, path)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every kind, by file name."""
    return {
        f"{kind}.schema.json": model.model_json_schema(by_alias=True)
        for kind, (model, _) in sorted(KINDS.items())
    }


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
