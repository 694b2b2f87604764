"""Network faults on the embedded lab: a partition between two of its parts, or a share
of one part's packets dropped, as nftables rules in a table the lab owns.

Every part of the lab talks over loopback, and a client's source address there is
127.0.0.1 whoever it is, so an address cannot say which node sent a packet. The socket's
cgroup can: the lab starts each server in a cgroup v2 group of its own
(<cgroup2>/tomcat-bench-<net>/<part>), and a rule matches `socket cgroupv2` (the sender)
together with the other side's address. A socket keeps the group it was made in, which is
why each server starts inside its group rather than being moved there later.

Each fault is a base chain of its own on the output hook, so its restore deletes exactly
its rules; the lab's down() deletes the table, so nothing outlives the lab whatever
happened.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness import commands
from harness.cluster.lab.processes import LabError
from harness.config.faults import FaultSpec

log = logging.getLogger(__name__)

NFT_ROOT = Path("/sys/fs/cgroup")  # nft names a cgroup by its path under this folder


def cgroup2_root(mounts: str | None = None) -> Path | None:
    """Where cgroup v2 is mounted, if under /sys/fs/cgroup (nft resolves names there):
    /sys/fs/cgroup itself, or /sys/fs/cgroup/unified on a hybrid system."""
    text = mounts if mounts is not None else Path("/proc/mounts").read_text()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            mount = Path(fields[1])
            if mount == NFT_ROOT or NFT_ROOT in mount.parents:
                return mount
    return None


def member_of(pid: int, group: Path, proc_cgroup: str | None = None) -> bool:
    """Whether the process is in the cgroup v2 group (its /proc/PID/cgroup "0::" line)."""
    mount = cgroup2_root()
    if mount is None:
        return False
    try:
        text = proc_cgroup if proc_cgroup is not None else Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
    wanted = "/" + str(group.relative_to(mount))
    return any(line == f"0::{wanted}" for line in text.splitlines())


@dataclass(frozen=True)
class LabGroups:
    """The lab's cgroups: one folder, one group per server in it."""

    root: Path  # <cgroup2>/tomcat-bench-<net>

    @classmethod
    def for_net(cls, net: str) -> LabGroups | None:
        """The lab's groups, made now; None where cgroup v2 is missing or not writable
        (the lab runs as before, and a network fault says why it cannot be delivered)."""
        mount = cgroup2_root()
        if mount is None:
            return None
        root = mount / f"tomcat-bench-{net.replace('.', '_')}"
        try:
            root.mkdir(exist_ok=True)
        except OSError as error:
            log.info("no cgroup for the lab's servers (%s): no network faults", error)
            return None
        return cls(root)

    def procs_file(self, part: str) -> Path:
        """The file a process writes its pid into to join the part's group."""
        group = self.root / part
        group.mkdir(parents=True, exist_ok=True)
        return group / "cgroup.procs"

    def nft_name(self, part: str) -> str:
        return str((self.root / part).relative_to(NFT_ROOT))

    @property
    def level(self) -> int:
        """The part groups' depth in the cgroup2 tree (nft compares that ancestor)."""
        mount = cgroup2_root()
        assert mount is not None
        return len((self.root / "x").relative_to(mount).parts)

    def remove(self) -> None:
        """Remove the empty groups (a group with a process left in it stays, and says so).
        A server just stopped may still be leaving its group: waited for, briefly."""
        if not self.root.exists():
            return
        for group in self.root.iterdir():
            if group.is_dir():
                _wait_until_empty(group, EMPTY_WAIT_S)
                try:
                    group.rmdir()
                except OSError as error:
                    log.warning("cgroup %s not removed: %s", group, error)
        try:
            self.root.rmdir()
        except OSError as error:
            log.warning("cgroup %s not removed: %s", self.root, error)


# How long remove() waits for a group's last process to be gone (a JVM's exit is quick;
# a process never leaving is reported, not waited for).
EMPTY_WAIT_S = 3.0


def _wait_until_empty(group: Path, timeout_s: float) -> None:
    """Until the kernel says no process is in the group or below it (cgroup.events)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if "populated 0" in (group / "cgroup.events").read_text():
                return
        except OSError:
            return  # gone, or not a group: rmdir says what it is
        time.sleep(0.02)


@dataclass(frozen=True)
class Side:
    """One side of a network fault: the servers' cgroup names and the addresses they serve."""

    groups: tuple[str, ...]  # nft cgroupv2 names; empty for a part with no process
    addresses: tuple[str, ...]


def rules(spec: FaultSpec, sides: dict[str, Side], level: int) -> list[str]:
    """The nft rules of one fault: what its chain drops."""
    parts = spec.parts
    if spec.action == "partition":
        a, b = (sides[p] for p in parts)
        return [*_between(a, b, level, "drop"), *_between(b, a, level, "drop")]
    part = sides[parts[0]]
    share = f"numgen random mod 10000 < {round(spec.drop_percent * 100)}"
    out = [f"{_sender(g, level)} {share} drop" for g in part.groups]
    out += [f"ip daddr {addr} {share} drop" for addr in part.addresses]
    return out


def _sender(group: str, level: int) -> str:
    return f'socket cgroupv2 level {level} "{group}"'


def _between(sender: Side, receiver: Side, level: int, verdict: str) -> list[str]:
    """Packets from the sender's servers to the receiver's addresses; with no process on
    the sender's side (the kernel's L4 director), every packet to the receiver."""
    targets = ", ".join(receiver.addresses)
    if not targets:
        return []
    if not sender.groups:
        return [f"ip daddr {{ {targets} }} {verdict}"]
    return [f"{_sender(g, level)} ip daddr {{ {targets} }} {verdict}" for g in sender.groups]


class NetFaults:
    """The lab's network-fault table: one base chain per fault, deleted at its restore."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._chains: dict[str, str] = {}

    def add(self, spec: FaultSpec, lines: list[str]) -> None:
        chain = f"fault_{len(self._chains) + 1}"
        script = [f"table inet {self.table} {{", f"  chain {chain} {{",
                  "    type filter hook output priority 0; policy accept;",
                  *(f"    {line}" for line in lines), "  }", "}"]  # fmt: skip
        _nft("-f", "-", stdin="\n".join(script) + "\n")
        self._chains[str(spec)] = chain
        log.info("%s: %d nft rules in %s/%s", spec, len(lines), self.table, chain)

    def remove(self, spec: FaultSpec) -> None:
        chain = self._chains.pop(str(spec), None)
        if chain is None:
            raise LabError(f"{spec}: no network fault of that name is in place")
        _nft("delete", "chain", "inet", self.table, chain)


def remove_table(table: str) -> bool:
    """Delete the lab's network-fault table if it exists; True if it did."""
    done = subprocess.run(
        [commands.require("nft"), "list", "table", "inet", table],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return False
    _nft("delete", "table", "inet", table)
    return True


def _nft(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [commands.require("nft"), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise LabError(f"nft {' '.join(args)}: {done.stderr.strip()}")
