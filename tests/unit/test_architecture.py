"""The layout in docs/architecture.md holds: each stage imports only the stages below it,
and the picture there names the folders that exist (and only those)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"
DOC = ROOT / "docs" / "architecture.md"

# Plumbing any stage may import; it imports nothing of the harness but itself.
PLUMBING = {
    "harness",
    "harness.__version__",
    "harness.paths",
    "harness.files",
    "harness.commands",
    "harness.periodic",
    "harness.interrupts",
}
# Stage -> the stages it may import (besides itself and the plumbing).
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "results": {"config"},
    "report": {"results", "config"},
    "cluster": {"config"},  # cluster.lab is inside cluster
    "load": {"cluster", "report", "results", "config"},  # never cluster.lab: the seam
    "fleet": {"cluster", "cluster.lab", "cluster.remote", "config"},
    "storebench": {"load", "cluster", "cluster.lab", "report", "results", "config"},
    "cli": {
        "load",
        "fleet",
        "storebench",
        "cluster",
        "cluster.lab",
        "cluster.remote",
        "report",
        "results",
        "config",
    },
}


def stage_of(module: str) -> str:
    """harness.cluster.lab.tomcat -> cluster.lab; harness.load.bench -> load."""
    parts = module.split(".")
    if module in PLUMBING or len(parts) < 2:
        return "plumbing"
    if parts[1:3] in (["cluster", "lab"], ["cluster", "remote"]):
        return f"cluster.{parts[2]}"
    return parts[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every harness import in a file, `from harness import x` as harness.x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "harness":
                found += [(node.lineno, f"harness.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m == "harness" or m.startswith("harness.")]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def violations(paths: list[Path]) -> list[str]:
    wrong = []
    for path in paths:
        here = stage_of(module_name(path))
        may = {here, "plumbing", *ALLOWED.get(here, set())}
        if here in ("cluster.lab", "cluster.remote"):
            may |= {"cluster", *ALLOWED["cluster"]}
        if here == "plumbing":
            may = {"plumbing"}
        for line, module in imports(path):
            there = stage_of(module)
            if there not in may and not (here == "cli" and there == "__main__"):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {module}")
    return wrong


def test_every_stage_imports_only_what_the_rule_allows() -> None:
    paths = [p for p in HARNESS.rglob("*.py") if p.name != "__main__.py"]
    assert violations(paths) == []


def test_the_rule_catches_a_report_that_imports_the_lab(tmp_path: Path) -> None:
    """The checker itself: a report module importing the lab is named, line and all."""
    bad = HARNESS / "report" / "_probe_for_test.py"
    bad.write_text("from harness.cluster.lab import Lab\nfrom harness.results import RESULTS_DIR\n")
    try:
        assert violations([bad]) == [
            "harness/report/_probe_for_test.py:1: report imports harness.cluster.lab"
        ]
    finally:
        bad.unlink()


@pytest.mark.parametrize("locustfile", sorted((ROOT / "locustfiles").glob("*.py")))
def test_locustfiles_import_only_harness_results(locustfile: Path) -> None:
    """Locust's processes load only the vocabulary and the records, never the lab."""
    wrong = [m for _, m in imports(locustfile) if not m.startswith("harness.results")]
    assert wrong == []


def test_a_locust_process_loads_no_results_stack() -> None:
    """The outcome words cost a Locust process 0.45 s of CPU and 54 MB while harness.results
    imported numpy, pyarrow and pydantic for its run folders: each locustfile is imported
    here as Locust imports it (its folder on the path), and none of the three is loaded."""
    heavy = "('numpy', 'pyarrow', 'pydantic', 'harness.results.run_folder')"
    program = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'locustfiles')!r})\n"
        + "".join(f"import {f.stem}\n" for f in sorted((ROOT / "locustfiles").glob("*.py")))
        + f"print(sorted(m for m in {heavy} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_a_bench_starts_its_lab_without_the_results_stack() -> None:
    """numpy, pyarrow, plotly and hdrh cost a bench 0.15-0.2 s before its lab could start
    (its command imported them, one core busy and the other idle); they are imported
    during the load now (load/warm_up.py) or after it. What `bench` imports to start:"""
    heavy = "('numpy', 'pyarrow', 'plotly', 'hdrh', 'harness.results.run_folder')"
    program = (
        "import sys\n"
        "import harness.cli, harness.cli.bench, harness.load.bench\n"
        "import harness.cluster.lab.cluster, harness.cluster.lab.node_start\n"
        f"print(sorted(m for m in {heavy} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def _folders_in_picture() -> set[str]:
    """The folders the picture in docs/architecture.md names (lines like `  load/ ...`)."""
    block = DOC.read_text().split("```text", 1)[1].split("```", 1)[0]
    folders, stack = set(), []
    for line in block.splitlines():
        found = re.match(r"^(\s*)([a-z_]+)/", line)
        if not found:
            continue
        depth = len(found[1]) // 2
        stack = [*stack[:depth], found[2]]
        folders.add("/".join(stack))
    return folders


def test_the_picture_names_every_package_and_only_those() -> None:
    packages = {
        str(p.parent.relative_to(ROOT))
        for p in HARNESS.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    pictured = {f for f in _folders_in_picture() if f.startswith("harness")}
    assert pictured == packages


def test_only_results_reads_and_writes_a_runs_files() -> None:
    """A run's files (records, telemetry, HDR, run.json) have one owner: no module of the
    load, report, cluster or commands reads or writes CSV or gzip itself. (storebench keeps
    its own folder format; see docs/architecture.md.)"""
    owners = ("results", "storebench")
    wrong = []
    for path in HARNESS.rglob("*.py"):
        if stage_of(module_name(path)) in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            wrong += [
                f"{path.relative_to(ROOT)}: import {n}" for n in names if n in ("csv", "gzip")
            ]
    assert wrong == []
