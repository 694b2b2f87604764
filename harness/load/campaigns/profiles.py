"""Profiles side by side: one short bench per profile, the same load on the same lab shape,
and one page comparing throughput, latency, and each node's threads, heap and GC.

results/<time>-profiles/
  profiles.json     the runs, their profiles and the table's numbers
  profiles.html     the comparison (self-contained plotly)
  runs/<time>-<profile>/   each bench's own full results folder and report
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.cluster import ClusterError
from harness.config.profile import Profile
from harness.load.bench import BenchPlan, run_bench
from harness.report.profiles import INDEX_FILE, write_comparison
from harness.report.run import write_report
from harness.results.folders import new_run_dir
from harness.results.models import write_document
from harness.results.run_folder import iso

# The CLI imports these from here; the page itself is report/profiles.py's.
__all__ = ["INDEX_FILE", "run_profiles", "write_comparison"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfilesResult:
    """What the comparison wrote, for a caller that must not read it back."""

    out: Path
    runs: list[dict[str, Any]]  # as profiles.json holds them: a run folder or an error each
    summaries: dict[str, dict[str, Any]]  # each finished bench's summary, by its "run"


def run_profiles(
    template: BenchPlan, profiles: Sequence[Profile], *, progress: Callable[[str], None]
) -> ProfilesResult:
    """One bench per profile (each with its own lab up and down)."""
    out = new_run_dir("profiles", template.results_dir)
    started = time.time()
    runs: list[dict[str, Any]] = []
    summaries: dict[str, dict[str, Any]] = {}
    for n, profile in enumerate(profiles, start=1):
        progress(f"profile {n}/{len(profiles)}: {profile.name}")
        plan = replace(template, profile=profile, results_dir=out / "runs", label=profile.name)

        def step(text: str, name: str = profile.name) -> None:
            progress(f"{name}: {text}")

        interrupted = False
        try:
            result = run_bench(plan, progress=step)
        except (ClusterError, RuntimeError, OSError) as error:
            log.warning("profile %s could not run: %s", profile.name, error)
            runs.append({"profile": profile.name, "error": str(error)})
        else:
            write_report(result.run_dir)
            runs.append({"profile": profile.name, "run": str(result.run_dir.relative_to(out))})
            summaries[runs[-1]["run"]] = result.summary
            interrupted = result.stop_requested
        # Written after every run: an interrupted comparison keeps what it measured.
        _write(out, template, runs, started)
        if interrupted:
            raise KeyboardInterrupt  # Ctrl-C in one profile's bench ends the comparison
    return ProfilesResult(out, runs, summaries)


def _write(out: Path, template: BenchPlan, runs: list[dict[str, Any]], started: float) -> None:
    index = {
        "schema": "tomcat-bench/profiles",
        "schema_version": 1,
        "started_at": iso(started),
        "ended_at": iso(time.time()),
        "balancer": template.balancer,
        "sessions": template.sessions,
        "users": template.users,
        "duration_s": template.duration_s,
        "faults": [str(f) for f in template.fault_specs()],
        "runs": runs,
    }
    write_document(out / INDEX_FILE, index, "profiles")
    write_comparison(out)
