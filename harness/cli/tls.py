"""tls: what HTTPS costs at the balancer, plain against TLS three ways; its table."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Column, Table

from harness.cli.console import console
from harness.cli.options import Parser, Subparsers, add, lab_place_options, lab_spec
from harness.config.profile import load_profile
from harness.results.folders import RESULTS_DIR

if TYPE_CHECKING:
    from harness.load.tlscost import TlsPlan

# The study's plain-HTTP listener, beside the balancer's HTTPS port.
PLAIN_PORT_OFFSET = 1


def add_parser(subparsers: Subparsers) -> Parser:
    tls = subparsers.add_parser(
        "tls", help="HTTPS at the balancer against plain HTTP: req/s and CPU per request"
    )
    add(tls, "profile", "tls", "profile name or .toml path; its [tls] must be enabled")
    add(tls, "balancers", "nginx-rr,haproxy-rr", "balancers measured, one lab each")
    add(tls, "duration", "5", "seconds per mode and round", kind=float)
    add(tls, "rounds", "3", "rounds; the modes take turns within each", kind=int)
    add(tls, "clients", "4", "client threads, each with its own connection", kind=int)
    add(tls, "results-dir", str(RESULTS_DIR), "where results/<run-id>/ folders go")
    # Not lab_options(): the study picks its balancers, and sessions do not matter to it.
    lab_place_options(tls)
    return tls


def plan_from(args: argparse.Namespace) -> TlsPlan:
    from harness.load.tlscost import TlsPlan  # noqa: PLC0415

    args.sessions = "none"  # the front's cost: no store in the way
    clusters = []
    for name in (n.strip() for n in args.balancers.split(",") if n.strip()):
        spec = lab_spec(args, balancer=name)
        port = spec.topology.port + PLAIN_PORT_OFFSET
        clusters.append(replace(spec, plain_port=port))
    return TlsPlan(
        profile=load_profile(args.profile),
        clusters=tuple(clusters),
        duration_s=args.duration,
        rounds=args.rounds,
        clients=args.clients,
        results_dir=Path(args.results_dir),
    )


def run(args: argparse.Namespace) -> int:
    from harness.load.tlscost import run_tls_study  # noqa: PLC0415

    plan = plan_from(args)
    with console.status("tls") as status:
        data = run_tls_study(plan, progress=status.update)
    for name, result in data["balancers"].items():
        console.print(_table(name, result, data))
    console.print(f"tls: {Path(data['run_dir']) / 'tls.json'}", soft_wrap=True)
    return 0


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _table(name: str, result: dict[str, Any], data: dict[str, Any]) -> Table:
    tls = result.get("tls") or {}
    seen = tls.get("in_effect") or {}
    table = Table(
        Column("mode", no_wrap=True), "req/s", "x plain", "LB CPU ms/req", "x plain",
        "resumed", "errors", Column("client-bound", no_wrap=True),
        title=f"make tls: {name}, {seen.get('protocol', '?')} {seen.get('cipher', '')} "
        f"({data['rounds']} rounds of {data['duration_s']:g} s per mode, "
        f"{data['clients']} clients)",
    )  # fmt: skip
    for mode, figures in result["modes"].items():
        ratio = result["ratios"].get(mode, {"requests_per_s": 1.0, "balancer_cpu_per_request": 1.0})
        cpu = figures["balancer_cpu_ms_per_request"]
        table.add_row(
            mode,
            f"{figures['requests_per_s']:,.0f}",
            _ratio(ratio["requests_per_s"]),
            "n/a" if cpu is None else f"{cpu:.3f}",
            _ratio(ratio["balancer_cpu_per_request"]),
            f"{100 * figures['resumed_share']:.0f}%" if mode == "tls-resumed" else "",
            str(figures["errors"]),
            "YES" if figures["client_bound"] else "no",
        )
    return table
