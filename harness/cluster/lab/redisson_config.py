"""How a lab node's Redisson session manager gets its settings: from a listener that builds
its Config in Java (java/RedissonLabConfig.java) and hands it to the manager's public
setConfig before the manager starts, not from a YAML file it parses.

Why: RedissonSessionManager's configPath makes it read YAML through Jackson, and Jackson's
first use in a JVM costs about 0.3 s of CPU (its introspection of Redisson's config classes
and the JIT of that code), for each node, on a 2-core machine whose cores are busy
starting both nodes: 0.44 s of CPU against 0.15 s to build the same Config in a JVM of its
own, with a class archive, three runs each. The manager, its modes and its sessions are
Redisson's own either way. A stock install (the SSH testbed's stand-ins for an operator's
nodes) keeps the YAML file, as an operator has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cluster.jvm import PROBE_SOURCE, compiled_jar
from harness.paths import CACHE_DIR

SOURCE = PROBE_SOURCE.parent / "RedissonLabConfig.java"
CLASS_NAME = "RedissonLabConfig"
JARS = CACHE_DIR / "redisson-config"
JAR_NAME = "tomcat-bench-redisson-config.jar"

# Redisson's pool and threads in the lab, the same for the listener and the YAML file: a
# few connections ready at the start (each costs the start a connection and AUTH), more as
# the load asks.
POOL = {
    "minimumIdle": 4,
    "poolSize": 32,
    "timeoutMs": 3000,
    "retryAttempts": 3,
    "threads": 4,
    "nettyThreads": 8,
}


def listener_jar(home: Path, redisson_jars: Sequence[Path]) -> Path:
    """The listener compiled against this Tomcat and these Redisson jars, once."""
    lib = home / "lib"
    # Catalina's Context names tomcat-api's and tomcat-util's types in its signatures.
    tomcat = (lib / "catalina.jar", lib / "tomcat-api.jar", lib / "tomcat-util.jar")
    return compiled_jar(JARS, JAR_NAME, (SOURCE,), (*tomcat, *redisson_jars))


def listener_settings(store: dict[str, Any]) -> dict[str, Any]:
    """context.xml's <Listener> attributes for a Redis store (the lab's settings): with
    Sentinel, its address and the master's name; else the Redis server's address."""
    sentinel = store.get("sentinel")
    where = sentinel if sentinel else store
    settings: dict[str, Any] = {
        "className": CLASS_NAME,
        "address": f"redis://{where['address']}:{where['port']}",
        "password": store["password"],
    }
    if sentinel:
        settings["masterName"] = sentinel["master_name"]
    return {**settings, **POOL}
