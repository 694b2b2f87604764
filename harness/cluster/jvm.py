"""What is really in effect in a running Tomcat node, read from its JVM (not from the files).

Every reading is a (command, parser) pair: a function that builds the argv to run on the
node, and a function that turns its output into values. An inventory of SSH hosts runs
the argv on each node's host and feeds the output to the parsers. The embedded lab's nodes
read themselves (the same JvmProbe reading, written by a listener in each node:
harness.cluster.readings); one JvmProbe server for the whole process invokes what only JMX
offers there (harness.cluster.probe_server; invoke, gc_run).

  jcmd PID VM.flags                  -> parse_vm_flags    heap sizes, young gen, GC in use
  jstat -gc PID                      -> parse_jstat_gc    heap used, young/old GC counts, times
                                        (here: hsperf reads the same counters, no JVM)
  jcmd PID ManagementAgent.start ... -> (agent_start_command) a JMX agent on the node's own
                                        loopback address, password-protected
  java JvmProbe HOST:PORT            -> parse_probe       Executor, thread pools, connectors,
                                        sessions, heap and GC through JMX (here, with
                                        --start-agent and --vm-flags: the two jcmds too;
                                        --gc-run: jcmd PID GC.run)
  grep -c 'Executor rejected' LOG    -> parse_count       the pool's rejections

Why JMX through an agent bound to the node's address: the Executor's live state
(poolSize, activeCount, queueSize) exists only in Tomcat's MBeans. The agent listens on
the node's own loopback address at JMX_PORT, never on the balancer's port, asks for a
password generated per lab (kept in 0600 files under the lab's run folder, never in the
repository or in results), and needs no manager webapp.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel

from harness import commands
from harness.cluster import hsperf
from harness.cluster.endpoints import Endpoint, is_listening
from harness.cluster.probe_server import (
    SERVER_JVM_FLAGS,
    ProbeServer,
    ProbeServerError,
    running_shared,
    shared,
)
from harness.paths import CACHE_DIR

log = logging.getLogger(__name__)

JMX_PORT = 9010
AGENT_STOP_WAIT_S = 2.0  # stopping an agent is a round trip; more means something is wrong
PROBE_SOURCE = Path(__file__).resolve().parent / "java" / "JvmProbe.java"
PROBE_CLASSES = CACHE_DIR / "jvmprobe"
# A probe is a short-lived client: a small heap and the C1 compiler start it fastest.
PROBE_JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m", "-Xshare:auto")
JMX_USER = "tomcatbench"
REJECTED = "Executor rejected socket"
COMMAND_TIMEOUT_S = 30.0
ROOT_CONTEXT_MBEAN = (
    "Catalina:j2eeType=WebModule,name=//localhost/,J2EEApplication=none,J2EEServer=none"
)
DEPLOYER_MBEAN = "Catalina:type=Deployer,host=localhost"

# Collector names by generation; anything not listed counts as old (full) collections.
YOUNG_COLLECTORS = frozenset(
    {"G1 Young Generation", "Copy", "PS Scavenge", "ParNew", "ZGC Minor Cycles"}
)
GC_FLAGS = ("UseG1GC", "UseParallelGC", "UseSerialGC", "UseZGC", "UseShenandoahGC", "UseEpsilonGC")


class JvmReadError(RuntimeError):
    """A reading that failed; the message names the command and what it said."""


# --------------------------------------------------------------------------- commands


# The JDK's tools are short-lived JVMs: C1 alone and the serial GC start them ~25% sooner.
TOOL_JVM_FLAGS = ("-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC")


def vm_flags_command(pid: int) -> list[str]:
    return ["jcmd", *TOOL_JVM_FLAGS, str(pid), "VM.flags"]


def jstat_command(pid: int) -> list[str]:
    return ["jstat", *TOOL_JVM_FLAGS, "-gc", str(pid)]


def agent_status_command(pid: int) -> list[str]:
    return ["jcmd", str(pid), "ManagementAgent.status"]


def agent_start_command(pid: int, host: str, port: int, secrets_dir: PurePath) -> list[str]:
    """Start the JVM's JMX agent on host:port only, with password files from secrets_dir."""
    return [
        "jcmd",
        str(pid),
        "ManagementAgent.start",
        f"jmxremote.host={host}",
        f"jmxremote.port={port}",
        f"jmxremote.rmi.port={port}",  # one port, so nothing else opens
        "jmxremote.authenticate=true",
        "jmxremote.ssl=false",  # loopback only; the password is what keeps others out
        f"jmxremote.password.file={secrets_dir / 'jmx.password'}",
        f"jmxremote.access.file={secrets_dir / 'jmx.access'}",
    ]


def probe_command(
    host: str,
    port: int,
    *,
    every_ms: int | None = None,
    count: int = 1,
    classes: PurePath | None = None,
    source: PurePath = PROBE_SOURCE,
    start_agent: tuple[int, PurePath] | None = None,
    vm_flags: bool = False,
) -> list[str]:
    """JvmProbe reading the MBeans (count times, every_ms apart); credentials go on stdin.

    With classes (compiled by compile_probe) it starts faster; without, the JDK compiles
    the single source file itself, which is how a remote node runs it. start_agent (the
    JVM's pid, its agent's secrets folder) starts the agent first, as
    agent_start_command does; vm_flags adds `VM.flags`' text to the first reading: one
    JVM for what took three (jcmd twice and the probe)."""
    program = ["-cp", str(classes), "JvmProbe"] if classes else [str(source)]
    timing = ["--every-ms", str(every_ms), "--count", str(count)] if every_ms else []
    agent = ["--start-agent", str(start_agent[0]), str(start_agent[1])] if start_agent else []
    flags = ["--vm-flags"] if vm_flags else []
    return ["java", *PROBE_JVM_FLAGS, *program, f"{host}:{port}", *agent, *flags, *timing]


def invoke_command(
    host: str, port: int, mbean: str, operation: str, *args: str, classes: Path | None = None
) -> list[str]:
    base = probe_command(host, port, classes=classes)
    return [*base, "--invoke", mbean, operation, *args]


def rejections_command(log_path: PurePath) -> list[str]:
    # grep -c prints 0 (and exits 1) when nothing matched; parse_count reads either.
    return ["grep", "-c", REJECTED, str(log_path)]


def listening_command() -> list[str]:
    return ["ss", "-Hltnp"]


# --------------------------------------------------------------------------- parsers

_FLAG = re.compile(r"-XX:(?P<sign>[+-])?(?P<name>\w+)(?:=(?P<value>\S*))?")


def parse_vm_flags(text: str) -> dict[str, str]:
    """`jcmd PID VM.flags` -> {"MaxHeapSize": "1073741824", "UseG1GC": "true", ...}."""
    flags: dict[str, str] = {}
    for found in _FLAG.finditer(text):
        if found["value"] is not None:
            flags[found["name"]] = found["value"]
        else:
            flags[found["name"]] = "false" if found["sign"] == "-" else "true"
    if not flags:
        raise JvmReadError(f"VM.flags: no -XX flags in {text.strip()[:200]!r}")
    return flags


def gc_in_use(flags: dict[str, str]) -> str | None:
    """The collector the flags select ("G1", "Parallel", ...), or None if none is named."""
    for flag in GC_FLAGS:
        if flags.get(flag) == "true":
            return flag.removeprefix("Use").removesuffix("GC")
    return None


def parse_jstat_gc(text: str) -> dict[str, float]:
    """`jstat -gc PID` (a header line, a value line; sizes in KB) -> values by column,
    plus heap_used_kb (survivors + eden + old)."""
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2 or len(lines[0]) != len(lines[-1]):
        raise JvmReadError(f"jstat -gc: expected a header and a row, got {text.strip()[:200]!r}")
    row: dict[str, float] = {}
    for name, value in zip(lines[0], lines[-1], strict=True):
        if value == "-":
            continue  # a column this collector does not have (Serial: no concurrent GC)
        try:
            row[name] = float(value)
        except ValueError:
            raise JvmReadError(f"jstat -gc: {name} is not a number: {value!r}") from None
    row["heap_used_kb"] = sum(row.get(k, 0.0) for k in ("S0U", "S1U", "EU", "OU"))
    return row


def parse_probe(text: str) -> list[dict[str, Any]]:
    """JvmProbe's output: one JSON object per line."""
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise JvmReadError(f"JvmProbe: not JSON: {line[:200]!r}") from None
    return out


def parse_count(text: str) -> int:
    try:
        return int(text.strip() or "0")
    except ValueError:
        raise JvmReadError(f"expected a count, got {text.strip()[:100]!r}") from None


def parse_agent_status(text: str) -> str | None:
    """`jcmd PID ManagementAgent.status` -> the remote agent's "host:port", or None if the
    JVM runs none. Read from the properties it lists: its URL is an RMI stub, no address."""
    if "Connection Type: remote" not in text:
        return None
    port = re.search(r"com\.sun\.management\.jmxremote\.port = (\d+)", text)
    host = re.search(r"com\.sun\.management\.jmxremote\.host = (\S+)", text)
    if port is None:
        return None
    return f"{host[1] if host else '*'}:{port[1]}"  # no host: every address


def parse_listening(text: str, pid: int) -> list[Endpoint]:
    """`ss -Hltnp` lines of the given pid -> the (address, port) it listens on."""
    out = []
    for line in text.splitlines():
        if f"pid={pid}," not in line:
            continue
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        out.append(Endpoint(address.strip("[]").removeprefix("::ffff:"), int(port)))
    return sorted(out, key=lambda e: (e.address, e.port))


# --------------------------------------------------------------------------- typed result


class Pool(BaseModel):
    """The request thread pool: the shared Executor if the connector uses one, else the
    connector's own pool (whose queue Tomcat does not expose)."""

    kind: str  # "executor" or "connector"
    name: str
    max_threads: int
    min_spare_threads: int | None
    max_queue_size: int | None
    max_idle_time_ms: int | None
    current_threads: int
    busy_threads: int
    queue_size: int | None
    largest_pool_size: int | None
    completed_tasks: int | None
    # Tomcat 9's MBeans do not expose prestartminSpareThreads; None means "not visible".
    prestart_min_spare_threads: bool | None = None


class ConnectorInfo(BaseModel):
    port: int
    address: str | None
    protocol: str
    handler: str | None
    executor: str | None
    attributes: dict[str, Any]

    @property
    def is_ajp(self) -> bool:
        return "ajp" in f"{self.protocol} {self.handler}".lower()


class Heap(BaseModel):
    init_bytes: int
    used_bytes: int
    committed_bytes: int
    max_bytes: int


class Collector(BaseModel):
    name: str
    generation: str  # young or old
    count: int
    time_ms: int


class NodeJvm(BaseModel):
    """One node's JVM and Tomcat as they run."""

    node: str
    pid: int
    flags: dict[str, str]
    gc: str | None
    max_heap_bytes: int | None
    initial_heap_bytes: int | None
    new_size_bytes: int | None
    max_new_size_bytes: int | None
    heap: Heap
    collectors: list[Collector]
    jstat: dict[str, float]
    pool: Pool | None
    connectors: list[ConnectorInfo]
    ajp: bool
    listening: list[str]
    rejections: int | None
    sessions: int | None
    live_threads: int | None
    # The ROOT context's session manager class, as its MBean reports it (None: not shown).
    session_manager: str | None = None
    # How often (s) the Host's deployer looks at its applications: when a touched web.xml
    # is noticed. None: not shown, or no background thread runs at all.
    deployer_check_s: int | None = None
    auto_deploy: bool | None = None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def pool_from(probe: dict[str, Any]) -> Pool | None:
    """The pool serving the HTTP connector: its Executor if it names one."""
    connectors = [c for c in probe.get("connectors", []) if "ajp" not in str(c).lower()]
    executor_name = next((c.get("executorName") for c in connectors if c.get("executorName")), None)
    for ex in probe.get("executors", []):
        if executor_name in (None, "Internal", ex.get("name")):
            return Pool(
                kind="executor",
                name=str(ex.get("name")),
                max_threads=int(ex["maxThreads"]),
                min_spare_threads=_int(ex.get("minSpareThreads")),
                max_queue_size=_int(ex.get("maxQueueSize")),
                max_idle_time_ms=_int(ex.get("maxIdleTime")),
                current_threads=int(ex["poolSize"]),
                busy_threads=int(ex["activeCount"]),
                queue_size=_int(ex.get("queueSize")),
                largest_pool_size=_int(ex.get("largestPoolSize")),
                completed_tasks=_int(ex.get("completedTaskCount")),
            )
    for tp in probe.get("thread_pools", []):
        if "ajp" in str(tp.get("name", "")).lower():
            continue
        return Pool(
            kind="connector",
            name=str(tp.get("name")),
            max_threads=int(tp["maxThreads"]),
            min_spare_threads=_int(tp.get("minSpareThreads")),
            max_queue_size=None,
            max_idle_time_ms=None,
            current_threads=int(tp["currentThreadCount"]),
            busy_threads=int(tp["currentThreadsBusy"]),
            queue_size=None,
            largest_pool_size=None,
            completed_tasks=None,
        )
    return None


def connectors_from(probe: dict[str, Any]) -> list[ConnectorInfo]:
    out = []
    for c in probe.get("connectors", []):
        known = {"objectName", "port", "address", "protocol", "protocolHandlerClassName"}
        out.append(
            ConnectorInfo(
                port=int(c["port"]),
                address=str(c["address"]).lstrip("/") if c.get("address") else None,
                protocol=str(c.get("protocol")),
                handler=c.get("protocolHandlerClassName"),
                executor=c.get("executorName"),
                attributes={k: v for k, v in c.items() if k not in known},
            )
        )
    return out


def collectors_from(probe: dict[str, Any]) -> list[Collector]:
    return [
        Collector(
            name=str(gc["name"]),
            generation="young" if gc["name"] in YOUNG_COLLECTORS else "old",
            count=int(gc["count"]),
            time_ms=int(gc["time_ms"]),
        )
        for gc in probe.get("gc", [])
    ]


def session_manager_from(probe: dict[str, Any]) -> str | None:
    """The ROOT context's manager class, where its MBean shows one."""
    for ctx in probe.get("contexts", []):
        if ctx.get("context") == "/" and isinstance(ctx.get("className"), str):
            return str(ctx["className"])
    return None


def deployer_check_from(probe: dict[str, Any]) -> int | None:
    """A Host's backgroundProcessorDelay, or where it has none (-1) its Engine's: Tomcat
    runs the Host's deployer check that often. With several Hosts, the longest."""
    engines = [_int(e.get("backgroundProcessorDelay")) for e in probe.get("engines", [])]
    engine = next((d for d in engines if d is not None), None)
    checks = []
    for host in probe.get("hosts", []):
        own = _int(host.get("backgroundProcessorDelay"))
        delay = own if own is not None and own > 0 else engine
        if delay is not None and delay > 0:
            checks.append(delay)
    return max(checks, default=None)


def auto_deploy_from(probe: dict[str, Any]) -> bool | None:
    """Whether a Host deploys on its own (autoDeploy): any of them, where shown."""
    seen = [
        h["autoDeploy"] for h in probe.get("hosts", []) if isinstance(h.get("autoDeploy"), bool)
    ]
    return any(seen) if seen else None


def sessions_from(probe: dict[str, Any]) -> int | None:
    """Active sessions of the ROOT context, where its manager counts them."""
    for ctx in probe.get("contexts", []):
        if ctx.get("context") == "/":
            return _int(ctx.get("activeSessions"))
    return None


def gc_totals(collectors: Sequence[Collector]) -> dict[str, int]:
    out = {"young_gc_count": 0, "young_gc_time_ms": 0, "old_gc_count": 0, "old_gc_time_ms": 0}
    for gc in collectors:
        out[f"{gc.generation}_gc_count"] += gc.count
        out[f"{gc.generation}_gc_time_ms"] += gc.time_ms
    return out


# --------------------------------------------------------------------------- running locally


def run(argv: Sequence[str], *, stdin: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> str:
    """Run a reading's command on this machine; JvmReadError names it if it fails."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise JvmReadError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: {error}") from None
    if done.returncode not in ok_codes:
        said = (done.stderr or done.stdout).strip().splitlines()
        tail = said[-1] if said else f"exit code {done.returncode}"
        raise JvmReadError(f"{' '.join(argv[:3])}: {tail}")
    return done.stdout


def compile_probe(target: Path | None = None) -> Path:
    """JvmProbe's classes, compiled once per source text (a second of CPU saved at every
    start), in a folder named by the source's hash. Why not by date: two checkouts share
    one cache (ci-bench runs the base commit beside the head), and a class compiled from
    the other's source, newer than this one's, was run: "unknown option --gc-run"."""
    target = PROBE_CLASSES if target is None else target
    folder = target / _source_digest(PROBE_SOURCE)
    if not (folder / "JvmProbe.class").exists():
        compiled_once(folder, lambda into: run(["javac", "-d", str(into), str(PROBE_SOURCE)]))
    return folder


def compiled_once(folder: Path, build: Callable[[Path], object]) -> None:
    """build(scratch) fills a scratch folder beside folder, renamed to folder whole: a
    reader never sees half of it, and two processes building at once both end with the
    same folder."""
    if commands.path_of("javac") is None:
        raise JvmReadError(commands.missing_message("javac"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".compiling-", dir=folder.parent))
    try:
        build(scratch)
        with contextlib.suppress(OSError):  # another process renamed its own first
            scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def compiled_jar(
    folder_root: Path, jar_name: str, sources: Sequence[Path], classpath: Sequence[Path]
) -> Path:
    """The sources compiled against the class path's jars, in a jar (the class archive keeps
    no class of a folder on the class path), once per source text, class path and JDK:
    folder_root/DIGEST/jar_name."""
    folder = folder_root / jar_digest(sources, classpath)
    jar = folder / jar_name
    if not jar.exists():
        compiled_once(folder, functools.partial(_build_jar, sources, classpath, jar_name))
    return jar


def jar_digest(sources: Sequence[Path], classpath: Sequence[Path]) -> str:
    """Of the sources' text, the class path's jars by path (a Tomcat's or a manager's
    version is in its path) and the JDK that compiles: a class from a newer javac fails
    to load in an older java, and no node would start."""
    javac = Path(shutil.which("javac") or "javac").resolve()
    stamp = javac.stat().st_mtime_ns if javac.exists() else ""
    digest = hashlib.sha256(f"{javac}\n{stamp}\n".encode())
    for jar in classpath:
        digest.update(f"{jar}\n".encode())
    for source in sources:
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _build_jar(
    sources: Sequence[Path], classpath: Sequence[Path], jar_name: str, into: Path
) -> None:
    classes = into / "classes"
    path = ":".join(str(jar) for jar in classpath)
    run(["javac", "-cp", path, "-d", str(classes), *(str(source) for source in sources)])
    with zipfile.ZipFile(into / jar_name, "w", zipfile.ZIP_DEFLATED) as out:
        for built in sorted(classes.rglob("*.class")):
            out.write(built, built.relative_to(classes).as_posix())
    shutil.rmtree(classes)


def _source_digest(source: Path) -> str:
    stat = source.stat()
    return _digest_of(source, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _digest_of(source: Path, mtime_ns: int, size: int) -> str:
    """The source's hash, read again only when its date or size moves (once per reading)."""
    return hashlib.sha256(source.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class JmxAccess:
    """Where a node's JMX agent listens and the generated credentials to use it.

    The password lives only in the lab's 0600 files; repr() leaves it out."""

    host: str
    port: int
    secrets_dir: Path

    @property
    def credentials(self) -> str:
        # The agent rewrites jmx.password with salted hashes; the client keeps its own copy.
        return (self.secrets_dir / "jmx.client").read_text().strip()

    def __repr__(self) -> str:
        return f"JmxAccess({self.host}:{self.port})"


# Nodes are read in parallel: the first two readers of a fresh lab must not each make a
# password (one node's agent would get one, the probe's client file the other).
_SECRETS_LOCK = threading.Lock()


def jmx_secrets(directory: Path) -> Path:
    """The lab's JMX password and access files, generated once (0600: the JVM insists)."""
    with _SECRETS_LOCK:
        return _jmx_secrets(directory)


def new_credentials() -> str:
    """A generated JMX user and password line, for jmx.password and the client's copy."""
    return f"{JMX_USER} {secrets.token_urlsafe(24)}\n"


def access_line(level: str) -> str:
    return f"{JMX_USER} {level}\n"


def _jmx_secrets(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    password, access = directory / "jmx.password", directory / "jmx.access"
    client = directory / "jmx.client"
    if not client.exists() or not password.exists():
        line = new_credentials()
        for path in (client, password):
            path.touch(mode=0o600)
            path.write_text(line)
    if not access.exists():
        access.touch(mode=0o600)
        # readwrite: context reload and redeploy are MBean operations.
        access.write_text(access_line("readwrite"))
    return directory


def agent_secrets(secrets_dir: Path, host: str, port: int) -> Path:
    """One agent's own jmx.password and jmx.access (same credentials as jmx.client).

    Why one per agent: a JVM rewrites its password file with salted hashes, in place. Two
    nodes sharing one file raced: one JVM read it while the other was rewriting it, and
    its agent refused the right password ("Authentication failed", seen once in CI)."""
    with _SECRETS_LOCK:
        _jmx_secrets(secrets_dir)
        own = secrets_dir / f"agent-{host}-{port}"
        own.mkdir(mode=0o700, exist_ok=True)
        for name, text in (
            ("jmx.password", (secrets_dir / "jmx.client").read_text()),
            ("jmx.access", (secrets_dir / "jmx.access").read_text()),
        ):
            path = own / name
            if not path.exists():
                path.touch(mode=0o600)
                path.write_text(text)
        return own


def ensure_agent(pid: int, host: str, secrets_dir: Path, port: int = JMX_PORT) -> JmxAccess:
    """Start the JVM's JMX agent on host:port unless it listens already."""
    access = JmxAccess(host, port, jmx_secrets(secrets_dir))
    if not is_listening(Endpoint(host, port)):
        _ask(access, start_agent=(pid, agent_secrets(secrets_dir, host, port)))
    return access


def probe_server() -> ProbeServer:
    """This process's JvmProbe server, for the nodes on this machine (see probe_server)."""
    program = ["-cp", str(compile_probe()), "JvmProbe"]
    return shared(["java", *PROBE_JVM_FLAGS, *SERVER_JVM_FLAGS, *program])


def stop_agents(nodes: Mapping[str, int], secrets_dir: Path) -> None:
    """Stop the listening JMX agents of these lab nodes (address -> pid; `jcmd PID
    ManagementAgent.stop`), through this process's probe server if it runs.

    Why: a JVM whose agent listens waits 0.3 s at exit for the agent's accept thread,
    blocked in native code (HotSpot gives such threads 300 ms to settle); stopped first, a
    node exits in 0.05 s. Best effort: a node whose agent still runs only exits slower."""
    server = running_shared()
    if server is None or not (secrets_dir / "jmx.client").exists():
        return  # no agent of this process's to stop: starting a server would cost more
    credentials = JmxAccess("", JMX_PORT, secrets_dir).credentials
    asked = [
        server.submit(credentials, [f"{address}:{JMX_PORT}", "--stop-agent", str(pid)])
        for address, pid in nodes.items()
        if is_listening(Endpoint(address, JMX_PORT))
    ]
    for future in asked:
        with contextlib.suppress(ProbeServerError, FutureTimeout):
            future.result(timeout=AGENT_STOP_WAIT_S)


def _ask(
    access: JmxAccess, *options: str, start_agent: tuple[int, Path] | None = None
) -> dict[str, Any]:
    """One request to this process's probe server, the node's agent started first if asked."""
    agent = ["--start-agent", str(start_agent[0]), str(start_agent[1])] if start_agent else []
    request = [f"{access.host}:{access.port}", *agent, *options]
    try:
        return probe_server().ask(access.credentials, request)
    except ProbeServerError as error:
        raise JvmReadError(str(error)) from None


def _agent_unless_listening(pid: int, address: str, secrets_dir: Path) -> tuple[int, Path] | None:
    """--start-agent's (pid, secrets) for a JVM whose agent does not listen yet, else None."""
    if is_listening(Endpoint(address, JMX_PORT)):
        return None
    return pid, agent_secrets(secrets_dir, address, JMX_PORT)


def gc_run(pid: int, address: str, secrets_dir: Path) -> None:
    """`jcmd PID GC.run` on a node of this machine, through the probe server (no jcmd JVM),
    its agent started first where it does not listen."""
    access = JmxAccess(address, JMX_PORT, jmx_secrets(secrets_dir))
    _ask(access, "--gc-run", start_agent=_agent_unless_listening(pid, address, secrets_dir))


def invoke(access: JmxAccess, mbean: str, operation: str, *args: str) -> dict[str, Any]:
    """Invoke an MBean operation (a context reload, a deployer check)."""
    return _ask(access, "--invoke", mbean, operation, *args)


def count_rejections(log_path: Path) -> int | None:
    if not log_path.exists():
        return None
    return parse_count(run(rejections_command(log_path), ok_codes=(0, 1)))


def jstat_gc(pid: int) -> dict[str, float]:
    """`jstat -gc PID`'s columns: from the JVM's counters file, or from jstat where the
    JVM keeps none (-XX:-UsePerfData)."""
    try:
        return hsperf.read_jstat_gc(pid)
    except (OSError, ValueError):
        return parse_jstat_gc(run(jstat_command(pid)))


def node_jvm(
    node: str,
    pid: int,
    *,
    flags: dict[str, str],
    jstat: dict[str, float],
    mbeans: dict[str, Any],
    listening: list[Endpoint],
    rejections: int | None,
) -> NodeJvm:
    """One node's readings, however they were fetched (here, or over SSH), as a NodeJvm."""
    connectors = connectors_from(mbeans)
    heap = mbeans["heap"]
    return NodeJvm(
        node=node,
        pid=pid,
        flags=flags,
        gc=gc_in_use(flags),
        max_heap_bytes=_int_flag(flags, "MaxHeapSize"),
        initial_heap_bytes=_int_flag(flags, "InitialHeapSize"),
        new_size_bytes=_int_flag(flags, "NewSize"),
        max_new_size_bytes=_int_flag(flags, "MaxNewSize"),
        heap=Heap(
            init_bytes=heap["init"],
            used_bytes=heap["used"],
            committed_bytes=heap["committed"],
            max_bytes=heap["max"],
        ),
        collectors=collectors_from(mbeans),
        jstat=jstat,
        pool=pool_from(mbeans),
        connectors=connectors,
        ajp=any(c.is_ajp for c in connectors),
        listening=[str(e) for e in listening],
        rejections=rejections,
        sessions=sessions_from(mbeans),
        session_manager=session_manager_from(mbeans),
        deployer_check_s=deployer_check_from(mbeans),
        auto_deploy=auto_deploy_from(mbeans),
        live_threads=_int(mbeans.get("live_threads")),
    )


def _int_flag(flags: dict[str, str], name: str) -> int | None:
    value = flags.get(name)
    return int(value) if value is not None and value.isdigit() else None


@dataclass(frozen=True)
class NodeTarget:
    """A lab's Tomcat node to sample: its JVM's pid, its log (where rejections are counted)
    and its CATALINA_BASE (where it writes its own readings: readings.py)."""

    pid: int
    log: Path
    base: Path


# --------------------------------------------------------------------------- requested vs in effect

_SIZE = re.compile(r"^(\d+)([kKmMgGtT]?)$")
# -X options and the VM flag each one sets.
_X_OPTIONS = {"-Xms": ("InitialHeapSize",), "-Xmx": ("MaxHeapSize",),
              "-Xmn": ("NewSize", "MaxNewSize")}  # fmt: skip


def size_bytes(text: str) -> int | None:
    found = _SIZE.match(text)
    if not found:
        return None
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[found[2].lower()]
    return int(found[1]) * scale


def expected_flags(jvm_flags: Sequence[str]) -> dict[str, str]:
    """Command-line JVM options -> the VM.flags values they should produce."""
    out: dict[str, str] = {}
    for option in jvm_flags:
        for prefix, names in _X_OPTIONS.items():
            if option.startswith(prefix) and (size := size_bytes(option[len(prefix) :])):
                out |= dict.fromkeys(names, str(size))
        if option.startswith("-Xss") and (size := size_bytes(option[4:])):
            out["ThreadStackSize"] = str(size // 2**10)  # VM.flags counts it in KB
        found = _FLAG.fullmatch(option)
        if found and found["value"] is not None:
            value = found["value"]
            sized = size_bytes(value) if value[-1:].isalpha() else None
            out[found["name"]] = str(sized) if sized is not None else value
        elif found:
            out[found["name"]] = "false" if found["sign"] == "-" else "true"
    return out


def _same(asked: object, seen: object) -> bool:
    def norm(value: object) -> str:
        return str(value).lower()

    return norm(asked) == norm(seen)


def mismatches(node: NodeJvm, requested: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Compare what a profile asks for (Profile.effective(): executor and connector
    attributes, JVM options) with what the node runs. Returns (mismatches, unverified):
    each a "key: asked X, running Y" line; unverified names what Tomcat does not show."""
    wrong: list[str] = []
    unseen: list[str] = []
    pool = node.pool
    executor = requested.get("executor") or {}
    if executor and (pool is None or pool.kind != "executor"):
        wrong.append("executor: asked for a shared Executor, the connector runs its own pool")
    pool_values = {
        "maxThreads": pool.max_threads if pool else None,
        "minSpareThreads": pool.min_spare_threads if pool else None,
        "maxQueueSize": pool.max_queue_size if pool else None,
        "maxIdleTime": pool.max_idle_time_ms if pool else None,
    }
    for key, asked in executor.items():
        if pool_values.get(key) is None:
            unseen.append(f"executor.{key}")
        elif not _same(asked, pool_values[key]):
            wrong.append(f"executor.{key}: asked {asked}, running {pool_values[key]}")
    http = [c for c in node.connectors if not c.is_ajp]
    for key, asked in (requested.get("connector") or {}).items():
        if not http:
            unseen.append(f"connector.{key}")
            continue
        seen = http[0].handler if key == "protocol" else http[0].attributes.get(key)
        if seen is None:
            unseen.append(f"connector.{key}")
        elif not _same(asked, seen):
            wrong.append(f"connector.{key}: asked {asked}, running {seen}")
    ajp = requested.get("ajp")
    if isinstance(ajp, dict) and "enabled" in ajp and bool(ajp["enabled"]) != node.ajp:
        wrong.append(f"ajp.enabled: asked {ajp['enabled']}, running {node.ajp}")
    for name, asked in expected_flags(requested.get("jvm") or []).items():
        seen = node.flags.get(name)
        if seen is None:
            unseen.append(f"jvm.{name}")
        elif not _same(asked, seen):
            wrong.append(f"jvm.{name}: asked {asked}, running {seen}")
    _deployer(node, requested, wrong, unseen)
    _replication_manager(node, requested, wrong, unseen)
    return wrong, unseen


def _deployer(
    node: NodeJvm, requested: dict[str, Any], wrong: list[str], unseen: list[str]
) -> None:
    """[deploy]'s Host and Engine settings against the node's Host: how often its
    deployer looks (a Host's own delay overrides its Engine's) and whether it deploys."""
    deploy = requested.get("deploy") or {}
    for key, seen in (
        ("backgroundProcessorDelay", node.deployer_check_s),
        ("autoDeploy", node.auto_deploy),
    ):
        if key not in deploy:
            continue
        if seen is None:
            unseen.append(f"deploy.{key}")
        elif not _same(deploy[key], seen):
            wrong.append(f"deploy.{key}: asked {deploy[key]}, running {seen}")


def _replication_manager(
    node: NodeJvm, requested: dict[str, Any], wrong: list[str], unseen: list[str]
) -> None:
    """[sessions.replication] manager against the class the node's context runs, where it
    runs Tomcat's replication at all (the profile's section applies only there)."""
    asked = ((requested.get("sessions") or {}).get("replication") or {}).get("manager")
    running = node.session_manager
    if asked is None or running is None or ".ha.session." not in running:
        return
    if running.rsplit(".", 1)[-1] != asked:
        wrong.append(f"sessions.replication.manager: asked {asked}, running {running}")


def in_effect(
    readers: Mapping[str, Callable[[], NodeJvm]], profile_name: str, requested: dict[str, Any]
) -> dict[str, Any]:
    """Each node's JVM read (in parallel) and compared with what the profile asks for; a
    node that cannot be read is named with its error, not fatal."""
    out: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=max(len(readers), 1)) as pool:
        futures = {name: pool.submit(read) for name, read in readers.items()}
        for name, future in futures.items():
            try:
                node = future.result()
            except (JvmReadError, OSError) as error:
                log.warning("%s: could not read the JVM: %s", name, error)
                out[name] = {"error": str(error)}
                continue
            wrong, unseen = mismatches(node, requested)
            for line in wrong:
                log.warning("%s does not run what profile %s asks: %s", name, profile_name, line)
            out[name] = {**node.model_dump(mode="json"), "mismatches": wrong, "unverified": unseen}
    return out
