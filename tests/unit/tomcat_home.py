"""A stand-in CATALINA_HOME for rendering a lab node's configs without Tomcat unpacked:
its catalina.properties is an excerpt of the stock one; its jars are named, not read."""

from pathlib import Path

from harness.cluster.lab.tomcat import SystemClassPath

HOME = Path(__file__).resolve().parents[1] / "fixtures" / "tomcat-home"
CLASSPATH = SystemClassPath(HOME, (HOME / "lib" / "catalina.jar", HOME / "lib" / "redisson.jar"))
