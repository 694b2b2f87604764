"""`apply` and `verify` as a user runs them: on the embedded lab, and over real SSH.

The SSH test starts its own sshd on 127.0.0.1 at a high port, with a generated host
key (put in a known_hosts file the harness checks) and a generated client key; the
"remote" node is a real Tomcat started by the harness's own apply through that sshd.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.artifacts import find_artifacts
from harness.cluster.endpoints import Endpoint, is_listening
from harness.cluster.lab import Lab, Topology
from harness.cluster.lab.lab import catalina_home
from harness.cluster.lab.processes import stop
from harness.config.profile import load_profile
from tests.integration.conftest import Browser, assert_lab_gone
from tests.integration.test_cli import harness

pytestmark = pytest.mark.integration

LAB_NET = "127.0.51"
SSH_NET = "127.0.52"
GIB = 1024**3


def _huge_profile(directory: Path) -> Path:
    """best-practice with a heap no JVM here can commit: the node cannot start."""
    path = directory / "huge-heap.toml"
    path.write_text('extends = "best-practice"\n[jvm]\nxms = "64g"\nxmx = "64g"\n')
    shutil.copy(Path(__file__).resolve().parents[2] / "profiles" / "best-practice.toml", directory)
    return path


def _files(base: Path) -> dict[str, bytes]:
    return {p: (base / p).read_bytes() for p in ("conf/server.xml", "bin/setenv.sh")}


@pytest.fixture(scope="module")
def stock_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(Topology(net=LAB_NET, run_dir=tmp_path_factory.mktemp("lab")))
    lab.up(load_profile("default"), sessions="none")
    try:
        yield lab
    finally:
        # apply ran in other processes and restarted the nodes: lab.json knows them.
        current = Lab.attach(lab.run_dir)
        current.down()
        assert lab.state is not None
        for record in lab.state.processes.values():
            stop(record)  # collects the exit status of the nodes this process started
        assert_lab_gone(current)


def _verify(lab: Lab) -> dict[str, dict[str, object]]:
    done = harness("verify", "--net", LAB_NET, "--run-dir", str(lab.run_dir))
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, dict[str, object]] = json.loads(done.stdout)
    return result


def test_apply_on_the_lab_changes_the_jvms_keeps_backups_and_rolls_back(
    stock_lab: Lab, tmp_path: Path
) -> None:
    lab_args = ("--net", LAB_NET, "--run-dir", str(stock_lab.run_dir))
    node1 = stock_lab.run_dir / "node1"
    stock_files = _files(node1)

    # A dry run shows the change and touches nothing.
    done = harness("apply", "best-practice", "--dry-run", *lab_args)
    assert done.returncode == 0, done.stderr
    assert '+    <Executor name="tomcatThreadPool"' in done.stdout
    assert "-Xmx1024m" in done.stdout
    assert 'shutdown="********"' in done.stdout  # the shutdown command is not shown
    assert _files(node1) == stock_files
    assert not list(node1.glob("*/*.bak-*"))

    done = harness("apply", "best-practice", *lab_args)
    assert done.returncode == 0, done.stdout + done.stderr
    in_effect = _verify(stock_lab)
    for node in ("node1", "node2"):
        assert in_effect[node]["MaxHeapSize"] == str(GIB)  # read from the JVM
        assert in_effect[node]["InitialHeapSize"] == str(GIB)
        assert in_effect[node]["mismatches"] == []
        assert 8009 not in in_effect[node]["listening"]  # type: ignore[operator]
        pool = in_effect[node]["pool"]  # read from Tomcat's MBeans, not from server.xml
        assert pool["kind"] == "executor" and pool["max_threads"] == 400  # type: ignore[index]
        assert pool["max_queue_size"] == 100  # type: ignore[index]
    (backup,) = node1.glob("conf/server.xml.bak-*")
    assert backup.read_bytes() == stock_files["conf/server.xml"]
    assert json.loads((stock_lab.run_dir / "lab.json").read_text())["profile"] == "best-practice"
    applied_files = _files(node1)

    # A profile the node cannot start with: rolled back to the files it had, still serving.
    done = harness("apply", str(_huge_profile(tmp_path)), *lab_args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back" in done.stdout
    assert _files(node1) == applied_files
    assert _files(stock_lab.run_dir / "node2") != stock_files  # node2 was never touched
    assert _verify(stock_lab)["node1"]["MaxHeapSize"] == str(GIB)
    reply = Browser(stock_lab.topology.balancer_url).session_page()
    assert reply.counter == 1


def test_a_second_apply_of_the_same_profile_restarts_nothing(stock_lab: Lab) -> None:
    lab_args = ("--net", LAB_NET, "--run-dir", str(stock_lab.run_dir))
    harness("apply", "best-practice", *lab_args)
    pids = {name: rec.pid for name, rec in Lab.attach(stock_lab.run_dir).state.processes.items()}  # type: ignore[union-attr]
    done = harness("apply", "best-practice", *lab_args)
    assert done.returncode == 0, done.stdout + done.stderr
    after = {name: rec.pid for name, rec in Lab.attach(stock_lab.run_dir).state.processes.items()}  # type: ignore[union-attr]
    assert after == pids


# -- over SSH -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path | int]]:
    """An sshd of our own on 127.0.0.1: keys only, our host key, our authorized key."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.fail("sshd is missing: make setup installs openssh-server")
    home = tmp_path_factory.mktemp("ssh")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", home / "host_key"], check=True
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", home / "id_ed25519"], check=True
    )
    (home / "authorized_keys").write_text((home / "id_ed25519.pub").read_text())
    port = _free_port()
    host_key = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    config = home / "sshd_config"
    config.write_text(
        textwrap.dedent(f"""\
        ListenAddress 127.0.0.1
        Port {port}
        HostKey {home / "host_key"}
        AuthorizedKeysFile {home / "authorized_keys"}
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password
        StrictModes no
        UsePAM no
        PidFile {home / "sshd.pid"}
        Subsystem sftp /usr/lib/openssh/sftp-server
        """)
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    with (home / "sshd.log").open("w") as sshd_log:
        server = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=sshd_log
        )
    try:
        deadline = time.monotonic() + 10
        while not is_listening(Endpoint("127.0.0.1", port)):
            assert server.poll() is None, (home / "sshd.log").read_text()
            assert time.monotonic() < deadline, "sshd did not listen"
            time.sleep(0.1)
        yield {"home": home, "port": port}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def remote_tomcat(tmp_path: Path) -> Iterator[Path]:
    """A CATALINA_BASE as an operator would have it: stock conf, one page to check health."""
    home = catalina_home(find_artifacts())
    base = tmp_path / "tomcat"
    shutil.copytree(home / "conf", base / "conf")
    for sub in ("logs", "temp", "work", "bin", "webapps/ROOT"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "webapps" / "ROOT" / "index.html").write_text("ok\n")
    try:
        yield base
    finally:
        pid_file = base / "temp" / "tomcat-bench.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_apply_over_ssh_starts_verifies_and_rolls_back(
    sshd: dict[str, Path | int], remote_tomcat: Path, tmp_path: Path
) -> None:
    ssh_home = Path(str(sshd["home"]))
    home = catalina_home(find_artifacts())
    address = f"{SSH_NET}.11"
    inventory = tmp_path / "hosts.toml"
    inventory.write_text(
        textwrap.dedent(f"""\
        [ssh]
        user = "root"
        port = {sshd["port"]}
        identity = "{ssh_home / "id_ed25519"}"
        known_hosts = "{ssh_home / "known_hosts"}"

        [[nodes]]
        name = "web1"
        host = "127.0.0.1"
        catalina_home = "{home}"
        catalina_base = "{remote_tomcat}"
        http_address = "{address}"
        http_port = 8080
        shutdown_address = "{address}"
        shutdown_port = 8005
        jmx_address = "{address}"
        """)
    )
    stock_server_xml = (remote_tomcat / "conf" / "server.xml").read_bytes()

    done = harness("apply", "best-practice", "--inventory", str(inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    assert is_listening(Endpoint(address, 8080))
    assert not is_listening(Endpoint("127.0.0.1", 8080))  # bound where the inventory says
    (backup,) = (remote_tomcat / "conf").glob("server.xml.bak-*")
    assert backup.read_bytes() == stock_server_xml
    done = harness("verify", "best-practice", "--inventory", str(inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    web1 = json.loads(done.stdout)["web1"]
    assert web1["MaxHeapSize"] == str(GIB)
    # Tomcat's own pool, read over JMX on the node's loopback through the SSH session.
    pool = web1["pool"]
    assert (pool["kind"], pool["max_threads"], pool["min_spare_threads"]) == ("executor", 400, 100)
    assert pool["max_queue_size"] == 100
    assert 100 <= pool["current_threads"] <= 400  # prestarted
    assert is_listening(Endpoint(address, 9010))
    assert not is_listening(Endpoint("127.0.0.1", 9010))
    secrets_dir = remote_tomcat / "temp" / "tomcat-bench-jmx"
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    assert (secrets_dir / "jmx.password").stat().st_mode & 0o777 == 0o600

    applied = (remote_tomcat / "conf" / "server.xml").read_bytes()
    done = harness("apply", str(_huge_profile(tmp_path)), "--inventory", str(inventory))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back" in done.stdout
    assert (remote_tomcat / "conf" / "server.xml").read_bytes() == applied
    done = harness("verify", "best-practice", "--inventory", str(inventory))
    assert done.returncode == 0, done.stdout + done.stderr


def test_ssh_refuses_an_unknown_host_key(
    sshd: dict[str, Path | int], remote_tomcat: Path, tmp_path: Path
) -> None:
    ssh_home = Path(str(sshd["home"]))
    other = tmp_path / "known_hosts"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    other.write_text(f"[127.0.0.1]:{sshd['port']} {(tmp_path / 'k.pub').read_text()}")
    inventory = tmp_path / "hosts.toml"
    inventory.write_text(
        textwrap.dedent(f"""\
        [ssh]
        port = {sshd["port"]}
        identity = "{ssh_home / "id_ed25519"}"
        known_hosts = "{other}"

        [[nodes]]
        name = "web1"
        host = "127.0.0.1"
        catalina_home = "/nonexistent"
        catalina_base = "{remote_tomcat}"
        """)
    )
    done = harness("apply", "best-practice", "--inventory", str(inventory))
    assert done.returncode == 2
    assert "web1 (root@127.0.0.1" in done.stdout
    assert "cannot connect" in done.stdout
    assert (remote_tomcat / "conf" / "server.xml").read_bytes() == (
        catalina_home(find_artifacts()) / "conf" / "server.xml"
    ).read_bytes()
