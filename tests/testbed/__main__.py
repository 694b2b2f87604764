"""python -m tests.testbed up|down [FOLDER]: the namespace cluster by hand (make testbed)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tests.testbed import cluster, netns

DEFAULT_HOME = Path(".testbed")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_HOME))
    parser.add_argument("--sessions", default="none", choices=("none", "redis"))
    parser.add_argument("--balance", default="ip_hash", help="nginx method ('' round robin)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    home = Path(args.folder).resolve()
    if args.action == "down":
        removed = netns.teardown(home)
        cluster.remove_files(home)
        print(f"removed: {', '.join(removed) or 'nothing'}")
        return 0
    try:
        hosts = netns.build(home)
        built = cluster.start(hosts, sessions=args.sessions, balance=args.balance)
    except BaseException:
        netns.teardown(home)
        raise
    print(f"up: {built.inventory_path}; take it down with python -m tests.testbed down {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
