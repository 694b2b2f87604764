"""How busy this machine was while a bench got ready: from the bench's start (its imports
done) to its load's, the CPU all cores did, and this process's tree's share of it by part.

Why: on a small machine the wait before the load is CPU shared by every process, not a
sleep (docs/findings.md: a 2-core machine was over 90% busy). A run says which it was:
a wait with every core busy shortens only with less work or more cores; one with idle
cores has something to overlap. Parts are told apart by command line, so a cluster of
one's own hosts counts only what ran here (the harness, Locust), and nothing on its
hosts.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

from harness.load.telemetry import machine_times

# A descendant's part, by words of its command line (the first that matches): words a
# path in another's command line (a lab folder named "locust") does not hold.
_PARTS = (
    ("nodes", "org.apache.catalina.startup.Bootstrap"),
    ("settings_reader", " JvmProbe"),
    ("locust", " -m locust "),
)
OTHER = "other"  # the stores and the balancer: a few hundredths of a second here
HARNESS = "harness"  # this process, and the commands it ran and reaped (javac, nginx -t)
_Key = tuple[int, float]  # a pid with its start time: a reused pid is another process


def _part(process: psutil.Process) -> str:
    command = f" {' '.join(process.cmdline())} "
    return next((part for part, words in _PARTS if words in command), OTHER)


def _own_cpu(me: psutil.Process) -> float:
    times = me.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class _Seen:
    part: str
    cpu_s: float
    child: bool  # this process's own child: once ended, its CPU is in _own_cpu's


def _tree(me: psutil.Process) -> dict[_Key, _Seen]:
    """Each live descendant (a zombie too: its CPU is still read) and its CPU so far."""
    found = {}
    for process in me.children(recursive=True):
        try:
            with process.oneshot():
                times = process.cpu_times()
                key = (process.pid, process.create_time())
                child = process.ppid() == me.pid
                found[key] = _Seen(_part(process), times.user + times.system, child)
        except psutil.Error:
            continue  # ended while listed
    return found


@dataclass
class CpuWindow:
    """Begun where a bench begins; figures() where its load begins."""

    began: float = field(default_factory=time.monotonic)
    machine_busy: float = field(default_factory=lambda: machine_times()[0])
    own: float = field(default_factory=lambda: _own_cpu(psutil.Process()))
    tree: dict[_Key, _Seen] = field(default_factory=lambda: _tree(psutil.Process()))

    def figures(self) -> dict[str, object]:
        """run.json's lab.cpu_before_load: the window's wall time, this machine's cores and
        the CPU they did (busy_share: of all they could), and this tree's CPU by part. A
        process already running at the start (a lab lent by a matrix's pool) counts only
        what it did since."""
        me = psutil.Process()
        wall = time.monotonic() - self.began
        busy = machine_times()[0] - self.machine_busy
        cores = os.cpu_count() or 1
        now = _tree(me)
        # A child of ours that ended since the start was reaped, and all its CPU joined
        # ours: what it did before the start is taken out again (what it did after stays,
        # as the harness's: it cannot be told apart).
        ended = sum(seen.cpu_s for key, seen in self.tree.items() if seen.child and key not in now)
        parts = {HARNESS: max(_own_cpu(me) - self.own - ended, 0.0)}
        for key, seen in now.items():
            earlier = self.tree[key].cpu_s if key in self.tree else 0.0
            parts[seen.part] = parts.get(seen.part, 0.0) + max(seen.cpu_s - earlier, 0.0)
        return {
            "wall_s": round(wall, 3),
            "cores": cores,
            "machine_busy_s": round(busy, 3),
            "busy_share": round(busy / (wall * cores), 3) if wall > 0 else None,
            "parts_s": {part: round(cpu, 3) for part, cpu in parts.items()},
        }


def busy_words(figures: dict[str, object]) -> str:
    """'92% of 2 cores busy for 5.9 s (this run's processes: nodes 8.8 s, locust 0.7, ...)',
    or "" for a run that recorded none."""
    share, wall, cores = figures.get("busy_share"), figures.get("wall_s"), figures.get("cores")
    parts = figures.get("parts_s")
    if not isinstance(share, float | int) or not isinstance(wall, float | int):
        return ""
    ranked = sorted(parts.items(), key=lambda kv: -kv[1]) if isinstance(parts, dict) else []
    listed = ", ".join(
        f"{name.replace('_', ' ')} {cpu:.1f}{' s' if i == 0 else ''}"
        for i, (name, cpu) in enumerate(ranked)
    )
    return f"{share:.0%} of {cores} cores busy for {wall:.1f} s" + (
        f" (this run's processes: {listed})" if listed else ""
    )
