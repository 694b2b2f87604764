"""Is the profile really in effect? Read it back from the running JVM, not from files.

The JVM's own answer (`jcmd <pid> VM.flags`) is compared with what the profile
asks for; the AJP port is checked by what listens (`ss`), on the node's host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.hosts import Host
from harness.profiles import Profile, size_in_bytes

# Heap sizes are rounded up to the collector's alignment (a G1 region, at most 32 MiB).
_ALIGNMENT_SLACK = 32 * 1024 * 1024

_FLAG = re.compile(r"-XX:(?P<sign>[+-]?)(?P<name>\w+)(?:=(?P<value>\S+))?")


@dataclass
class InEffect:
    """What one node's JVM reports, and where it differs from the profile."""

    node: str
    pid: int | None
    flags: dict[str, str] = field(default_factory=dict)
    listening: list[int] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        keep = ("InitialHeapSize", "MaxHeapSize", "NewSize", "MaxNewSize", "ThreadStackSize")
        gc = [name for name in self.flags if name.startswith("Use") and name.endswith("GC")]
        return {
            "pid": self.pid,
            **{name: self.flags[name] for name in keep if name in self.flags},
            "gc": [name for name in gc if self.flags[name] == "true"],
            "listening": self.listening,
            "mismatches": self.mismatches,
        }


def parse_vm_flags(text: str) -> dict[str, str]:
    """`jcmd <pid> VM.flags` -> {"MaxHeapSize": "536870912", "UseG1GC": "true", ...}."""
    flags: dict[str, str] = {}
    for match in _FLAG.finditer(text):
        sign, name, value = match["sign"], match["name"], match["value"]
        flags[name] = value if value is not None else ("false" if sign == "-" else "true")
    return flags


def expected_flags(profile: Profile) -> dict[str, tuple[int | str, bool]]:
    """HotSpot flag -> (value the profile implies, whether it is a size with alignment)."""
    jvm = profile.jvm
    out: dict[str, tuple[int | str, bool]] = {}
    sizes = {
        "InitialHeapSize": jvm.xms,
        "MaxHeapSize": jvm.xmx,
        "NewSize": jvm.new_size or jvm.xmn,
        "MaxNewSize": jvm.max_new_size or jvm.xmn,
        "MetaspaceSize": jvm.metaspace_size,
        "MaxMetaspaceSize": jvm.max_metaspace_size,
    }
    for name, size in sizes.items():
        if size is not None:
            out[name] = (size_in_bytes(size), True)
    if jvm.xss is not None:
        out["ThreadStackSize"] = (size_in_bytes(jvm.xss) // 1024, False)
    for name, number in (("NewRatio", jvm.new_ratio), ("SurvivorRatio", jvm.survivor_ratio)):
        if number is not None:
            out[name] = (number, False)
    for flag in jvm.flags():
        match = _FLAG.fullmatch(flag)
        if match and match["name"] not in out:
            value = match["value"] or ("false" if match["sign"] == "-" else "true")
            out[match["name"]] = (value, False)
    return out


def flag_mismatches(profile: Profile, flags: dict[str, str]) -> list[str]:
    mismatches = []
    for name, (want, aligned) in expected_flags(profile).items():
        got = flags.get(name)
        if got is None:
            mismatches.append(f"{name}: profile sets {want}, the JVM does not report it")
            continue
        if aligned and got.isdigit():
            if not 0 <= int(got) - int(want) <= _ALIGNMENT_SLACK:
                mismatches.append(f"{name}: profile sets {want}, the JVM runs with {got}")
        elif str(want) != got:
            mismatches.append(f"{name}: profile sets {want}, the JVM runs with {got}")
    return mismatches


def listening_ports(host: Host, address: str | None) -> list[int]:
    """TCP ports listening on address (or anywhere, when None) on that host."""
    result = host.run(["ss", "-Hltn"])
    ports = set()
    for line in result.stdout.splitlines():
        columns = line.split()
        if len(columns) < 4:
            continue
        local = columns[3]
        where, _, port = local.rpartition(":")
        # Java listens on IPv4 through IPv6 sockets: [::ffff:127.0.1.11]
        where = where.removeprefix("[::ffff:").removeprefix("[").removesuffix("]")
        if address is None or where in (address, "*", "0.0.0.0", "::"):  # noqa: S104 (reading, not binding)
            ports.add(int(port))
    return sorted(ports)


def read_in_effect(
    host: Host, node: str, pid: int | None, profile: Profile, *, address: str | None
) -> InEffect:
    """Ask the JVM and the host; list every way the node differs from the profile."""
    state = InEffect(node=node, pid=pid)
    if pid is None:
        state.mismatches.append("no running JVM")
        return state
    result = host.run(["jcmd", str(pid), "VM.flags"])
    if result.returncode != 0:
        state.mismatches.append(f"jcmd {pid} VM.flags failed: {result.stderr.strip()[:200]}")
        return state
    state.flags = parse_vm_flags(result.stdout)
    state.mismatches += flag_mismatches(profile, state.flags)
    state.listening = listening_ports(host, address)
    ajp = profile.ajp
    if ajp.enabled and ajp.port not in state.listening:
        state.mismatches.append(f"AJP: profile enables it on port {ajp.port}; nothing listens")
    if not ajp.enabled and 8009 in state.listening:
        state.mismatches.append("AJP: profile disables it; port 8009 listens")
    return state
