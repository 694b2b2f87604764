"""Where each part of the embedded lab lives: one loopback address per "host"."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from harness.cluster.endpoints import Endpoint
from harness.paths import REPO_ROOT

DEFAULT_NET = "127.0.1"
DEFAULT_RUN_DIR = REPO_ROOT / ".lab"
MEMCACHED_PORT = 11211
SENTINEL_PORT = 26379
# Tomcat cluster (Tribes) receivers listen here, each on its node's own address.
CLUSTER_PORT = 4000


def check_net(net: str) -> str:
    """The lab's first three octets; only loopback (127.0.0.0/8) is accepted."""
    try:
        first = ipaddress.IPv4Address(f"{net}.1")
    except ValueError:
        raise ValueError(f"--net {net!r}: give three octets, e.g. {DEFAULT_NET}") from None
    if not first.is_loopback:
        raise ValueError(f"--net {net!r}: the embedded lab binds loopback only (127.x.y)")
    return net


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str
    port: int
    shutdown_port: int

    @property
    def http(self) -> Endpoint:
        return Endpoint(self.address, self.port)

    @property
    def shutdown(self) -> Endpoint:
        return Endpoint(self.address, self.shutdown_port)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def cluster(self) -> Endpoint:
        return Endpoint(self.address, CLUSTER_PORT)


@dataclass(frozen=True)
class Topology:
    """Balancer on .10, nodes on .11, .12, ..., Redis on .20, memcached on .21, .22, a
    Redis replica on .23 and its Sentinel on .24 (redis-sentinel sessions)."""

    net: str = DEFAULT_NET
    port: int = 8080
    node_count: int = 2
    redis_port: int = 6379
    run_dir: Path = DEFAULT_RUN_DIR

    def __post_init__(self) -> None:
        check_net(self.net)
        # Servers get config paths relative to their own working folders (nginx -p):
        # only an absolute run folder means the same place to all of them.
        object.__setattr__(self, "run_dir", Path(self.run_dir).resolve())
        if not 1 <= self.node_count <= 8:
            raise ValueError(f"nodes: {self.node_count}: the lab runs 1 to 8 nodes")

    @property
    def nodes(self) -> list[NodeSpec]:
        return [
            NodeSpec(f"node{i}", f"{self.net}.{10 + i}", self.port, 8005)
            for i in range(1, self.node_count + 1)
        ]

    @property
    def balancer(self) -> Endpoint:
        return Endpoint(f"{self.net}.10", self.port)

    @property
    def balancer_url(self) -> str:
        return f"http://{self.balancer}"

    @property
    def redis(self) -> Endpoint:
        return Endpoint(f"{self.net}.20", self.redis_port)

    @property
    def redis_replica(self) -> Endpoint:
        """The replica that redis-sentinel sessions keep, and Sentinel promotes."""
        return Endpoint(f"{self.net}.23", self.redis_port)

    @property
    def sentinel(self) -> Endpoint:
        return Endpoint(f"{self.net}.24", SENTINEL_PORT)

    @property
    def memcached(self) -> dict[str, Endpoint]:
        """Two memcached servers, memA "near" node1 and memB "near" node2 (msm's guide)."""
        return {
            "memA": Endpoint(f"{self.net}.21", MEMCACHED_PORT),
            "memB": Endpoint(f"{self.net}.22", MEMCACHED_PORT),
        }
