"""The balancers a bench can put in front of the nodes (LB=...), and what each one does."""

from __future__ import annotations

from dataclasses import dataclass

L4_IMPLEMENTATION = "nftables dnat to jhash ip saddr, fixed seed (no IPVS here)"


@dataclass(frozen=True)
class Balancer:
    name: str
    kind: str  # "nginx", "haproxy" or "nftables"
    label: str
    sticky: str  # what keeps a user on one node: "none", "source address", "cookie"
    nginx_balance: str | None = None
    haproxy_balance: str = "roundrobin"
    haproxy_hash_consistent: bool = False
    haproxy_cookie: bool = False
    haproxy_stick_on_session: bool = False


BALANCERS: dict[str, Balancer] = {
    b.name: b
    for b in (
        Balancer("nginx-rr", "nginx", "nginx round robin", "none"),
        # ip_hash keys on the first three octets of an IPv4 address.
        Balancer("nginx-ip-hash", "nginx", "nginx ip_hash", "source address", "ip_hash"),
        Balancer(
            "nginx-hash",
            "nginx",
            "nginx hash $remote_addr consistent",
            "source address",
            "hash $remote_addr consistent",
        ),
        Balancer("haproxy-rr", "haproxy", "haproxy roundrobin", "none"),
        Balancer(
            "haproxy-source",
            "haproxy",
            "haproxy balance source, hash-type consistent",
            "source address",
            haproxy_balance="source",
            haproxy_hash_consistent=True,
        ),
        Balancer(
            "haproxy-cookie",
            "haproxy",
            "haproxy cookie SERVERID insert indirect nocache",
            "cookie",
            haproxy_cookie=True,
        ),
        # What replaced haproxy 1.4's `appsession JSESSIONID`: a stick-table keyed on the cookie.
        Balancer(
            "haproxy-stick",
            "haproxy",
            "haproxy stick-table on JSESSIONID",
            "cookie",
            haproxy_stick_on_session=True,
        ),
        # The LVS `-s sh` case; on a kernel without IPVS (this one), nftables jhash.
        Balancer(
            "l4-hash",
            "nftables",
            "L4 source hash (LVS -s sh): " + L4_IMPLEMENTATION,
            "source address",
        ),
    )
}


def balancer(name: str) -> Balancer:
    try:
        return BALANCERS[name]
    except KeyError:
        raise ValueError(f"LB={name}: unknown balancer; one of {', '.join(BALANCERS)}") from None
