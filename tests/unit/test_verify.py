"""Reading a profile back from a JVM: the parsing and the comparison (on recorded output)."""

from pathlib import Path, PurePosixPath

import pytest

from harness.cluster.jvm import parse_vm_flags
from harness.config.inventory import InventoryError, load_inventory
from harness.config.profile import load_profile
from harness.fleet.verify import flag_mismatches

# `jcmd <pid> VM.flags` of a JVM started with jvm-g1's flags (Java 17, recorded here).
RECORDED = (
    "18917:\n-XX:CICompilerCount=2 -XX:InitialHeapSize=536870912 -XX:MaxGCPauseMillis=50 "
    "-XX:MaxHeapSize=536870912 -XX:MaxMetaspaceSize=268435456 -XX:MaxNewSize=134217728 "
    "-XX:MetaspaceSize=67108864 -XX:NewSize=134217728 -XX:SurvivorRatio=8 "
    "-XX:-THPStackMitigation -XX:ThreadStackSize=512 -XX:+UseCompressedOops -XX:+UseG1GC\n"
)


def test_parse_vm_flags_reads_values_and_booleans() -> None:
    flags = parse_vm_flags(RECORDED)
    assert flags["MaxHeapSize"] == "536870912"
    assert flags["UseG1GC"] == "true"
    assert flags["THPStackMitigation"] == "false"


def test_the_profile_that_started_the_jvm_matches_it() -> None:
    assert flag_mismatches(load_profile("jvm-g1"), parse_vm_flags(RECORDED)) == []


def test_another_profile_is_a_mismatch_naming_the_flag() -> None:
    mismatches = flag_mismatches(load_profile("best-practice"), parse_vm_flags(RECORDED))
    assert "MaxHeapSize: profile sets 1073741824, the JVM runs with 536870912" in mismatches
    assert any(m.startswith("NewSize:") for m in mismatches)


def test_a_flag_the_jvm_does_not_report_is_a_mismatch() -> None:
    flags = parse_vm_flags(RECORDED.replace("-XX:+UseG1GC", "-XX:+UseParallelGC"))
    assert "UseG1GC: profile sets true, the JVM does not report it" in flag_mismatches(
        load_profile("jvm-g1"), flags
    )


def test_inventory_errors_name_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[nodes]]\nname = "web1"\nhost = "127.0.0.1"\n')
    with pytest.raises(InventoryError, match=rf"^{path}: nodes\.0\.catalina_home: Field required$"):
        load_inventory(path)
    path.write_text('[ssh]\npassword = "x"\n[[nodes]]\nname="a"\nhost="h"\ncatalina_home="/t"\n')
    with pytest.raises(InventoryError, match=rf"^{path}: ssh\.password: unknown key$"):
        load_inventory(path)
    with pytest.raises(InventoryError, match="no such inventory file"):
        load_inventory(tmp_path / "missing.toml")
    node = '[[nodes]]\nname="a"\nhost="127.0.0.1"\ncatalina_home="/t"\n'
    path.write_text(node + 'jmx_address = "0.0.0.0"\n')
    refused = rf"^{path}: nodes\.0\.jmx_address: '0\.0\.0\.0' is not an IPv4 loopback"
    with pytest.raises(InventoryError, match=refused):
        load_inventory(path)
    path.write_text(node + 'jmx_address = "127.0.3.4"\n')
    assert load_inventory(path).nodes[0].jmx_address == "127.0.3.4"


def test_example_inventory_is_valid_and_loopback_only() -> None:
    inventory = load_inventory(Path(__file__).resolve().parents[2] / "inventories" / "example.toml")
    for node in inventory.nodes:
        assert node.host.startswith("127.")
        assert (node.http_address or "127.").startswith("127.")
        assert node.jmx_address.startswith("127.")


def test_diff_masks_every_secret(tmp_path: Path) -> None:
    from harness.cluster.lab.tomcat import ConfigFile  # noqa: PLC0415
    from harness.cluster.remote.hosts import LocalHost  # noqa: PLC0415
    from harness.fleet.apply import Target, diff  # noqa: PLC0415

    old = '<Server shutdown="old-cmd">\n<Connector secret="old-secret"/>\npassword: "old-pw"\n'
    new = (
        '<Server shutdown="new-cmd">\n<Executor/>\n'
        '<Connector secret="new-secret"/>\npassword: "new-pw"\n'
    )
    base = PurePosixPath(tmp_path)
    target = Target("n", LocalHost(), base, lambda _: [], lambda: None, lambda: None)
    text = diff(target, [(ConfigFile("conf/server.xml", new), old)])
    for secret in ("old-cmd", "new-cmd", "old-secret", "new-secret", "old-pw", "new-pw"):
        assert secret not in text
    assert "+<Executor/>" in text
    assert ' <Server shutdown="********">' in text  # a secret that changed is not shown either


def test_apply_keeps_a_nodes_own_session_manager(tmp_path: Path) -> None:
    # On one's own node the session manager lives in conf/context.xml: a profile changes
    # only what it governs there (reloadable), never the Manager under test.
    from harness.cluster.lab.tomcat import stock_configs  # noqa: PLC0415
    from harness.cluster.remote.hosts import LocalHost  # noqa: PLC0415
    from harness.config.profile import load_profile  # noqa: PLC0415
    from harness.fleet.apply import Target, plan  # noqa: PLC0415

    (tmp_path / "conf").mkdir()
    own = (
        '<?xml version="1.0"?>\n<!-- ours -->\n<Context reloadable="true">\n'
        '  <Manager className="org.redisson.tomcat.RedissonSessionManager" readMode="REDIS"/>\n'
        "</Context>\n"
    )
    (tmp_path / "conf" / "context.xml").write_text(own)
    profile = load_profile("best-practice")
    node = {"http_address": None, "http_port": 8080, "ajp_address": "localhost",
            "shutdown_port": 8005, "shutdown_address": "localhost", "jvm_route": None,
            "pid_file": None}  # fmt: skip
    target = Target(
        "n",
        LocalHost(),
        PurePosixPath(tmp_path),
        lambda command: stock_configs({**node, "shutdown_command": command}, profile),
        lambda: None,
        lambda: None,
        keeps_own_context=True,
    )
    (context,) = [c for c, _ in plan(target) if c.path == "conf/context.xml"]
    assert "RedissonSessionManager" in context.text and "<!-- ours -->" in context.text
    assert context.text.count("reloadable") == (1 if profile.deploy.reloadable is not None else 0)
