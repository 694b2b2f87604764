"""webui: lab up and Locust's web UI with a Sessions tab; Ctrl-C ends and reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, lab_options, lab_spec
from harness.config.profile import load_profile
from harness.results.folders import RESULTS_DIR

# <net>.30: free in the lab's plan (.10 balancer, .11+ nodes, .20+ stores)
UI_HOST_OCTET = 30

if TYPE_CHECKING:
    from harness.load.webui import WebUIPlan


def add_parser(subparsers: Subparsers) -> Parser:
    webui = subparsers.add_parser(
        "webui", help="lab up and Locust's web UI with a Sessions tab; Ctrl-C ends and reports"
    )
    add(webui, "profile", "best-practice", "profile name or .toml path")
    add(
        webui,
        "workers",
        "0",
        "Locust workers (0: one process; N: a master and N workers)",
        kind=int,
    )
    add(webui, "users", "20", "users prefilled in the start form", kind=int)
    add(webui, "spawn-rate", "20", "users started per second (prefilled)", kind=float)
    add(webui, "wait", "0.05", "seconds each user waits between requests", kind=float)
    add(webui, "web-port", "8089", "port of the web UI, on the lab net's .30 address", kind=int)
    add(webui, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    add(webui, "source-net", "127.100", "first two octets of each user's source address")
    lab_options(webui)
    return webui


def plan_from(args: argparse.Namespace) -> WebUIPlan:
    from harness.load.webui import WebUIPlan  # noqa: PLC0415

    return WebUIPlan(
        profile=load_profile(args.profile),
        cluster=lab_spec(args),
        host=f"{args.net}.{UI_HOST_OCTET}",
        workers=args.workers,
        users=args.users,
        spawn_rate=args.spawn_rate,
        wait_s=args.wait,
        source_net=args.source_net or None,
        results_dir=Path(args.results_dir),
        web_port=args.web_port,
    )


def run(args: argparse.Namespace) -> int:
    from harness.load.webui import run_webui  # noqa: PLC0415
    from harness.report.run import write_report  # noqa: PLC0415

    plan = plan_from(args)

    def ready(url: str) -> None:
        status.stop()
        mode = f"a master and {plan.workers} workers" if plan.workers else "one process"
        console.print(
            f"Locust web UI ({mode}): {url}  (Sessions tab: {url}/?tab=sessions)\n"
            "Ctrl-C stops Locust and the lab and writes the results.",
            soft_wrap=True,
        )

    with console.status("webui") as status:
        result = run_webui(plan, progress=status.update, ready=ready)
    write_report(result.run_dir)
    summary = result.summary
    console.print(
        f"{summary['requests']} requests, {summary['users']} users: "
        f"{summary['sessions_kept']} kept their session, {summary['data_lost']} lost data; "
        f"faults: {len(summary['faults'])}; verdict: {result.verdict['verdict']}"
    )
    console.print(f"report: {result.run_dir / 'report.html'}", soft_wrap=True)
    return 0
