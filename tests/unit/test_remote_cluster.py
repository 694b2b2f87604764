"""One's own cluster from an inventory, before any host is reached: which faults it takes,
what a node's config says about its session manager, and the nftables a fault writes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import pytest

from harness.cluster import LANDED_AT, LANDED_BY, EarlyEntry
from harness.cluster.errors import ClusterError
from harness.cluster.lab import LabSpec, Topology
from harness.cluster.remote import is_inventory, netfaults, probe, telemetry
from harness.cluster.remote.cluster import InventorySpec, RemoteCluster
from harness.cluster.remote.hosts import CommandResult, LocalHost
from harness.cluster.remote.parts import RemoteNode
from harness.config.faults import parse_faults
from harness.config.inventory import InventoryError, InventoryNode, load_inventory
from harness.config.profile import load_profile

INVENTORY = """
[[balancers]]
name = "lb"
kind = "nginx"
host = "127.0.0.1"
url = "http://127.0.0.1:8080/"
faults = true

[[nodes]]
name = "web1"
host = "127.0.0.2"
catalina_home = "/opt/tomcat"
http_address = "127.0.0.2"
faults = true

[[nodes]]
name = "web2"
host = "127.0.0.3"
catalina_home = "/opt/tomcat"

[[stores]]
name = "redis1"
kind = "redis"
host = "127.0.0.4"
address = "127.0.0.4:6379"
start = "redis-server /etc/redis.conf"
pid_file = "/run/redis.pid"
faults = true
"""


@pytest.fixture
def spec(tmp_path: Path) -> InventorySpec:
    path = tmp_path / "hosts.toml"
    path.write_text(INVENTORY)
    return InventorySpec(load_inventory(path))


def test_faults_reach_only_marked_parts_with_actions_that_work_over_ssh(
    spec: InventorySpec,
) -> None:
    spec.check_faults(parse_faults("sigkill:web1@5,sigstop:redis1@6-7,reload:lb@8"))
    spec.check_faults(parse_faults("partition:web1-redis1@5-9,drop:balancer:5%@5-9"))
    with pytest.raises(InventoryError, match="web2 is not marked `faults = true`"):
        spec.check_faults(parse_faults("sigkill:web2@5"))
    with pytest.raises(ClusterError, match="context-reload does not reach web1 over SSH"):
        spec.check_faults(parse_faults("context-reload:web1@5"))
    with pytest.raises(ClusterError, match="sigkill does not reach lb"):
        spec.check_faults(parse_faults("sigkill:balancer@5"))


def test_a_store_started_by_command_needs_its_pid_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(INVENTORY.replace('pid_file = "/run/redis.pid"\n', ""))
    with pytest.raises(InventoryError, match=r"hosts.toml: .*start and pid_file go together"):
        load_inventory(path)


def test_another_strategy_is_refused_not_faked(spec: InventorySpec, tmp_path: Path) -> None:
    spec.__dict__["session_managers"] = {"web1": {"kind": "redis"}, "web2": {"kind": "redis"}}
    assert spec.with_strategy("nginx", "redis") is spec
    with pytest.raises(ClusterError, match="cannot be switched to haproxy with redis"):
        spec.with_strategy("haproxy", "redis")


@pytest.mark.parametrize(
    ("context", "server", "kind"),
    [
        ('<Context><Manager className="org.redisson.tomcat.RedissonSessionManager" '
         'configPath="x"/></Context>', "<Server/>", "redis"),
        ('<Context><Manager className="de.javakaffee.web.msm.MemcachedBackupSessionManager" '
         'sticky="false" memcachedNodes="n1:h:1"/></Context>', "<Server/>", "memcached"),
        ('<Context><Manager className="de.javakaffee.web.msm.MemcachedBackupSessionManager" '
         'memcachedNodes="n1:h:1"/></Context>', "<Server/>", "memcached-sticky"),
        ("<Context/>", "<Server><Service><Engine><Cluster/></Engine></Service></Server>",
         "replication"),
        ("<Context/>", "<Server/>", "none"),
    ],
)  # fmt: skip
def test_the_session_manager_is_read_from_the_nodes_config(
    tmp_path: Path, context: str, server: str, kind: str
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "context.xml").write_text(context)
    (tmp_path / "conf" / "server.xml").write_text(server)
    node = InventoryNode(name="web1", host="127.0.0.2", catalina_home=str(tmp_path))
    assert probe.session_manager(LocalHost(), node)["kind"] == kind


def test_a_password_in_the_managers_config_is_never_recorded(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "context.xml").write_text(
        '<Context><Manager className="de.javakaffee.web.msm.MemcachedBackupSessionManager" '
        'password="s3cret" memcachedNodes="n1:h:1"/></Context>'
    )
    node = InventoryNode(name="web1", host="127.0.0.2", catalina_home=str(tmp_path))
    assert "s3cret" not in str(probe.session_manager(LocalHost(), node))


def test_remove_touches_only_the_probes_folder(tmp_path: Path) -> None:
    (tmp_path / "webapps" / "ROOT").mkdir(parents=True)
    node = InventoryNode(name="web1", host="127.0.0.2", catalina_home=str(tmp_path))
    assert probe.remove(LocalHost(), node) is False
    (tmp_path / "webapps" / probe.CONTEXT / "WEB-INF").mkdir(parents=True)
    assert probe.remove(LocalHost(), node) is True
    assert sorted(p.name for p in (tmp_path / "webapps").iterdir()) == ["ROOT"]
    assert probe.folder(node) == PurePosixPath(tmp_path) / "webapps" / probe.CONTEXT


def test_a_partition_drops_the_other_parts_addresses_and_a_drop_spares_ssh(
    spec: InventorySpec,
) -> None:
    inventory = spec.inventory
    (cut,) = parse_faults("partition:web1-redis1@5-9")
    host, script = netfaults.rules(inventory, cut, "tomcat_bench_1", 22)
    assert host.name == "web1"
    assert "ip daddr { 127.0.0.4 } drop" in script and "ip saddr { 127.0.0.4 } drop" in script
    (lossy,) = parse_faults("drop:web1:5%@5-9")
    _, script = netfaults.rules(inventory, lossy, "tomcat_bench_2", 2222)
    assert "tcp dport 2222 accept" in script and "numgen random mod 1000 < 50 drop" in script


def test_load_hosts_need_the_masters_address(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(INVENTORY + '\n[[load]]\nname = "load1"\nhost = "127.0.0.5"\n')
    with pytest.raises(InventoryError, match="master_address: load hosts need"):
        load_inventory(path)
    path.write_text('master_address = "127.0.0.1"\n' + path.read_text())
    assert load_inventory(path).load[0].processes == 1


def test_usage_sums_the_processes_a_pattern_finds_and_never_its_own_shell() -> None:
    # A real process, read from /proc by the same command a host runs over SSH.
    sleeper = subprocess.Popen(["sleep", "7.77"])
    try:
        seen = telemetry.usage(LocalHost(), "^sleep 7[.]77$")
        assert seen is not None and seen.rss_bytes > 0 and seen.cpu_s >= 0
        # Nothing runs with this command line; the shell that runs pgrep with the pattern
        # as its argument must not count as one.
        assert telemetry.usage(LocalHost(), "[-]-logfile /nowhere/worker.log") is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_restore_that_fails_during_the_run_is_tried_again_at_its_end(
    spec: InventorySpec,
) -> None:
    # No host is reached: the restore itself is a stand-in that fails once, as a node
    # that does not come back in time would.
    cluster = RemoteCluster(spec, load_profile("best-practice"))
    (fault,) = parse_faults("sigkill:web1@5-8")
    calls: list[int] = []

    def start_again() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ClusterError("web1 at http://127.0.0.2:8080/: not ready after 120 s")

    cluster._pending[str(fault)] = start_again
    with pytest.raises(ClusterError, match="not ready"):
        cluster.restore(fault)
    cluster.down()
    assert not cluster._secrets.exists()  # nothing of the run is left here
    assert len(calls) == 2
    assert cluster.restored_at_end == [
        {"fault": str(fault), "at_epoch": cluster.restored_at_end[0]["at_epoch"], "ok": True}
    ]


def test_the_fault_timeline_takes_balancer_for_the_inventorys_front(spec: InventorySpec) -> None:
    """partition:balancer-web1 passes the plan's check, and the timeline (which checks
    targets again when the run starts) takes it too: it refused "balancer" on one's own
    cluster, so the bench stopped with an error after printing its plan."""
    from harness.load.faults import FaultTimeline  # noqa: PLC0415

    cluster = RemoteCluster(spec, load_profile("default"))
    try:
        faults = parse_faults("partition:balancer-web1@5-9,reload:balancer@10")
        spec.check_faults(faults)
        FaultTimeline(cluster, faults)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="target 'web2'"):
            FaultTimeline(cluster, parse_faults("sigkill:web2@5"))  # type: ignore[arg-type]
    finally:
        cluster.down()


def test_an_inventory_is_told_from_a_lab_without_importing_ssh(spec: InventorySpec) -> None:
    lab = LabSpec(balancer="nginx-rr", sessions="none", topology=Topology(net="127.0.77"))
    assert is_inventory(spec)
    assert not is_inventory(lab)


def test_a_lab_command_imports_no_ssh_no_redis_and_no_cryptography() -> None:
    """asyncssh and cryptography took 0.2 s of every lab bench's start, only to tell that
    its cluster was not an inventory; redis-py (0.06 s) is for a lab with Redis, and
    cryptography for one with [tls]: each is imported when first asked."""
    unused = "{'asyncssh', 'harness.cluster.remote.cluster', 'redis', 'cryptography'}"
    # Imported, then a bench planned as `bench` plans it: the cluster is chosen there.
    program = (
        "import sys\n"
        "import harness.cli.bench, harness.cli.capacity, harness.cli.matrix, harness.cli.lab\n"
        "from harness.cli import build_parser\n"
        "from harness.cli.options import parse\n"
        "harness.cli.bench.plan_from(parse(build_parser('bench'), ['bench']))\n"
        f"print(sorted({unused} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_signal_to_a_node_lands_in_one_round_trip_and_says_when(tmp_path: Path) -> None:
    """The pid its file names, signalled by one command that prints the host's clock
    around the signal (the fault's window starts at the first); a file naming no process
    is no JVM. Run on this machine's own shell (LocalHost): the command is what SSH would
    run."""
    node = InventoryNode(name="web1", host="127.0.0.2", catalina_home=str(tmp_path))
    (tmp_path / "temp").mkdir()
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        Path(node.pid_file).write_text(f"{victim.pid}\n")
        commands: list[list[str]] = []

        class Counted(LocalHost):
            def run(self, argv: list[str], **kwargs: object) -> CommandResult:
                commands.append(argv)
                return super().run(argv, **kwargs)  # type: ignore[arg-type]

        before = time.time()
        landed = RemoteNode(node, Counted()).signal("KILL")
        assert before <= landed[LANDED_AT] <= landed[LANDED_BY] <= time.time()
        assert victim.wait(timeout=5) == -9
        assert len(commands) == 1, commands
    finally:
        victim.kill()
        victim.wait()
    with pytest.raises(ClusterError, match="web1: no running JVM to send SIGKILL to"):
        RemoteNode(node, LocalHost()).signal("KILL")  # the same pid, now gone


def test_a_stream_hands_over_each_line_as_it_comes(tmp_path: Path) -> None:
    """The JVM readers wait for a node's first reading before the load starts: a line must
    reach them while the command still runs. Here the command goes on only once its first
    line was handed over (a flag file on_line writes), and a megabyte on stderr stops
    nothing. LocalHost runs what SshHost runs over SSH (the SSH testbed's bench covers it)."""
    flag = tmp_path / "first-line-seen"
    script = (
        'read secret; head -c 1000000 /dev/zero >&2; echo "got $secret"; '
        f"for i in $(seq 100); do [ -e {flag} ] && break; sleep 0.05; done; "
        f"[ -e {flag} ] && echo second; exit 3"
    )
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        flag.touch()

    status = LocalHost().stream(["sh", "-c", script], stdin="s3cret\n", on_line=on_line)
    assert (status, lines) == (3, ["got s3cret", "second"])


def test_locust_starts_up_while_the_cluster_is_checked_where_it_can(tmp_path: Path) -> None:
    """One Locust here starts up meanwhile (its start was 1-4 s of the SSH testbed's wait
    beyond the load), over HTTPS too, with the inventory's CA; not a master of load hosts,
    whose workers start with the load."""
    path = tmp_path / "hosts.toml"
    profile = load_profile("default")

    def spec_of(text: str) -> InventorySpec:
        path.write_text(text)
        return InventorySpec(load_inventory(path))

    plain = spec_of(INVENTORY)
    assert plain.entry_before_up(profile) == EarlyEntry("http://127.0.0.1:8080/tomcat-bench-probe")
    assert plain.entry_before_up(profile) == EarlyEntry(plain.entry_url, None)
    loaded = (
        'master_address = "127.0.0.1"\n'
        + INVENTORY
        + '\n[[load]]\nname = "l1"\nhost = "127.0.0.5"\n'
    )
    assert spec_of(loaded).entry_before_up(profile) is None
    (tmp_path / "ca.pem").write_text("")
    https = INVENTORY.replace(
        'url = "http://127.0.0.1:8080/"',
        f'url = "https://127.0.0.1:8443/"\nca_file = "{tmp_path / "ca.pem"}"',
    )
    assert spec_of(https).entry_before_up(profile) == EarlyEntry(
        "https://127.0.0.1:8443/tomcat-bench-probe", tmp_path / "ca.pem"
    )
