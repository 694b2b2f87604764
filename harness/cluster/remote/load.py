"""Locust workers on the inventory's load hosts, started over SSH: Locust's own
master/worker mode, the master here.

Each host runs `python -m locust --worker --processes N` from its checkout of tomcat-bench.
Its workers write their records into a folder of their own on that host
(TOMCAT_BENCH_WORKER_DIR); the harness copies them into the run folder after the load and
removes that folder. While the load runs, the workers' CPU is read from the host's own
/proc every second, so a load host that ran out of CPU is named (generator-bound per host).
"""

from __future__ import annotations

import logging
import shlex
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from harness.cluster.errors import ClusterError
from harness.cluster.remote.hosts import Host, HostError
from harness.cluster.remote.telemetry import usage
from harness.config.inventory import Inventory, InventoryLoad, Part
from harness.paths import REPO_ROOT

log = logging.getLogger(__name__)

LOCUSTFILE = "locustfiles/session_stability.py"
SAMPLE_S = 1.0
# A host whose workers used this share of their processes' cores was the bottleneck.
BOUND_SHARE = 0.9


class RemoteLoad:
    """The inventory's load hosts for one run (the seam's LoadHosts)."""

    def __init__(self, inventory: Inventory, host: Callable[[Part], Host]) -> None:
        # host(part) -> its SSH host: the cluster's connections, shared.
        self.inventory, self._host = inventory, host
        self.tag = f"run-{uuid.uuid4().hex[:12]}"
        self._cpu_s: dict[str, float] = {}
        self._seconds = 0.0

    @property
    def master_address(self) -> str:
        assert self.inventory.master_address is not None  # the inventory requires it
        return self.inventory.master_address

    @property
    def processes(self) -> int:
        return sum(h.processes for h in self.inventory.load)

    def _project(self, load: InventoryLoad) -> PurePosixPath:
        return PurePosixPath(load.project or str(REPO_ROOT))

    def _folder(self, load: InventoryLoad) -> PurePosixPath:
        return self._project(load) / load.work_dir / self.tag

    def _log(self, load: InventoryLoad) -> PurePosixPath:
        return self._folder(load) / "worker.log"

    def _pattern(self, load: InventoryLoad) -> str:
        """Matches this run's workers on the host (their --logfile names this run's folder),
        and not the shell that runs pgrep with it ([-] is not a literal '-')."""
        return f"[-]-logfile {self._log(load)}"

    def start(self, master_port: int) -> None:
        for load in self.inventory.load:
            host: Host = self._host(load)
            folder = self._folder(load)
            project = str(self._project(load))
            python = load.python or _local_python()
            worker = [
                python, "-m", "locust", "-f", LOCUSTFILE, "--worker",
                "--master-host", self.master_address, "--processes", str(load.processes),
                "--master-port", str(master_port), "--loglevel", "WARNING",
                "--logfile", str(self._log(load)),
            ]  # fmt: skip
            # Per host, so not a Locust option: a master sends its own to every worker.
            sources = ",".join(load.source_addresses)
            script = (
                f"mkdir -p {shlex.quote(str(folder))} && cd {shlex.quote(project)} && "
                f"TOMCAT_BENCH_WORKER_DIR={shlex.quote(str(folder))} "
                f"TOMCAT_BENCH_SOURCE_ADDRESSES={shlex.quote(sources)} setsid -f "
                f"{shlex.join(worker)} > /dev/null 2>&1"
            )
            done = host.run(["sh", "-c", script])
            if done.returncode != 0:
                raise ClusterError(f"{load.name}: cannot start Locust workers: {done.stderr}")

    def sample(self, elapsed_s: float) -> None:
        """CPU seconds of each host's workers so far (kept while they run)."""
        for load in self.inventory.load:
            try:
                seen = usage(self._host(load), self._pattern(load))
            except HostError as error:
                log.warning("%s: cannot read its workers' CPU: %s", load.name, error)
                continue
            if seen is not None:
                self._cpu_s[load.name] = seen.cpu_s
        self._seconds = elapsed_s

    def stop(self) -> None:
        """Workers end when the master does; any left over are ended here."""
        for load in self.inventory.load:
            self._host(load).run(["pkill", "-f", "--", self._pattern(load)])

    def flowing(self) -> bool:
        first = self.inventory.load[0]
        folder = shlex.quote(str(self._folder(first)))
        test = f'for f in {folder}/*.csv; do test -s "$f" && exit 0; done; exit 1'
        return self._host(first).run(["sh", "-c", test]).returncode == 0

    def fetch_records(self, into: Path) -> list[Path]:
        fetched = []
        for load in self.inventory.load:
            host, folder = self._host(load), self._folder(load)
            listed = host.run(["sh", "-c", f"ls {shlex.quote(str(folder))}/*.csv 2>/dev/null"])
            for remote in listed.stdout.split():
                text = host.read_text(PurePosixPath(remote))
                if text is None:
                    continue
                local = into / f"{PurePosixPath(remote).stem}-{load.name}.csv"
                local.write_text(text)
                fetched.append(local)
            log_text = host.read_text(self._log(load))
            if log_text:
                (into / f"locust-worker-{load.name}.log").write_text(log_text)
            if folder.name == self.tag:  # only this run's own folder
                host.run(["rm", "-rf", "--", str(folder)])
        return fetched

    def usage(self) -> dict[str, dict[str, Any]]:
        out = {}
        for load in self.inventory.load:
            cpu_s = self._cpu_s.get(load.name)
            cores = cpu_s / self._seconds if cpu_s is not None and self._seconds > 0 else None
            out[load.name] = {
                "processes": load.processes,
                "cpu_s": None if cpu_s is None else round(cpu_s, 3),
                "cores_mean": None if cores is None else round(cores, 3),
                "generator_bound": None if cores is None else cores >= BOUND_SHARE * load.processes,
            }
        return out

    def workers(self, master_port: int) -> _Workers:
        return _Workers(self, master_port)


class _Workers:
    """The companion: workers started with the load, sampled while it runs."""

    def __init__(self, load: RemoteLoad, master_port: int) -> None:
        self.load, self.master_port = load, master_port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, start_epoch: float) -> None:
        self.load.start(self.master_port)

        def sample() -> None:
            while not self._stop.wait(SAMPLE_S):
                self.load.sample(time.time() - start_epoch)

        self._thread = threading.Thread(target=sample, name="load-hosts", daemon=True)
        self._thread.start()

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.load.stop()
        return []


def _local_python() -> str:
    return sys.executable
