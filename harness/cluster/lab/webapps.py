"""Hot reload and hot deploy of a node's web application, done the way Tomcat does them.

- reload: StandardContext.reload() through the context's MBean: exactly what Tomcat runs
  when a reloadable="true" context sees a class or jar change (stop the context, start it
  again with a new class loader; the session manager is stopped and started with it).
- touch: WEB-INF/web.xml gets a new modification time, as when an operator edits it, and
  nothing else: Tomcat decides. It looks every backgroundProcessorDelay (10 s unless the
  profile says otherwise), and only its Host's deployer watches web.xml (a
  WatchedResource), so whether the context reloads depends on the profile's deploy
  settings; the harness reads the answer in the log, for as long as that check may take.
- undeploy / deploy: the application's directory leaves webapps/ and comes back, and the
  Host's deployer (HostConfig.check, the "Catalina:type=Deployer" MBean) is asked to look
  at once. That is what autoDeploy="true" does on its own every backgroundProcessorDelay
  (10 s); asking directly makes the time of the event exact, with autoDeploy on or off.

Each returns the epoch times at which its steps finished, for the run's fault record.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from harness.cluster import jvm
from harness.cluster.lab import jvms
from harness.cluster.lab.lab import Lab
from harness.cluster.lab.processes import LabError
from harness.cluster.touch import watch_for_reload

# The lab serves its pages from the ROOT application; the deployer names it "".
APP_DIR = "ROOT"
APP_NAME = ""
PARKED_DIR = "undeployed"
# Tomcat's own words when it reloads the ROOT context (StandardContext.reload).
RELOADED = b"Reloading Context with name [] is completed"


def _base(lab: Lab, node: str) -> Path:
    if node not in {n.name for n in lab.topology.nodes}:
        raise LabError(f"{node!r} is not a Tomcat node of this lab")
    return lab.run_dir / node


def ready_for_operations(lab: Lab, node: str) -> None:
    """The node's JMX agent started, and this process's JMX client with it."""
    _base(lab, node)  # names a node that is not one
    jvms.lab_access(lab, node)


def reload_context(lab: Lab, node: str) -> dict[str, float]:
    """Reload the node's ROOT context; returns when Tomcat has started it again."""
    jvm.invoke(jvms.lab_access(lab, node), jvm.ROOT_CONTEXT_MBEAN, "reload")
    return {"reloaded_at": time.time()}


def touch_descriptor(
    lab: Lab, node: str, notice_s: float, *, until: threading.Event | None = None
) -> dict[str, float]:
    """Touch the application's web.xml; returns when Tomcat reloaded the context, or after
    notice_s without a reload (then without "reloaded_at": the profile let it be), or once
    until is set (then with "watched_until": too soon to tell)."""
    base = _base(lab, node)
    assert lab.state is not None
    log_path = Path(lab.state.processes[node].log)
    seen = log_path.stat().st_size if log_path.exists() else 0
    os.utime(base / "webapps" / APP_DIR / "WEB-INF" / "web.xml")
    touched = time.time()

    def reloaded() -> bool:
        with log_path.open("rb") as log:
            log.seek(seen)
            return RELOADED in log.read()

    return watch_for_reload(touched, reloaded, notice_s, until, poll_s=0.2)


def undeploy(lab: Lab, node: str) -> dict[str, float]:
    """Take the application's directory away and let the deployer undeploy it."""
    base = _base(lab, node)
    app, parked = base / "webapps" / APP_DIR, base / PARKED_DIR / APP_DIR
    if not app.is_dir():
        raise LabError(f"{app}: no application to undeploy")
    parked.parent.mkdir(exist_ok=True)
    if parked.exists():
        shutil.rmtree(parked)
    app.rename(parked)
    removed = time.time()
    jvm.invoke(jvms.lab_access(lab, node), jvm.DEPLOYER_MBEAN, "check", APP_NAME)
    return {"removed_at": removed, "undeployed_at": time.time()}


def deploy(lab: Lab, node: str) -> dict[str, float]:
    """Put the application's directory back and let the deployer deploy it."""
    base = _base(lab, node)
    app, parked = base / "webapps" / APP_DIR, base / PARKED_DIR / APP_DIR
    if not parked.is_dir():
        raise LabError(f"{parked}: no undeployed application to deploy again")
    parked.rename(app)
    added = time.time()
    jvm.invoke(jvms.lab_access(lab, node), jvm.DEPLOYER_MBEAN, "check", APP_NAME)
    return {"added_at": added, "deployed_at": time.time()}


def redeploy(lab: Lab, node: str) -> dict[str, float]:
    return {**undeploy(lab, node), **deploy(lab, node)}
