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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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


class InventoryNode(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    host: str
    ssh_port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
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


class Inventory(_Strict):
    path: Path
    ssh: SshDefaults = SshDefaults()
    nodes: list[InventoryNode] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Inventory:
        names = [node.name for node in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names repeat: {', '.join(names)}")
        return self


def load_inventory(path: Path) -> Inventory:
    data = read_toml(path, "inventory", InventoryError)
    if "path" in data:
        raise InventoryError(f"{path}: path: unknown key")
    try:
        return Inventory.model_validate({**data, "path": path})
    except ValidationError as error:
        raise InventoryError(describe(path, error, whole="nodes")) from None
