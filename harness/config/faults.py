"""Faults a bench declares: what happens to which part of the cluster, when, and its restore.

Written ACTION:TARGET@T or ACTION:TARGET@T-T2 (seconds from the start of the load):

  sigkill:node1@30        the JVM dies at once (a crashed host)
  sigkill:node1@30-45     ... and is started again at 45 s
  shutdown:node2@20-40    graceful stop (SIGTERM: shutdown hooks run), started again at 40 s
  sigstop:node1@20-25     a hang: SIGSTOP, then SIGCONT at 25 s
  restart:node1@20        graceful stop and start at once
  sigkill:redis@30        a store dies (also memA, memB)
  reload:nginx@30         the balancer re-reads its config (haproxy: a restart)
  context-reload:node1@20 the node reloads its web application (what reloadable="true"
                          does when a class changes), under load
  touch:node1@20          the application's WEB-INF/web.xml is touched, as an edit would;
                          Tomcat reloads the context if the profile's deploy settings
                          say so (autoDeploy), at its next check (backgroundProcessorDelay,
                          10 s unless set); the run says whether
  redeploy:node1@20       the application's directory is removed and added again, so the
                          Host undeploys and deploys it (what autoDeploy does)
  redeploy:node1@20-25    ... removed at 20 s, added again at 25 s
  partition:node1-redis@20-30  node1 and Redis cannot reach each other (packets dropped
                          both ways) from 20 s, healed at 30 s (also balancer-node1)
  drop:node1:5%@20-30     5% of the packets node1 sends or receives are dropped
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# action -> what restores it (None: nothing to restore)
ACTIONS: dict[str, str | None] = {
    "sigkill": "start",
    "shutdown": "start",
    "sigstop": "sigcont",
    "restart": None,
    "reload": None,
    "context-reload": None,
    "touch": None,
    "redeploy": "deploy",  # optional: without a restore time it deploys again at once
    "partition": "heal",  # network faults: without a restore time, healed at the end
    "drop": "heal",
}
NETWORK = frozenset({"partition", "drop"})
_SPEC = re.compile(
    r"^(?P<action>[a-z][a-z-]*):(?P<target>[\w-]+(?::\d+(?:\.\d+)?%)?)"
    r"@(?P<at>\d+(\.\d+)?)(-(?P<until>\d+(\.\d+)?))?$"
)
_DROP = re.compile(r"^(?P<part>\w+):(?P<percent>\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class FaultSpec:
    action: str
    target: str
    at_s: float
    restore_at_s: float | None = None

    def __str__(self) -> str:
        until = f"-{self.restore_at_s:g}" if self.restore_at_s is not None else ""
        return f"{self.action}:{self.target}@{self.at_s:g}{until}"

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts of the cluster the fault names: partition A-B, drop A:P%, else one."""
        if self.action == "partition":
            a, sep, b = self.target.partition("-")
            if not sep or not a or not b or a == b or "-" in b:
                raise ValueError(f"fault {self}: write partition:A-B, e.g. partition:node1-redis")
            return (a, b)
        if self.action == "drop":
            found = _DROP.match(self.target)
            if not found or not 0 < float(found["percent"]) <= 100:
                raise ValueError(f"fault {self}: write drop:PART:PERCENT%, e.g. drop:node1:5%")
            return (found["part"],)
        if ":" in self.target:
            raise ValueError(f"fault {self}: only drop takes a share (PART:PERCENT%)")
        return (self.target,)

    @property
    def drop_percent(self) -> float:
        found = _DROP.match(self.target)
        if self.action != "drop" or not found:
            raise ValueError(f"fault {self}: not a drop")
        return float(found["percent"])


def parse_fault(text: str) -> FaultSpec:
    """One fault from its text form; ValueError names what is wrong."""
    found = _SPEC.match(text.strip())
    if not found:
        raise ValueError(
            f"fault {text!r}: write ACTION:TARGET@SECONDS[-SECONDS], e.g. sigkill:node1@30"
        )
    action, target = found["action"], found["target"]
    if action not in ACTIONS:
        raise ValueError(f"fault {text!r}: action {action!r}: one of {', '.join(ACTIONS)}")
    at = float(found["at"])
    until = float(found["until"]) if found["until"] else None
    if until is not None and ACTIONS[action] is None:
        raise ValueError(f"fault {text!r}: {action} has nothing to restore; drop -{until:g}")
    if until is not None and until <= at:
        raise ValueError(f"fault {text!r}: the restore ({until:g} s) must come after {at:g} s")
    spec = FaultSpec(action, target, at, until)
    spec.parts  # noqa: B018 (checks the target's form: A-B, A:P% or one part)
    return spec


def parse_faults(text: str) -> tuple[FaultSpec, ...]:
    return tuple(parse_fault(part) for part in text.split(",") if part.strip())


# Fault sequences operators fear, by name (--faults NAME); times are shares of the run.
SEQUENCES: dict[str, str] = {
    # msm's open issue 300: sessions not copied back after a failed memcached returns,
    # then the other one fails.
    "mem-a-then-b": "kill memA, start it again, then kill memB and start it again",
    "rolling-restart": "each node restarted in turn (graceful), as a deploy does",
    "flap": "node1 killed and started again, three times",
    "store-failover": "the Redis master killed, its replica promoted by Sentinel "
    "(--sessions redis-sentinel), the old master started again later",
}


def _at(share: float, duration_s: float) -> float:
    return round(share * duration_s, 1)


def named_schedule(name: str, duration_s: float, nodes: list[str]) -> tuple[FaultSpec, ...]:
    """The faults of a named sequence for a run of duration_s over these nodes."""

    def kill(target: str, start: float, end: float) -> FaultSpec:
        return FaultSpec("sigkill", target, _at(start, duration_s), _at(end, duration_s))

    if name == "mem-a-then-b":
        return (kill("memA", 0.2, 0.4), kill("memB", 0.6, 0.8))
    if name == "rolling-restart":
        share = 1 / (len(nodes) + 1)
        return tuple(
            FaultSpec("restart", node, _at(share * (i + 1), duration_s))
            for i, node in enumerate(nodes)
        )
    if name == "flap":
        return tuple(kill(nodes[0], start, start + 0.1) for start in (0.15, 0.4, 0.65))
    if name == "store-failover":
        # Sentinel promotes the replica within seconds; the old master, started again,
        # rejoins as the new one's replica.
        return (kill("redis", 0.4, 0.8),)
    raise ValueError(f"fault sequence {name!r}: one of {', '.join(SEQUENCES)}")


def schedule(text: str, duration_s: float, nodes: list[str]) -> tuple[FaultSpec, ...]:
    """--faults: ACTION:TARGET@T[-T2] and named sequences, comma-separated, in any mix."""
    specs: list[FaultSpec] = []
    for part in (p.strip() for p in text.split(",")):
        if part in SEQUENCES:
            specs += named_schedule(part, duration_s, nodes)
        elif part:
            specs.append(parse_fault(part))
    return tuple(specs)
