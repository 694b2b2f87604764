"""Which Tomcat nodes `apply` and `verify` work on: the embedded lab, or hosts over SSH.

An inventory file is TOML (see inventories/example.toml):

    [ssh]                      # defaults for every node
    user = "tomcat"
    identity = "~/.ssh/id_ed25519"
    known_hosts = "~/.ssh/known_hosts"

    [[nodes]]
    name = "web1"
    host = "127.0.0.1"         # where sshd listens
    catalina_home = "/opt/tomcat"
    http_port = 8080

No password is read from or written to it: authentication is by key only.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.config.faults import FaultSpec
from harness.config.profile import ProfileError
from harness.config.tomlfile import describe, read_toml


class InventoryError(ProfileError):
    """An inventory that cannot be used; one line naming the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshDefaults(_Strict):
    user: str = "root"
    port: int = Field(22, ge=1, le=65535)
    identity: str = "~/.ssh/id_ed25519"
    known_hosts: str = "~/.ssh/known_hosts"


class _Host(_Strict):
    """What every role has: a name, the host sshd listens on, and whether faults may
    reach it (never, unless the inventory says so for this very part)."""

    # Letters, digits and _ only: a fault names parts as partition:A-B or drop:A:5%.
    name: str = Field(pattern=r"^\w+$")
    host: str
    ssh_port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    faults: bool = False


class InventoryBalancer(_Host):
    """The front: where the load goes, and how to reload it."""

    kind: Literal["nginx", "haproxy", "lvs-director"]
    url: str  # e.g. http://10.0.0.5/ : the users' entry
    # An https url's certificate is verified against this CA file (PEM), or the system's.
    ca_file: Path | None = None
    reload: str | None = None  # default per kind (nginx -s reload, systemctl reload ...)
    service: str | None = None  # its systemd unit, to stop and start it

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    def reload_command(self) -> str:
        if self.reload:
            return self.reload
        return {"nginx": "nginx -s reload", "haproxy": "systemctl reload haproxy"}.get(
            self.kind, "systemctl reload keepalived"
        )


class InventoryStore(_Host):
    """A session store the nodes use, and how to stop and start it."""

    kind: Literal["redis", "memcached"]
    address: str  # host:port, as the nodes' session manager names it
    service: str | None = None  # its systemd unit (default: redis-server / memcached)
    # Without systemd: the shell command that starts it (it must write pid_file).
    start: str | None = None
    pid_file: str | None = None

    @model_validator(mode="after")
    def _start_with_pid_file(self) -> InventoryStore:
        if (self.start is None) != (self.pid_file is None):
            raise ValueError("start and pid_file go together (a started store is found by its pid)")
        if self.start is not None and self.service is not None:
            raise ValueError("give service (systemd) or start and pid_file, not both")
        return self

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r}: write HOST:PORT")
        return value

    def unit(self) -> str:
        return self.service or ("redis-server" if self.kind == "redis" else "memcached")


class InventoryLoad(_Host):
    """A host that runs Locust workers."""

    processes: int = Field(1, ge=1, le=64)  # Locust worker processes on it
    # Addresses of this host its users take turns at, so a source-hash balancer spreads
    # them (nginx ip_hash hashes three octets of IPv4: make them differ there).
    source_addresses: list[str] = []
    # A checkout of tomcat-bench on the host (its locustfiles), and the Python that has
    # its dependencies (make setup there); default: the same paths as on this machine.
    project: str | None = None
    python: str | None = None
    # The workers' records, removed after each run; relative: inside the project.
    work_dir: str = ".load"

    @field_validator("source_addresses")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return values


class InventoryNode(_Host):
    catalina_home: str
    catalina_base: str | None = None  # default: catalina_home
    http_address: str | None = None  # the Connector's address attribute (default: all)
    http_port: int = Field(8080, ge=1, le=65535)
    shutdown_port: int = Field(8005, ge=1, le=65535)
    shutdown_address: str = "localhost"
    jvm_route: str | None = None
    health_url: str | None = None  # default: http://{http_address or host}:{http_port}/
    # Where the node's JVM opens its JMX agent when the harness reads Tomcat's pool: a
    # loopback address of the node's own host (the probe runs there too).
    jmx_address: str = "127.0.0.1"
    jmx_port: int = Field(9010, ge=1, le=65535)
    # How a fault stops and starts Tomcat: its systemd unit, or (without one) catalina.sh
    # of its CATALINA_HOME with its CATALINA_BASE; its pid is found by CATALINA_BASE.
    service: str | None = None

    @field_validator("jmx_address")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        # The agent speaks JMX without TLS: other hosts must not reach it.
        try:
            loopback = ipaddress.IPv4Address(value).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{value!r} is not an IPv4 loopback address (127.x.x.x)")
        return value

    @property
    def base(self) -> PurePosixPath:
        return PurePosixPath(self.catalina_base or self.catalina_home)

    @property
    def url(self) -> str:
        return self.health_url or f"http://{self.http_address or self.host}:{self.http_port}/"

    @property
    def pid_file(self) -> PurePosixPath:
        return self.base / "temp" / "tomcat-bench.pid"


Part = InventoryBalancer | InventoryNode | InventoryStore | InventoryLoad


class Inventory(_Strict):
    path: Path
    ssh: SshDefaults = SshDefaults()
    balancers: list[InventoryBalancer] = Field([], max_length=1)  # one front per cluster
    nodes: list[InventoryNode] = Field(min_length=1)
    stores: list[InventoryStore] = []
    load: list[InventoryLoad] = []
    # Without load hosts the users run here: the first two octets of addresses of this
    # machine they send from (user n from A.B.n.1), so source-hash balancers spread them.
    source_net: str | None = Field(None, pattern=r"^\d{1,3}\.\d{1,3}$")
    # With load hosts: this machine's address as they reach it (the Locust master's).
    master_address: str | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Inventory:
        names = [part.name for part in self.parts()]
        repeated = sorted({n for n in names if names.count(n) > 1} | ({"balancer"} & set(names)))
        if repeated:
            raise ValueError(f"names repeat or are reserved: {', '.join(repeated)}")
        return self

    @model_validator(mode="after")
    def _master_for_load_hosts(self) -> Inventory:
        if self.load and not self.master_address:
            raise ValueError("master_address: load hosts need this machine's address")
        return self

    def parts(self) -> list[Part]:
        return [*self.balancers, *self.nodes, *self.stores, *self.load]

    def part(self, name: str) -> Part:
        """A part by name; "balancer" is the front, whatever its name."""
        if name == "balancer" and self.balancers:
            return self.balancers[0]
        for part in self.parts():
            if part.name == name:
                return part
        known = ", ".join(p.name for p in self.parts() if not isinstance(p, InventoryLoad))
        raise InventoryError(f"{self.path}: no part named {name!r} (parts: {known})")

    def check_fault(self, spec: FaultSpec) -> list[Part]:
        """The parts a fault reaches, each marked `faults = true`; else one line saying
        which part is not and where to say it may be faulted."""
        parts = [self.part(name) for name in spec.parts]
        for part in parts:
            if isinstance(part, InventoryLoad):
                raise InventoryError(f"{self.path}: fault {spec}: {part.name} is a load host")
            if not part.faults:
                raise InventoryError(
                    f"{self.path}: fault {spec}: {part.name} is not marked `faults = true` "
                    "(a fault reaches only a part the inventory marks for faults)"
                )
        return parts


def load_inventory(path: Path) -> Inventory:
    data = read_toml(path, "inventory", InventoryError)
    if "path" in data:
        raise InventoryError(f"{path}: path: unknown key")
    try:
        return Inventory.model_validate({**data, "path": path})
    except ValidationError as error:
        raise InventoryError(describe(path, error, whole="inventory")) from None
