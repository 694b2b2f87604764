"""Is the profile really in effect? Read it back from the running JVM, not from files.

The JVM's own answer (`jcmd <pid> VM.flags`) is compared with what the profile
asks for; the AJP port is checked by what listens (`ss`), on the node's host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.cluster.jvm import (
    JvmReadError,
    expected_flags,
    listening_command,
    parse_listening,
    parse_vm_flags,
)
from harness.cluster.remote.hosts import Host
from harness.config.profile import Profile

# Heap sizes are rounded up to the collector's alignment (a G1 region, at most 32 MiB).
_ALIGNMENT_SLACK = 32 * 1024 * 1024

_ALIGNED = {"InitialHeapSize", "MaxHeapSize", "NewSize", "MaxNewSize", "MetaspaceSize"}


@dataclass
class InEffect:
    """What one node's JVM reports, and where it differs from the profile."""

    node: str
    pid: int | None
    flags: dict[str, str] = field(default_factory=dict)
    listening: list[int] = field(default_factory=list)
    pool: dict[str, Any] = field(default_factory=dict)  # Tomcat's pool, where readable
    mismatches: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        keep = ("InitialHeapSize", "MaxHeapSize", "NewSize", "MaxNewSize", "ThreadStackSize")
        gc = [name for name in self.flags if name.startswith("Use") and name.endswith("GC")]
        return {
            "pid": self.pid,
            **{name: self.flags[name] for name in keep if name in self.flags},
            "gc": [name for name in gc if self.flags[name] == "true"],
            "listening": self.listening,
            **({"pool": self.pool} if self.pool else {}),
            "mismatches": self.mismatches,
        }


def flag_mismatches(profile: Profile, flags: dict[str, str]) -> list[str]:
    """Each JVM option of the profile whose VM.flags value differs from what runs."""
    mismatches = []
    for name, want in expected_flags(profile.effective()["jvm"]).items():
        got = flags.get(name)
        if got is None:
            mismatches.append(f"{name}: profile sets {want}, the JVM does not report it")
        elif name in _ALIGNED and want.isdigit() and got.isdigit():
            if not 0 <= int(got) - int(want) <= _ALIGNMENT_SLACK:
                mismatches.append(f"{name}: profile sets {want}, the JVM runs with {got}")
        elif want.lower() != got.lower():
            mismatches.append(f"{name}: profile sets {want}, the JVM runs with {got}")
    return mismatches


def read_in_effect(host: Host, node: str, pid: int | None, profile: Profile) -> InEffect:
    """Ask the JVM and the host; list every way the node differs from the profile."""
    state = InEffect(node=node, pid=pid)
    if pid is None:
        state.mismatches.append("no running JVM")
        return state
    result = host.run(["jcmd", str(pid), "VM.flags"])
    if result.returncode != 0:
        state.mismatches.append(f"jcmd {pid} VM.flags failed: {result.stderr.strip()[:200]}")
        return state
    try:
        state.flags = parse_vm_flags(result.stdout)
    except JvmReadError as error:
        state.mismatches.append(str(error))
        return state
    state.mismatches += flag_mismatches(profile, state.flags)
    # The JVM's own listening ports (ss -p names the process), not anything on the host.
    listening = host.run(listening_command()).stdout
    state.listening = sorted({e.port for e in parse_listening(listening, pid)})
    ajp = profile.ajp
    if ajp.enabled and ajp.port not in state.listening:
        state.mismatches.append(f"AJP: profile enables it on port {ajp.port}; nothing listens")
    if not ajp.enabled and 8009 in state.listening:
        state.mismatches.append("AJP: profile disables it; port 8009 listens")
    return state
