"""Network faults on one's own hosts: nftables rules put on one side's host over SSH.

`partition:A-B` drops, on A's host, every packet to or from B's addresses; `drop:A:P%`
drops that share of A's packets, except SSH's (so the harness can still heal it). Each
fault is one table of its own (`inet tomcat_bench_<n>`), removed at the restore and,
whatever happened, when the run ends.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.cluster.errors import ClusterError
from harness.config.faults import FaultSpec
from harness.config.inventory import Inventory, InventoryBalancer, InventoryNode, Part

TABLE_PREFIX = "tomcat_bench_"


def addresses(part: Part) -> set[str]:
    """Where a part sends from and is reached at, as its inventory entry says."""
    found = {part.host}
    if isinstance(part, InventoryNode) and part.http_address:
        found.add(part.http_address)
    elif isinstance(part, InventoryBalancer):
        found.add(urlsplit(part.url).hostname or part.host)
    elif hasattr(part, "address"):
        found.add(str(part.address).rpartition(":")[0])
    return found


def table_name(index: int) -> str:
    return f"{TABLE_PREFIX}{index}"


def rules(inventory: Inventory, spec: FaultSpec, table: str, ssh_port: int) -> tuple[Part, str]:
    """The host the rules go on, and the nft script that makes the fault."""
    parts = [inventory.part(name) for name in spec.parts]
    here = parts[0]
    if spec.action == "partition":
        other = addresses(parts[1]) - addresses(here)
        if not other:
            raise ClusterError(f"fault {spec}: {here.name} and {parts[1].name} share a host")
        targets = ", ".join(sorted(other))
        match_out, match_in = f"ip daddr {{ {targets} }} drop", f"ip saddr {{ {targets} }} drop"
    else:
        # Tenths of a percent: numgen draws 0..999.
        share = round(spec.drop_percent * 10)
        keep_ssh = f"tcp dport {ssh_port} accept; tcp sport {ssh_port} accept; "
        match_out = match_in = f"{keep_ssh}numgen random mod 1000 < {share} drop"
    script = (
        f"table inet {table} {{\n"
        f"  chain out {{ type filter hook output priority 0; policy accept; {match_out}; }}\n"
        f"  chain in {{ type filter hook input priority 0; policy accept; {match_in}; }}\n"
        "}\n"
    )
    return here, script
