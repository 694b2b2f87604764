"""A Tomcat cluster on the namespace hosts, started over SSH, and its inventory.

balancer: nginx (round robin or ip_hash) on 10.231.0.10:80, and on :443 over TLS with a
throwaway CA's certificate (inventory-https.toml); node1, node2: Tomcat 9 from
.cache with their own CATALINA_BASE under the testbed's folder and the session manager the
test asks for (in-memory or Redisson); store: Redis with a generated password. Files live
on this machine's disk, which the namespaces share; processes run only inside them.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cluster.artifacts import catalina_home, find_artifacts
from harness.cluster.endpoints import Endpoint
from harness.cluster.lab import stores, tomcat
from harness.cluster.lab.tls import TlsFiles, make_certificates
from harness.cluster.lab.topology import NodeSpec
from harness.cluster.remote.hosts import SshHost, ssh_host
from harness.cluster.remote.parts import RemoteNode, RemoteStore
from harness.config.inventory import Inventory, load_inventory
from harness.config.profile import load_profile
from tests.testbed.netns import NET, USER_NET, Hosts, load_sources

NODES = ("node1", "node2")
REDIS_PORT = 6379


def _nginx_conf(hosts: Hosts, balance: str, tls: TlsFiles) -> str:
    d = hosts.home / "balancer"
    servers = "".join(
        f"        server {hosts.addresses[n]}:8080 max_fails=1 fail_timeout=10s;\n" for n in NODES
    )
    return f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream tomcat {{
        {balance + ";" if balance else ""}
{servers}        keepalive 16;
    }}
    server {{
        listen {hosts.addresses["balancer"]}:80;
        listen {hosts.addresses["balancer"]}:443 ssl;
        ssl_certificate {tls.certificate};
        ssl_certificate_key {tls.key};
        location / {{
            proxy_pass http://tomcat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


@dataclass
class TestCluster:
    hosts: Hosts
    inventory_path: Path
    tls: TlsFiles  # the balancer's certificate on :443, and its CA
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    sessions: str = "none"

    @property
    def inventory(self) -> Inventory:
        return load_inventory(self.inventory_path)

    def host(self, name: str) -> SshHost:
        inventory = self.inventory
        return ssh_host(inventory, inventory.part(name))

    def run_on(self, name: str, argv: list[str]) -> str:
        """argv on the host of part `name`, over SSH; its output (an error if it failed)."""
        host = self.host(name)
        try:
            done = host.run(argv)
        finally:
            host.close()
        if done.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(argv)}: {done.stderr.strip()[-300:]}")
        return done.stdout

    # -- parts ---------------------------------------------------------------------

    def balance(self, method: str) -> None:
        """nginx with `method` (ip_hash, or '' for round robin), started or reloaded."""
        d = self.hosts.home / "balancer"
        d.mkdir(exist_ok=True)
        conf = d / "nginx.conf"
        conf.write_text(_nginx_conf(self.hosts, method, self.tls))
        running = (d / "nginx.pid").exists()
        self.run_on("lb", ["nginx", "-c", str(conf), *(["-s", "reload"] if running else [])])

    def start_store(self) -> None:
        d = self.hosts.home / "store"
        endpoint = Endpoint(self.hosts.addresses["store"], REDIS_PORT)
        config = stores.prepare_redis(d, endpoint, self.password)
        text = config.read_text().replace("daemonize no", "daemonize yes")
        config.write_text(text + f'pidfile {d}/redis.pid\nlogfile "{d}/redis.log"\n')
        store = RemoteStore(self.inventory.stores[0], self.host("redis"))
        try:
            store.start()
        finally:
            store.host.close()

    def use_sessions(self, sessions: str, profile: str = "best-practice") -> None:
        """Each node's CATALINA_BASE rendered for `sessions` (none or redis), restarted."""
        self.sessions = sessions
        artifacts = find_artifacts()
        home = catalina_home(artifacts)
        wanted = load_profile(profile)
        # autoDeploy on: `probe install` then deploys without a restart. Tomcat checks every
        # 2 s, not its 10 s: an install, or a touch, is seen sooner (the harness reads it).
        deploy = {"autoDeploy": True, "backgroundProcessorDelay": 2}
        wanted = wanted.model_copy(update={"deploy": wanted.deploy.model_copy(update=deploy)})
        inventory = self.inventory
        for node in inventory.nodes:
            remote = RemoteNode(node, ssh_host(inventory, node))
            try:
                remote.stop()
                spec = NodeSpec(node.name, self.hosts.addresses[node.name], 8080, 8005)
                tomcat.prepare_base(
                    spec,
                    Path(node.base),
                    home=home,
                    artifacts=artifacts,
                    profile=wanted,
                    store=self._store_settings(sessions),
                    shutdown_command=secrets.token_hex(8),
                    stock_loaders=True,  # as an operator's node has them
                )
                remote.start()
            finally:
                remote.host.close()

    def _store_settings(self, sessions: str) -> dict[str, Any]:
        if sessions == "none":
            return {"kind": "none", "manager": "org.apache.catalina.session.StandardManager"}
        return {
            "kind": "redis",
            "manager": "org.redisson.tomcat.RedissonSessionManager",
            "read_mode": "REDIS",
            "update_mode": "DEFAULT",
            "key_prefix": "tomcat-bench",
            "address": self.hosts.addresses["store"],
            "port": REDIS_PORT,
            "password": self.password,
        }


def write_distributed(inventory: Path, hosts: Hosts) -> Path:
    """The same cluster with load1 and load2 running one Locust worker each, whose users
    take turns at their host's own source addresses."""
    a = hosts.addresses
    loads = "".join(
        f'\n[[load]]\nname = "{n}"\nhost = "{a[n]}"\nprocesses = 1\n'
        f"source_addresses = {json.dumps(load_sources(n))}\n"
        for n in ("load1", "load2")
    )
    text = inventory.read_text().replace("\n[ssh]", f'master_address = "{NET}.1"\n\n[ssh]', 1)
    path = inventory.with_name("inventory-distributed.toml")
    path.write_text(text + loads)
    return path


def write_https(inventory: Path, hosts: Hosts, ca: Path) -> Path:
    """The same cluster loaded over HTTPS, its certificate verified against ca."""
    balancer = hosts.addresses["balancer"]
    text = inventory.read_text().replace(
        f'url = "http://{balancer}/"', f'url = "https://{balancer}/"\nca_file = "{ca}"', 1
    )
    path = inventory.with_name("inventory-https.toml")
    path.write_text(text)
    return path


def write_inventory(hosts: Hosts) -> Path:
    home, a = hosts.home, hosts.addresses
    catalina = catalina_home(find_artifacts())
    nodes = "".join(
        f"""
[[nodes]]
name = "{n}"
host = "{a[n]}"
catalina_home = "{catalina}"
catalina_base = "{home / n}"
http_address = "{a[n]}"
http_port = 8080
shutdown_address = "{a[n]}"
jmx_address = "127.0.0.1"
faults = true
"""
        for n in NODES
    )
    path = home / "inventory.toml"
    path.write_text(
        f"""# The namespace test cluster (tests/testbed): every address is inside its namespaces.
source_net = "{USER_NET}"

[ssh]
user = "root"
identity = "{hosts.identity}"
known_hosts = "{hosts.known_hosts}"

[[balancers]]
name = "lb"
kind = "nginx"
host = "{a["balancer"]}"
url = "http://{a["balancer"]}/"
reload = "nginx -c {home / "balancer" / "nginx.conf"} -s reload"
faults = true
{nodes}
[[stores]]
name = "redis"
kind = "redis"
host = "{a["store"]}"
address = "{a["store"]}:{REDIS_PORT}"
start = "redis-server {home / "store" / "redis.conf"}"
pid_file = "{home / "store" / "redis.pid"}"
faults = true
"""
    )
    return path


def start(hosts: Hosts, *, sessions: str = "none", balance: str = "ip_hash") -> TestCluster:
    tls = make_certificates(hosts.home / "balancer" / "tls", hosts.addresses["balancer"])
    cluster = TestCluster(hosts, write_inventory(hosts), tls)
    write_distributed(cluster.inventory_path, hosts)
    write_https(cluster.inventory_path, hosts, tls.ca)
    cluster.start_store()
    cluster.use_sessions(sessions)
    cluster.balance(balance)
    return cluster


def remove_files(home: Path) -> None:
    for name in (*NODES, "balancer", "store"):
        shutil.rmtree(home / name, ignore_errors=True)
