"""One owner of the results format: every document is read through its model, checked for
kind and version, and the JSON Schema files in docs/schema/ are what the models say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results.models import json_schemas, read
from harness.results.run_folder import write_manifest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schema"


def test_the_committed_json_schemas_are_current() -> None:
    """Regenerate with: make schemas"""
    expected = {name: schema for name, schema in json_schemas().items()}
    committed = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}
    assert committed == expected


@pytest.mark.parametrize(
    "run_json",
    # The fixtures, and the CI gate's baseline until 2026-12-05 (schema 1).
    sorted((ROOT / "tests" / "fixtures" / "results").glob("*/run.json")),
    ids=lambda p: p.parent.name,
)
def test_runs_of_older_schema_versions_still_load(run_json: Path) -> None:
    run = read(run_json, "run")
    assert run.schema_version in (1, 2)
    assert run.summary.requests and run.summary.requests > 0


def test_the_ci_gates_baseline_loads_with_the_requests_it_names() -> None:
    folder = ROOT / "results" / "baselines" / "smoke"
    run = read(folder / "run.json", "run")
    assert run.summary.requests and run.summary.requests > 0
    assert (folder / run.files["requests"]).is_file()


def test_a_document_of_another_kind_or_version_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"schema": "tomcat-bench/storebench", "schema_version": 1}))
    with pytest.raises(ValueError, match="schema: expected 'tomcat-bench/run', got 'tomcat-bench/"):
        read(path, "run")
    path.write_text(json.dumps({"schema": "tomcat-bench/run", "schema_version": 9}))
    with pytest.raises(ValueError, match="schema_version: this harness reads 1, 2, 3, 4, got 9"):
        read(path, "run")


def test_a_malformed_value_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"schema": "tomcat-bench/run", "schema_version": 3,
                                "summary": {"users": "many"}}))  # fmt: skip
    with pytest.raises(ValueError, match=r"run\.json: summary\.users: ") as caught:
        read(path, "run")
    assert "\n" not in str(caught.value)


def test_a_writer_cannot_leave_a_document_readers_would_refuse(tmp_path: Path) -> None:
    bad = {"schema": "tomcat-bench/run", "schema_version": 3, "faults": [{"action": "x"}]}
    with pytest.raises(ValueError, match=r"faults\.0\.target: "):
        write_manifest(tmp_path, bad)
    assert not (tmp_path / "run.json").exists()
