"""Hosts made of Linux network namespaces, each reached only over its own sshd.

One bridge on this machine (10.231.0.1/24) and one namespace per host, joined to it by a
veth pair; each runs `unshare --pid --fork --mount --mount-proc sshd`, so what runs in it
sees only its own processes and a fault can arrive only over SSH. Users of a bench send
from 10.231.<n>.1 (addresses on the bridge, routed back by every host), so nginx's
ip_hash, which hashes the first three octets, spreads them.

Addresses inside these namespaces are the only non-loopback traffic the tests send, and
only within them. `teardown` ends every process in the namespaces by pid, then removes
the namespaces and the bridge, whatever state a failed build left.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

NET = "10.231.0"
USER_NET = "10.231"  # users send from 10.231.<n>.1
BRIDGE = "tbnbr0"
PREFIX = "tbn-"
HOSTS = {"balancer": 10, "node1": 11, "node2": 12, "store": 13, "load1": 14, "load2": 15}
# Each load host's users send from addresses of its own, 10.231.<200 + 10 * k + j>.<host>,
# j < LOAD_SOURCES: they differ in the third octet, which ip_hash hashes.
LOAD_SOURCES = 6


def load_sources(name: str) -> list[str]:
    """The source addresses of load host `name` (load1, load2) in the test cluster."""
    k = int(name.removeprefix("load")) - 1
    return [f"{USER_NET}.{200 + 10 * k + j}.{HOSTS[name]}" for j in range(LOAD_SOURCES)]


STATE = "testbed.json"


class TestbedError(RuntimeError):
    pass


def _ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if check and done.returncode != 0:
        raise TestbedError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Hosts:
    home: Path
    addresses: dict[str, str]  # host name -> its address on the bridge
    users: int

    @property
    def identity(self) -> Path:
        return self.home / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.home / "known_hosts"

    def namespace(self, name: str) -> str:
        return PREFIX + name


def _refuse_if_taken() -> None:
    """Never build over an address this machine already uses or routes."""
    if f" {NET}." in _ip("-4", "-o", "addr") or f"{USER_NET}." in _ip("-4", "route"):
        raise TestbedError(f"{USER_NET}.0.0/16 is already in use here: tear down first")
    taken = [n for n in _ip("netns", "list").split() if n.startswith(PREFIX)]
    if taken:
        raise TestbedError(f"namespaces {', '.join(taken)} exist: tear down first")


def _keys(home: Path) -> None:
    for name in ("host_key", "id_ed25519"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)],
            check=True,
            timeout=30,
        )
    shutil.copy(home / "id_ed25519.pub", home / "authorized_keys")
    (home / "authorized_keys").chmod(0o600)


def _sshd_config(home: Path, name: str, address: str) -> Path:
    config = home / f"sshd-{name}.conf"
    config.write_text(
        f"ListenAddress {address}\nPort 22\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPidFile none\nStrictModes no\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
        "MaxSessions 50\nMaxStartups 50\n"
    )
    return config


def _start_sshd(hosts: Hosts, name: str) -> None:
    config = _sshd_config(hosts.home, name, hosts.addresses[name])
    # The hosts share this machine's /tmp, where a JVM's attach socket (.java_pid<PID>) and
    # perf data live; two hosts' JVMs with the same pid would answer each other's jcmd.
    # Real hosts do not share /tmp: here each host's pids start at a range of its own.
    first_pid = 10000 * (list(HOSTS).index(name) + 1)
    start = f'echo {first_pid} > /proc/sys/kernel/ns_last_pid && exec /usr/sbin/sshd -D -e -f "$0"'
    argv = ["ip", "netns", "exec", hosts.namespace(name), "unshare", "--pid", "--fork"]
    argv += ["--mount", "--mount-proc", "sh", "-c", start, str(config)]
    with (hosts.home / f"sshd-{name}.log").open("w") as sink:
        # setsid -f: sshd runs on in a session of its own and nothing here waits for it;
        # teardown ends it by pid, from the namespace's list of processes.
        subprocess.run(["setsid", "-f", *argv], stdout=sink, stderr=sink, check=True, timeout=10)


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _save(home: Path, names: list[str]) -> None:
    (home / STATE).write_text(json.dumps({"namespaces": [PREFIX + n for n in names]}))


def build(home: Path, *, users: int = 40) -> Hosts:
    """The bridge, one namespace and sshd per host, keys and known_hosts."""
    _refuse_if_taken()
    home.mkdir(parents=True, exist_ok=True)
    hosts = Hosts(home, {n: f"{NET}.{i}" for n, i in HOSTS.items()}, users)
    _save(home, list(HOSTS))  # first: a build that fails halfway is still torn down
    _keys(home)
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{NET}.1/24", "dev", BRIDGE)
    for n in range(1, users + 1):
        _ip("addr", "add", f"{USER_NET}.{n}.1/32", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    for name, address in hosts.addresses.items():
        ns, veth = hosts.namespace(name), PREFIX + name
        _ip("netns", "add", ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", BRIDGE, "up")
        _ip("addr", "add", f"{address}/24", "dev", "eth0", ns=ns)
        _ip("link", "set", "eth0", "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("route", "add", f"{USER_NET}.0.0/16", "via", f"{NET}.1", ns=ns)
        _load_routes(hosts, name)
        _start_sshd(hosts, name)
    deadline = time.monotonic() + 20
    for name, address in hosts.addresses.items():
        while not _listening(address, 22):
            if time.monotonic() > deadline:
                log_text = (home / f"sshd-{name}.log").read_text()
                raise TestbedError(f"sshd on {name} did not listen: {log_text[-500:]}")
            time.sleep(0.1)
    key = (home / "host_key.pub").read_text().split()
    hosts.known_hosts.write_text(
        "".join(f"{address} {key[0]} {key[1]}\n" for address in hosts.addresses.values())
    )
    return hosts


def _load_routes(hosts: Hosts, name: str) -> None:
    """A load host holds its source addresses; every other host routes them to it."""
    for load in (n for n in HOSTS if n.startswith("load")):
        for source in load_sources(load):
            if load == name:
                _ip("addr", "add", f"{source}/32", "dev", "eth0", ns=hosts.namespace(name))
            else:
                via = hosts.addresses[load]
                _ip("route", "add", f"{source}/32", "via", via, ns=hosts.namespace(name))


def _pids(ns: str) -> list[int]:
    done = subprocess.run(
        ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False, timeout=10
    )
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def teardown(home: Path) -> list[str]:
    """End every process in the namespaces, remove them and the bridge; what was removed."""
    state = home / STATE
    names = json.loads(state.read_text())["namespaces"] if state.exists() else []
    existing = set(_ip("netns", "list", check=False).split())
    removed = []
    for ns in names:
        if ns not in existing:
            continue
        for _ in range(50):
            pids = _pids(ns)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        _ip("netns", "del", ns, check=False)
        removed.append(ns)
    # A veth whose namespace lingers (the kernel frees it later) goes with its bridge end.
    for line in _ip("-o", "link", "show", check=False).splitlines():
        link = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if link == BRIDGE or link.startswith(PREFIX):
            _ip("link", "del", link, check=False)
            removed.append(link)
    return removed
