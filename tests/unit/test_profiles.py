import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.config.profile import ProfileError, available_profiles, load_profile
from tests.unit.tomcat_home import CLASSPATH


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def test_shipped_profiles_load() -> None:
    names = available_profiles()
    assert {"default", "best-practice", "small-pool"} <= set(names)
    for name in names:
        assert load_profile(name).name == name


def test_best_practice_is_the_guides_executor_and_equal_heap() -> None:
    profile = load_profile("best-practice")
    assert profile.executor is not None
    assert profile.executor.attributes() == {
        "maxThreads": "400",
        "minSpareThreads": "100",
        "prestartminSpareThreads": "true",
        "maxQueueSize": "100",
    }
    assert profile.jvm.xms == profile.jvm.xmx == "1024m"


def test_default_profile_adds_nothing_to_stock_tomcat() -> None:
    assert load_profile("default").effective() == {
        "executor": None,
        "connector": {},
        "ajp": None,
        "deploy": {},
        "jvm": [],
        "sessions": {},
        "balancer": {},
        "tls": None,
    }


def test_extends_merges_sections_key_by_key() -> None:
    small = load_profile("small-pool")
    assert small.executor is not None
    assert small.executor.maxThreads == 4
    assert small.executor.prestartminSpareThreads is True  # from best-practice
    assert small.jvm.xmx == "1024m"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "p", "[executor]\nmaxThread = 4\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: executor.maxThread: unknown key")
    assert "\n" not in message


def test_obsolete_option_says_what_replaced_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "p", '[jvm]\nMaxPermSize = "512m"\n')
    with pytest.raises(ProfileError, match=r"jvm\.MaxPermSize: obsolete: .*MaxMetaspaceSize"):
        load_profile(str(path))


def test_bad_value_names_the_key_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "p", "[executor]\nmaxThreads = 0\n")
    with pytest.raises(
        ProfileError, match=r"executor\.maxThreads: .*greater than or equal to 1.*0"
    ):
        load_profile(str(path))


def test_bad_heap_size_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "p", '[jvm]\nxmx = "lots"\n')
    with pytest.raises(ProfileError, match=r"jvm\.xmx"):
        load_profile(str(path))


def test_circular_extends_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a", 'extends = "b"\n')
    _write(tmp_path, "b", 'extends = "a"\n')
    with pytest.raises(ProfileError, match=r"extends: circular \(a -> b -> a\)"):
        load_profile("a", tmp_path)


def test_missing_parent_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "a", 'extends = "nope"\n')
    with pytest.raises(ProfileError, match=r"a\.toml: extends: no profile named 'nope'"):
        load_profile("a", tmp_path)


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "p", "[executor\n")
    with pytest.raises(ProfileError, match=rf"{path}: not valid TOML"):
        load_profile(str(path))


def test_missing_profile_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile("absent", tmp_path)


def test_every_shipped_profile_renders_lab_and_stock_configs() -> None:
    from harness.cluster.lab import tomcat  # noqa: PLC0415

    node = {
        "name": "node1",
        "address": "127.0.9.11",
        "port": 8080,
        "shutdown_port": 8005,
        "shutdown_command": "x",
        "base": Path("/srv/tomcat-bench/node1"),
        "http_address": "127.0.9.11",
        "http_port": 8080,
        "shutdown_address": "127.0.9.11",
        "ajp_address": "127.0.9.11",
        "jvm_route": "node1",
    }
    for name in available_profiles():
        profile = load_profile(name)
        for files in (
            tomcat.lab_configs(node, profile, {"kind": "none"}, CLASSPATH),
            tomcat.stock_configs(node, profile),
        ):
            server = next(f for f in files if f.path == "conf/server.xml")
            ET.fromstring(server.text.encode())  # well-formed XML
            setenv = next(f for f in files if f.path == "bin/setenv.sh").text
            for flag in profile.jvm.flags():
                assert flag in setenv, (name, flag)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[jvm]\nxms = "2g"\nxmx = "1g"\n',
            r"jvm: xms \(2g\) > xmx \(1g\): the initial heap exceeds",
        ),
        (
            '[jvm]\nxmx = "512m"\nxmn = "512m"\n',
            r"jvm: young generation \(512m\) must be smaller than xmx",
        ),
        ('[jvm]\nxmn = "64m"\nnew_size = "64m"\n', r"jvm: xmn sets both NewSize and MaxNewSize"),
        ('[jvm]\nxss = "128k"\n', r"jvm: xss 128k is below the 136k"),
        (
            '[jvm]\nextra_flags = ["-XX:MaxPermSize=512m"]\n',
            r"jvm: -XX:MaxPermSize=512m is obsolete: .*max_metaspace_size",
        ),
        ('[jvm]\nxmx = "1g"\nextra_flags = ["-Xmx2g"]\n', r"jvm: -Xmx2g repeats xmx"),
        (
            '[jvm]\nmax_perm_size = "512m"\n',
            r"jvm\.max_perm_size: obsolete: PermGen was removed in Java 8",
        ),
        (
            "[executor]\nmaxThreads = 4\nminSpareThreads = 10\n",
            r"executor: minSpareThreads \(10\) exceeds maxThreads \(4\)",
        ),
        (
            "[connector]\nacceptorThreadCount = 2\n",
            r"connector\.acceptorThreadCount: obsolete: Tomcat 9's NIO",
        ),
        (
            "[executor]\nmaxThreads = 4\n[connector]\nmaxThreads = 8\n",
            r": connector\.maxThreads is ignored when an \[executor\] is set",
        ),
        ("[ajp]\nenabled = true\n", r"ajp: enabling AJP without a secret is refused"),
        (
            '[ajp]\nenabled = true\nsecret_env = "lower"\n',
            r"ajp\.secret_env: String should match pattern",
        ),
        (
            '[connector]\nprotocol = "apr"\n',
            r"connector\.protocol: Input should be 'nio' or 'nio2'",
        ),
        (
            '[deploy]\nautoDeploy = "yes please"\n',
            r"deploy\.autoDeploy: Input should be a valid boolean",
        ),
    ],
)
def test_invalid_profiles_get_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, "p", text)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")
    assert re.search(message, str(caught.value)), str(caught.value)


def test_ajp_secret_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "p", '[ajp]\nenabled = true\nsecret_env = "TB_AJP_SECRET"\n')
    profile = load_profile(str(path))
    monkeypatch.delenv("TB_AJP_SECRET", raising=False)
    with pytest.raises(ProfileError, match="TB_AJP_SECRET is empty"):
        profile.ajp.resolved_secret()
    monkeypatch.setenv("TB_AJP_SECRET", "a-long-secret")
    assert profile.ajp.resolved_secret() == "a-long-secret"
    assert profile.effective()["ajp"] == {"enabled": True, "port": 8009}  # no secret in manifests


def test_jvm_focused_profile_sets_collector_and_sizes() -> None:
    flags = load_profile("jvm-g1").jvm.flags()
    assert "-XX:+UseG1GC" in flags
    assert "-Xms512m" in flags and "-Xmx512m" in flags
    assert "-XX:MaxMetaspaceSize=256m" in flags
