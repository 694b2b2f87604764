"""LVS itself (`ipvsadm -s sh`) as the L4 source-hash director, where the kernel has IPVS.

The lab asks the kernel first (`ipvsadm -Ln`); only when IPVS answers does it use
this module, otherwise the nftables stand-in (l4hash.py), and the run's manifest
records which one ran and why. This machine's kernel has no IPVS, so here only the
probe and the command lines are exercised; the commands are LVS's documented ones:

    ipvsadm -A -t VIP:PORT -s sh -b sh-fallback     the virtual service, source hash
    ipvsadm -a -t VIP:PORT -r NODE:PORT -m -w 1      each node, masquerading (NAT)
    ipvsadm -e -t VIP:PORT -r NODE:PORT -m -w 0      failover: weight 0 takes a node out;
                                                     sh-fallback re-hashes its clients
    ipvsadm -D -t VIP:PORT                           lab down

Like `ipvsadm` without keepalived, LVS checks no health itself: the harness's
Director does, and sets weights.
"""

from __future__ import annotations

import os
import subprocess

from harness import commands
from harness.cluster.endpoints import Endpoint
from harness.cluster.lab.topology import NodeSpec

IPVSADM = commands.path_of("ipvsadm") or "/usr/sbin/ipvsadm"


class IpvsError(RuntimeError):
    pass


def unavailable_reason() -> str | None:
    """None when this kernel's IPVS answers; otherwise why not, in ipvsadm's words.

    TOMCAT_BENCH_L4_DIRECTOR=nftables chooses the stand-in even where IPVS works."""
    if os.environ.get("TOMCAT_BENCH_L4_DIRECTOR") == "nftables":
        return "TOMCAT_BENCH_L4_DIRECTOR=nftables"
    try:
        probe = subprocess.run(
            [IPVSADM, "-Ln"], capture_output=True, text=True, check=False, timeout=10
        )
    except FileNotFoundError:
        return "ipvsadm is not installed"
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or ["ipvsadm -Ln failed"])[0]


def service_commands(vip: Endpoint, nodes: list[NodeSpec]) -> list[list[str]]:
    commands = [[IPVSADM, "-A", "-t", str(vip), "-s", "sh", "-b", "sh-fallback"]]
    for node in nodes:
        commands.append(weight_command(vip, node, 1, add=True))
    return commands


def weight_command(vip: Endpoint, node: NodeSpec, weight: int, *, add: bool = False) -> list[str]:
    verb = "-a" if add else "-e"
    return [IPVSADM, verb, "-t", str(vip), "-r", str(node.http), "-m", "-w", str(weight)]


def remove_command(vip: Endpoint) -> list[str]:
    return [IPVSADM, "-D", "-t", str(vip)]


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    if done.returncode != 0:
        raise IpvsError(f"{' '.join(command)}: {done.stderr.strip()}")


def install(vip: Endpoint, nodes: list[NodeSpec]) -> None:
    for command in service_commands(vip, nodes):
        run(command)


def set_weights(vip: Endpoint, nodes: list[NodeSpec], up: list[bool]) -> None:
    for node, healthy in zip(nodes, up, strict=True):
        run(weight_command(vip, node, 1 if healthy else 0))


def remove(vip: Endpoint) -> bool:
    try:
        run(remove_command(vip))
    except IpvsError:
        return False
    return True
