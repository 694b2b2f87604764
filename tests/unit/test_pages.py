"""Every HTML page comes from one shell (harness/report/templates): markup lives in the
templates, plotly.js is inlined once, and whatever a file supplies is escaped."""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from harness.report.capacity import render_sweep
from harness.report.compare import compare_runs, load_thresholds, render_html
from harness.report.matrix import cells_figure, render_matrix
from harness.report.profiles import INDEX_FILE, write_comparison
from harness.report.run import write_report
from harness.report.shell import render_page
from harness.storebench.claims import judge
from harness.storebench.report import write_report as write_storebench_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
RESULTS = FIXTURES / "results"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Tags that mean a page is being put together in Python rather than in a template.
TAG = re.compile(
    r"<(?:html|head|body|header|main|section|style|script|table|caption|tr|th|td|div|span"
    r"|h[1-6]|ul|ol|li)\b|<p[\s>]|<a\s+href",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- no markup in Python


def tags_in_strings(source: str) -> list[tuple[int, str]]:
    """(line, tag) of every string literal in source that holds an HTML tag; f-strings'
    literal parts included, since ast gives them as constants too."""
    return [
        (node.lineno, match.group())
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        for match in [TAG.search(node.value)]
        if match
    ]


def test_the_detector_finds_markup_in_plain_and_f_strings() -> None:
    assert tags_in_strings('page = f"<td>{value}</td>"') == [(1, "<td")]
    assert tags_in_strings('page = "<p>hello"\nother = "<P class=x>"') == [(1, "<p>"), (2, "<P ")]
    assert tags_in_strings('hover = "%{y}<extra></extra>"; text = "a < b"') == []


def test_no_module_under_harness_builds_html_in_strings() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {tag}"
        for path in sorted((ROOT / "harness").rglob("*.py"))
        for line, tag in tags_in_strings(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# --------------------------------------------------------------------------- every page


def _copy(name: str, to: Path) -> Path:
    shutil.copytree(RESULTS / name, to)
    return to


def _set_run_id(run_dir: Path, run_id: str) -> Path:
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest["run_id"] = run_id
    (run_dir / "run.json").write_text(json.dumps(manifest))
    return run_dir


def run_page(tmp_path: Path, text: str) -> str:
    run_dir = _set_run_id(_copy("small-pool", tmp_path / "run"), text)
    return write_report(run_dir).read_text()


def compare_page(tmp_path: Path, text: str) -> str:
    base = _set_run_id(_copy("best-practice-a", tmp_path / "base"), text)
    head = _copy("best-practice-b", tmp_path / "head")
    return render_html(compare_runs(base, head, load_thresholds(None)), base, head)


def matrix_page(tmp_path: Path, text: str) -> str:
    cells = []
    for name in ("best-practice-a", "small-pool"):
        _copy(name, tmp_path / "cells" / name)
        cells.append(
            {"balancer": "nginx-rr", "sessions": name, "fault": "sigkill node1",
             "verdict": f"survives {text}", "run": f"cells/{name}"}
        )  # fmt: skip
    cells.append({"balancer": "l4-hash", "sessions": "redis", "verdict": f"could not run: {text}"})
    return render_matrix(cells, "m", cells_figure(cells, tmp_path))


def profiles_page(tmp_path: Path, text: str) -> str:
    runs: list[dict[str, str]] = []
    for name in ("best-practice-a", "small-pool"):
        _copy(name, tmp_path / "runs" / name)
        runs.append({"profile": f"{name} {text}", "run": f"runs/{name}"})
    runs.append({"profile": text, "error": text})
    index = {"schema": "tomcat-bench/profiles", "schema_version": 1,
             "balancer": "nginx-rr", "sessions": "redis", "users": 20, "duration_s": 15.0,
             "faults": ["sigkill:node1@7.5"], "runs": runs}  # fmt: skip
    (tmp_path / INDEX_FILE).write_text(json.dumps(index))
    return write_comparison(tmp_path).read_text()


def capacity_page(tmp_path: Path, text: str) -> str:
    step = {
        "step": "c8", "model": "closed", "connections": 8, "target_rps": None, "rps": 100.0,
        "p50_ms": 1.0, "p99_ms": 2.0, "p99_corrected_ms": None, "sessions": 8, "failures": 0,
        "data_lost": 0, "replayed": 0, "generator_cpu_ms_per_1000": 30.0,
        "generator_bound": False, "run": "steps/c8",
    }  # fmt: skip
    return render_sweep({"profile": text, "target": "http://t", "steps": [step]})


def storebench_page(tmp_path: Path, text: str) -> str:
    data = json.loads((FIXTURES / "storebench" / "recorded.json").read_text())
    for name in ("cells", "native"):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data[name]))
    for name in ("memory", "restart", "e2e"):
        (tmp_path / f"{name}.json").write_text(json.dumps(data[name]))
    (tmp_path / "claims.json").write_text(json.dumps(judge(**copy.deepcopy(data))))
    run = {"schema": "tomcat-bench/storebench", "schema_version": 1, "run_id": text,
           "complete": False, "incomplete": text, "fairness": [text],
           "versions": {"redis": "7.0.15"}}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(run))
    return write_storebench_report(tmp_path).read_text()


PAGES: dict[str, Callable[[Path, str], str]] = {
    "run": run_page,
    "compare": compare_page,
    "matrix": matrix_page,
    "profiles": profiles_page,
    "capacity": capacity_page,
    "storebench": storebench_page,
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_page_has_one_stylesheet_and_plotly_once(tmp_path: Path, name: str) -> None:
    page = PAGES[name](tmp_path, "fixture")
    assert page.startswith("<!DOCTYPE html>")
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1
    assert len(re.findall(r"<style\b", page)) == 1
    assert not re.search(r"<script[^>]+src=", page)
    assert page.count('class="plotly-graph-div"') >= 1


@pytest.mark.parametrize("name", sorted(PAGES))
def test_text_from_files_is_escaped(tmp_path: Path, name: str) -> None:
    page = PAGES[name](tmp_path, HOSTILE)
    assert HOSTILE not in page
    assert ESCAPED in page


def test_a_page_without_charts_leaves_plotly_out() -> None:
    cells = [{"balancer": "a", "sessions": "b", "verdict": "could not run"}]
    page = render_matrix(cells, "m")
    assert "plotly.js" not in page
    assert len(re.findall(r"<style\b", page)) == 1


def test_a_value_the_template_needs_and_lacks_is_an_error() -> None:
    with pytest.raises(UndefinedError):
        render_page("capacity.html.j2")
