"""Tuning profiles: TOML files under profiles/, validated, with single inheritance.

A profile names Tomcat settings with Tomcat's own attribute names, so an operator
can copy them from server.xml. A section left out means "Tomcat's default"; the
renderer then writes nothing for it, exactly as the stock server.xml does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.config.tomlfile import describe, read_toml
from harness.paths import REPO_ROOT

PROFILES_DIR = REPO_ROOT / "profiles"

_MEMORY_SIZE = r"^[0-9]+[kKmMgG]?$"
_NGINX_TIME = r"^[0-9]+(ms|s|m)?$"  # nginx's time units a balancer setting needs
_HAPROXY_TIME = r"^[0-9]+(us|ms|s|m|h|d)?$"
# What haproxy's retry-on may list (its own words), or "none" alone.
_RETRY_ON = frozenset(
    {"conn-failure", "empty-response", "junk-response", "response-timeout", "0rtt-rejected",
     "all-retryable-errors", "401", "403", "404", "408", "425", "500", "501", "502", "503",
     "504"}
)  # fmt: skip
# Tomcat's Cluster channelSendOptions: a number or its words, comma separated.
_SEND_WORD = "(async|byte_message|multicast|secure|synchronized_ack|udp|use_ack)"
_SEND_OPTIONS = rf"^([0-9]+|{_SEND_WORD}(\s*,\s*{_SEND_WORD})*)$"
# What proxy_next_upstream may list (nginx's own words), or "off" alone.
_NEXT_UPSTREAM = frozenset(
    {"error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504",
     "http_403", "http_404", "http_429", "non_idempotent"}
)  # fmt: skip
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

# Options the guide uses that no longer do anything: say what replaced them
# instead of a bare "unknown key".
_OBSOLETE = {
    "PermSize": "PermGen was removed in Java 8; use metaspace_size (-XX:MetaspaceSize)",
    "MaxPermSize": "PermGen was removed in Java 8; use max_metaspace_size (-XX:MaxMetaspaceSize)",
    "perm_size": "PermGen was removed in Java 8; use metaspace_size (-XX:MetaspaceSize)",
    "max_perm_size": (
        "PermGen was removed in Java 8; use max_metaspace_size (-XX:MaxMetaspaceSize)"
    ),
    "acceptorThreadCount": (
        "Tomcat 9's NIO connector ignores it (one acceptor thread); leave it out"
    ),
}
_OBSOLETE_FLAGS = {
    "-XX:PermSize": _OBSOLETE["perm_size"],
    "-XX:MaxPermSize": _OBSOLETE["max_perm_size"],
}
# HotSpot on x86_64 Linux refuses smaller thread stacks ("Specify at least 136k"):
# the guide's -Xss128k no longer starts a JVM.
_MIN_STACK = 136 * 1024

_GC_FLAGS = {
    "g1": "-XX:+UseG1GC",
    "parallel": "-XX:+UseParallelGC",
    "serial": "-XX:+UseSerialGC",
    "z": "-XX:+UseZGC",
    "shenandoah": "-XX:+UseShenandoahGC",
}


def size_in_bytes(size: str) -> int:
    """A JVM memory size (512m, 1g, 136k, 1048576) in bytes."""
    unit = size[-1].lower() if size[-1].isalpha() else ""
    return int(size[: len(size) - len(unit)]) * _UNITS[unit]


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line naming file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def attributes(self) -> dict[str, str]:
        """The set values as XML attribute strings, in declaration order."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


class Executor(_Section):
    """Tomcat's shared thread pool (<Executor>); the Connector then refers to it."""

    maxThreads: int | None = Field(None, ge=1)
    minSpareThreads: int | None = Field(None, ge=0)
    prestartminSpareThreads: bool | None = None
    maxQueueSize: int | None = Field(None, ge=0)
    maxIdleTime: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _spare_within_max(self) -> Executor:
        if (
            self.maxThreads is not None
            and self.minSpareThreads is not None
            and self.minSpareThreads > self.maxThreads
        ):
            raise ValueError(
                f"minSpareThreads ({self.minSpareThreads}) exceeds maxThreads ({self.maxThreads})"
            )
        return self


class Connector(_Section):
    """Attributes of the HTTP/1.1 Connector an operator tunes (Tomcat 9 names)."""

    protocol: Literal["nio", "nio2"] | None = None
    connectionTimeout: int | None = Field(None, ge=-1)
    acceptCount: int | None = Field(None, ge=1)
    maxConnections: int | None = Field(None, ge=-1)
    maxKeepAliveRequests: int | None = Field(None, ge=-1)
    keepAliveTimeout: int | None = Field(None, ge=-1)
    enableLookups: bool | None = None
    maxPostSize: int | None = Field(None, ge=-1)
    maxSwallowSize: int | None = Field(None, ge=-1)
    maxHttpHeaderSize: int | None = Field(None, ge=1024)
    URIEncoding: str | None = None
    compression: Literal["on", "off", "force"] | None = None
    compressionMinSize: int | None = Field(None, ge=0)
    compressibleMimeType: str | None = None
    disableUploadTimeout: bool | None = None
    connectionUploadTimeout: int | None = Field(None, ge=0)
    tcpNoDelay: bool | None = None
    useSendfile: bool | None = None
    processorCache: int | None = Field(None, ge=-1)
    server: str | None = None
    # The connector's own pool; used only when the profile has no [executor].
    maxThreads: int | None = Field(None, ge=1)
    minSpareThreads: int | None = Field(None, ge=0)

    def attributes(self) -> dict[str, str]:
        out = super().attributes()
        if "protocol" in out:
            out["protocol"] = {
                "nio": "org.apache.coyote.http11.Http11NioProtocol",
                "nio2": "org.apache.coyote.http11.Http11Nio2Protocol",
            }[out["protocol"]]
        return out


class Ajp(_Section):
    """The AJP connector: off unless asked for, and never without a secret."""

    enabled: bool = False
    port: int = Field(8009, ge=1, le=65535)
    # The secret itself, or (better: nothing secret in a profile file) the name of an
    # environment variable that holds it when the profile is applied.
    secret: str | None = Field(None, min_length=8)
    secret_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> Ajp:
        if self.enabled and not (self.secret or self.secret_env):
            raise ValueError(
                "enabling AJP without a secret is refused (Ghostcat, CVE-2020-1938); "
                "set secret_env to the name of a variable that holds one"
            )
        return self

    def resolved_secret(self) -> str | None:
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if not value:
                raise ProfileError(
                    f"ajp.secret_env: environment variable {self.secret_env} is empty"
                )
            return value
        return self.secret


class Deploy(_Section):
    """Hot reload (Context reloadable) and hot deploy (Host autoDeploy, unpackWARs), and
    how often Tomcat looks for either (the Engine's backgroundProcessorDelay)."""

    reloadable: bool | None = None
    autoDeploy: bool | None = None
    unpackWARs: bool | None = None
    # Seconds between the Engine's background checks (Tomcat's default: 10): a changed
    # class, jar or web.xml is noticed at the next one, and sessions expire there too.
    backgroundProcessorDelay: int | None = Field(None, ge=1)
    # In-memory sessions (SESSIONS=none): true keeps StandardManager's default pathname
    # (SESSIONS.ser), so sessions are written out when the context stops and read back
    # when it starts again (what the guide's "reloading keeps sessions" relies on);
    # false or unset writes nothing (pathname=""), the lab's default.
    persistSessions: bool | None = None


class Jvm(_Section):
    """JVM flags written to setenv.sh (CATALINA_OPTS), one field per flag of the guide."""

    xms: str | None = Field(None, pattern=_MEMORY_SIZE)
    xmx: str | None = Field(None, pattern=_MEMORY_SIZE)
    xmn: str | None = Field(None, pattern=_MEMORY_SIZE)
    new_size: str | None = Field(None, pattern=_MEMORY_SIZE)
    max_new_size: str | None = Field(None, pattern=_MEMORY_SIZE)
    new_ratio: int | None = Field(None, ge=1)
    survivor_ratio: int | None = Field(None, ge=1)
    xss: str | None = Field(None, pattern=_MEMORY_SIZE)
    metaspace_size: str | None = Field(None, pattern=_MEMORY_SIZE)
    max_metaspace_size: str | None = Field(None, pattern=_MEMORY_SIZE)
    gc: Literal["g1", "parallel", "serial", "z", "shenandoah"] | None = None
    file_encoding: str = "UTF-8"
    headless: bool = True
    extra_flags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Jvm:
        _check_jvm(self)
        return self

    def flags(self) -> list[str]:
        """The profile's own flags (what `default` leaves to the JVM is not listed)."""
        out = []
        for value, flag in (
            (self.xms, "-Xms{}"),
            (self.xmx, "-Xmx{}"),
            (self.xmn, "-Xmn{}"),
            (self.new_size, "-XX:NewSize={}"),
            (self.max_new_size, "-XX:MaxNewSize={}"),
            (self.new_ratio, "-XX:NewRatio={}"),
            (self.survivor_ratio, "-XX:SurvivorRatio={}"),
            (self.xss, "-Xss{}"),
            (self.metaspace_size, "-XX:MetaspaceSize={}"),
            (self.max_metaspace_size, "-XX:MaxMetaspaceSize={}"),
        ):
            if value is not None:
                out.append(flag.format(value))
        if self.gc:
            out.append(_GC_FLAGS[self.gc])
        return out + list(self.extra_flags)

    def system_properties(self) -> list[str]:
        return [
            f"-Djava.awt.headless={str(self.headless).lower()}",
            f"-Dfile.encoding={self.file_encoding}",
        ]


def _check_jvm(jvm: Jvm) -> None:
    """Refuse sizes that contradict each other, before a JVM does it at start."""
    for flag in jvm.extra_flags:
        name = flag.split("=", 1)[0]
        if name in _OBSOLETE_FLAGS:
            raise ValueError(f"{flag} is obsolete: {_OBSOLETE_FLAGS[name]}")
        for field, prefix in (("xms", "-Xms"), ("xmx", "-Xmx"), ("xss", "-Xss"), ("xmn", "-Xmn")):
            if flag.startswith(prefix) and getattr(jvm, field) is not None:
                raise ValueError(f"{flag} repeats {field}; set it once, in {field}")
    pairs = (
        ("xms", "xmx", "the initial heap exceeds the maximum"),
        ("new_size", "max_new_size", "the young generation's minimum exceeds its maximum"),
        ("metaspace_size", "max_metaspace_size", "MetaspaceSize exceeds MaxMetaspaceSize"),
    )
    for low, high, why in pairs:
        a, b = getattr(jvm, low), getattr(jvm, high)
        if a is not None and b is not None and size_in_bytes(a) > size_in_bytes(b):
            raise ValueError(f"{low} ({a}) > {high} ({b}): {why}")
    young = jvm.xmn or jvm.new_size
    if young is not None and jvm.xmx is not None and size_in_bytes(young) >= size_in_bytes(jvm.xmx):
        raise ValueError(f"young generation ({young}) must be smaller than xmx ({jvm.xmx})")
    if jvm.xmn is not None and (jvm.new_size or jvm.max_new_size):
        raise ValueError("xmn sets both NewSize and MaxNewSize; use xmn or new_size/max_new_size")
    if jvm.xss is not None and size_in_bytes(jvm.xss) < _MIN_STACK:
        raise ValueError(
            f"xss {jvm.xss} is below the 136k a 64-bit HotSpot accepts "
            "(the guide's -Xss128k no longer starts a JVM)"
        )


class Redisson(_Section):
    """Redisson's Tomcat session manager, as its context.xml attributes (unset: the lab's
    REDIS and DEFAULT, Redisson's own defaults).

    readMode REDIS reads each attribute from Redis on every getAttribute; MEMORY keeps the
    session in the node's memory and reads Redis only on a node that has not seen it.
    updateMode DEFAULT writes an attribute to Redis only on setAttribute; AFTER_REQUEST
    writes every attribute after each request, so a change made in place is kept too."""

    readMode: Literal["REDIS", "MEMORY"] | None = None
    updateMode: Literal["DEFAULT", "AFTER_REQUEST"] | None = None


class Replication(_Section):
    """Tomcat's own session replication (--sessions replication), as its server.xml
    attributes (unset: the lab's, in brackets)."""

    # [DeltaManager] every node holds every session; BackupManager: one backup node each.
    manager: Literal["DeltaManager", "BackupManager"] | None = None
    # [6: synchronized_ack + use_ack] a number, or Tomcat's words joined by commas.
    channelSendOptions: str | None = Field(None, pattern=_SEND_OPTIONS)


class Msm(_Section):
    """memcached-session-manager's own settings (unset: the lab's, shown in brackets).
    Sticky or not is the strategy's choice (memcached-sticky, memcached-nonsticky); the
    transcoder stays Java serialization, as the lab carries no Kryo jars (and Kryo cannot
    store an AtomicInteger on Java 17)."""

    # [uriPattern:/session\.jsp.* when non-sticky] none, all, auto or uriPattern:REGEX:
    # which requests lock their session in memcached; applies to non-sticky only.
    lockingMode: str | None = Field(None, pattern=r"^(none|all|auto|uriPattern:.+)$")
    # [false] true: the backup is written after the reply leaves, so an update a node
    # acknowledged just before it died may be lost.
    sessionBackupAsync: bool | None = None


class NginxSettings(_Section):
    """nginx's failover settings, rendered into the lab's upstream and location (unset:
    the lab's defaults, shown in brackets). What a user sees while a node dies depends on
    them as much as on the session store."""

    max_fails: int | None = Field(None, ge=0)  # [1] failures that mark a node down
    fail_timeout: str | None = Field(None, pattern=_NGINX_TIME)  # [10s] and for how long
    proxy_next_upstream: str | None = None  # [error timeout http_502 http_503] or "off"
    proxy_next_upstream_tries: int | None = Field(None, ge=0)  # [the node count]; 0: no limit
    proxy_next_upstream_timeout: str | None = Field(None, pattern=_NGINX_TIME)  # [0: none]
    proxy_connect_timeout: str | None = Field(None, pattern=_NGINX_TIME)  # [1s]
    proxy_read_timeout: str | None = Field(None, pattern=_NGINX_TIME)  # [10s]
    keepalive: int | None = Field(None, ge=0)  # [32] idle connections kept to the nodes

    @field_validator("proxy_next_upstream")
    @classmethod
    def _next_upstream(cls, value: str | None) -> str | None:
        return _words(value, _NEXT_UPSTREAM, alone="off")


def _words(value: str | None, allowed: frozenset[str], *, alone: str) -> str | None:
    """A balancer's list of its own words, or the one word that stands alone ("off")."""
    if value is None:
        return None
    words = value.split()
    if words == [alone]:
        return value
    unknown = [w for w in words if w not in allowed]
    if not words or unknown:
        raise ValueError(f"{value!r}: '{alone}', or some of {', '.join(sorted(allowed))}")
    return value


class HaproxySettings(_Section):
    """haproxy's failover settings, rendered into the lab's defaults and servers (unset:
    the lab's, in brackets)."""

    retry_on: str | None = None  # [conn-failure empty-response response-timeout] or "none"
    retries: int | None = Field(None, ge=0)  # [2] attempts after the first
    redispatch: bool | None = None  # [true] a retry may go to another server
    check_inter: str | None = Field(None, pattern=_HAPROXY_TIME)  # [500ms] between checks
    check_fall: int | None = Field(None, ge=1)  # [2] failed checks that mark a server down
    check_rise: int | None = Field(None, ge=1)  # [2] good checks that bring it back
    timeout_connect: str | None = Field(None, pattern=_HAPROXY_TIME)  # [1s]
    timeout_client: str | None = Field(None, pattern=_HAPROXY_TIME)  # [30s]
    timeout_server: str | None = Field(None, pattern=_HAPROXY_TIME)  # [10s]

    @field_validator("retry_on")
    @classmethod
    def _retry_on(cls, value: str | None) -> str | None:
        return _words(value, _RETRY_ON, alone="none")


class BalancerSettings(_Section):
    """The balancer's own settings: each applies where its balancer runs."""

    nginx: NginxSettings = NginxSettings()
    haproxy: HaproxySettings = HaproxySettings()

    def requested(self) -> dict[str, dict[str, str]]:
        sections = (("nginx", self.nginx), ("haproxy", self.haproxy))
        return {name: attrs for name, section in sections if (attrs := section.attributes())}


# Mozilla's named TLS configurations (ssl-config.mozilla.org, version 5.7): "modern" is
# TLS 1.3 alone, whose ciphers OpenSSL does not take from a cipher list;
# "intermediate" adds TLS 1.2 with these forward-secret AEAD ciphers.
TLS_LEVELS = {
    "modern": (("TLSv1.3",), None),
    "intermediate": (
        ("TLSv1.2", "TLSv1.3"),
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
    ),
}


class Tls(_Section):
    """HTTPS at the balancer: nginx or haproxy terminate it, the nodes stay plain HTTP.
    The lab makes a throwaway CA and a certificate for the balancer's address (unset: the
    brackets)."""

    enabled: bool = False
    # [intermediate] a named level of Mozilla's, or an OpenSSL cipher list (TLS 1.2).
    ciphers: str | None = Field(None, pattern=r"^[A-Za-z0-9+:!@_=-]+$")
    # [the level's: intermediate TLS 1.2 and 1.3, modern 1.3 alone]
    protocols: tuple[Literal["TLSv1.2", "TLSv1.3"], ...] | None = Field(None, min_length=1)
    session_resumption: bool | None = None  # [true] a session cache and session tickets
    http2: bool | None = None  # [false] offered by ALPN beside HTTP/1.1

    @model_validator(mode="after")
    def _level_allows_protocols(self) -> Tls:
        if self.ciphers == "modern" and self.protocols and "TLSv1.2" in self.protocols:
            raise ValueError('ciphers "modern" is TLS 1.3 alone; drop TLSv1.2 from protocols')
        return self

    def settings(self) -> dict[str, Any]:
        """What the balancer is given: its protocols, cipher list, resumption and ALPN."""
        level = self.ciphers if self.ciphers in TLS_LEVELS else None
        protocols, cipher_list = TLS_LEVELS[level or "intermediate"]
        if self.ciphers and level is None:
            cipher_list = self.ciphers
        return {
            "level": level or ("custom" if self.ciphers else "intermediate"),
            "protocols": sorted(set(self.protocols or protocols)),
            "ciphers": cipher_list,
            "session_resumption": self.session_resumption is not False,
            "http2": bool(self.http2),
        }


class SessionSettings(_Section):
    """The session managers' own settings: each applies where its manager runs."""

    redisson: Redisson = Redisson()
    msm: Msm = Msm()
    replication: Replication = Replication()

    def requested(self) -> dict[str, dict[str, str]]:
        """Only what was set, per manager, for the manifest."""
        sections = (
            ("redisson", self.redisson),
            ("msm", self.msm),
            ("replication", self.replication),
        )
        return {name: attrs for name, section in sections if (attrs := section.attributes())}


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    extends: str | None = None
    executor: Executor | None = None
    connector: Connector = Connector()
    ajp: Ajp = Ajp()
    deploy: Deploy = Deploy()
    jvm: Jvm = Jvm()
    sessions: SessionSettings = SessionSettings()
    balancer: BalancerSettings = BalancerSettings()
    tls: Tls = Tls()

    @model_validator(mode="after")
    def _one_pool(self) -> Profile:
        if self.executor is not None and self.connector.maxThreads is not None:
            raise ValueError(
                "connector.maxThreads is ignored when an [executor] is set; "
                "set executor.maxThreads instead"
            )
        return self

    def effective(self) -> dict[str, Any]:
        """What the profile asks for, as recorded in a run's manifest."""
        return {
            "executor": self.executor.attributes() if self.executor else None,
            "connector": self.connector.attributes(),
            "ajp": {"enabled": self.ajp.enabled, "port": self.ajp.port}
            if self.ajp.enabled
            else None,
            "deploy": self.deploy.attributes(),
            "jvm": self.jvm.flags(),
            "sessions": self.sessions.requested(),
            "balancer": self.balancer.requested(),
            "tls": self.tls.settings() if self.tls.enabled else None,
        }


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _raw(name: str, directory: Path, seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        chain = " -> ".join((*seen, name))
        raise ProfileError(f"{directory / (name + '.toml')}: extends: circular ({chain})")
    path = directory / f"{name}.toml"
    data = read_toml(path, "profile", ProfileError)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ProfileError(f"{path}: extends: must be the name of another profile")
    if not (directory / f"{parent}.toml").exists():
        raise ProfileError(f"{path}: extends: no profile named {parent!r} in {directory}")
    return _merge(_raw(parent, directory, (*seen, name)), data)


def load_profile(name_or_path: str, directory: Path = PROFILES_DIR) -> Profile:
    """Load a profile by name (profiles/NAME.toml) or by path to a .toml file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        directory, name = candidate.resolve().parent, candidate.stem
    else:
        name = name_or_path
    data = _raw(name, directory, ())
    data["name"] = name
    try:
        return Profile.model_validate(data)
    except ValidationError as error:
        raise ProfileError(
            describe(directory / f"{name}.toml", error, obsolete=_OBSOLETE)
        ) from None


def available_profiles(directory: Path = PROFILES_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.toml"))
