"""A lab node's Redisson settings, built by RedissonLabConfig, are the ones redisson.yaml
gives a stock node: compared as Redisson itself writes a Config out (Config.toYAML), in a
real JVM with the lab's Redisson and Tomcat jars, each attribute set the way Tomcat sets a
context.xml attribute (IntrospectionUtils.setProperty)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.cluster.artifacts import catalina_home, find_artifacts
from harness.cluster.lab import redisson_config
from harness.cluster.lab.render import render

_COMPARE = """
import java.io.File;
import java.lang.reflect.Method;
import org.apache.tomcat.util.IntrospectionUtils;
import org.redisson.config.Config;

public class CompareConfigs {
    public static void main(String[] args) throws Exception {
        Config fromYaml = Config.fromYAML(new File(args[0]));
        RedissonLabConfig listener = new RedissonLabConfig();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!IntrospectionUtils.setProperty(listener, args[i], args[i + 1])) {
                throw new IllegalArgumentException("no such attribute: " + args[i]);
            }
        }
        Method built = RedissonLabConfig.class.getDeclaredMethod("config");
        built.setAccessible(true);
        System.out.print(fromYaml.toYAML());
        System.out.print("\\n=====\\n");
        System.out.print(((Config) built.invoke(listener)).toYAML());
    }
}
"""

_SINGLE = {
    "kind": "redis",
    "address": "127.0.9.20",
    "port": 6379,
    "password": "p4ss-w0rd",
    "sentinel": None,
}
_SENTINEL = {
    **_SINGLE,
    "kind": "redis-sentinel",
    "sentinel": {"address": "127.0.9.24", "port": 26379, "master_name": "tomcat-bench"},
}


@pytest.mark.parametrize("store", [_SINGLE, _SENTINEL], ids=["redis", "sentinel"])
def test_the_listener_gives_redisson_the_config_its_yaml_gives(
    tmp_path: Path, store: dict[str, object]
) -> None:
    artifacts = find_artifacts()
    home = catalina_home(artifacts)
    listener = redisson_config.listener_jar(home, artifacts.redisson_jars)
    lib = home / "lib"
    tomcat = (lib / "catalina.jar", lib / "tomcat-util.jar", home / "bin" / "tomcat-juli.jar")
    classpath = ":".join(str(jar) for jar in (*tomcat, *artifacts.redisson_jars, listener))
    (tmp_path / "CompareConfigs.java").write_text(_COMPARE)
    subprocess.run(
        ["javac", "-cp", classpath, "-d", str(tmp_path), str(tmp_path / "CompareConfigs.java")],
        check=True,
    )
    yaml = tmp_path / "redisson.yaml"
    yaml.write_text(render("redisson.yaml.j2", redis=store, pool=redisson_config.POOL))
    attributes = redisson_config.listener_settings(store)
    del attributes["className"]  # Tomcat's digester reads it; it is no property
    pairs = [str(word) for item in attributes.items() for word in item]
    done = subprocess.run(
        ["java", "-cp", f"{classpath}:{tmp_path}", "CompareConfigs", str(yaml), *pairs],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    from_yaml, from_listener = done.stdout.split("\n=====\n")
    assert "p4ss-w0rd" in from_yaml  # the settings were read, not Redisson's defaults
    assert from_listener == from_yaml
