"""Configs are rendered from Jinja2 templates and written atomically."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jinja2

from harness.files import write_atomically

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
WEBAPP_DIR = Path(__file__).resolve().parents[1] / "webapp"  # shared with the probe

_env = jinja2.Environment(
    # "webapp/..." names a webapp file that differs per session strategy
    # (WEB-INF/web.xml), kept in the webapp so the app stays in one place.
    loader=jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(TEMPLATES_DIR),
            jinja2.PrefixLoader({"webapp": jinja2.FileSystemLoader(WEBAPP_DIR)}),
        ]
    ),
    # XML templates escape what they insert; shell, YAML and nginx templates get
    # only values the harness generated or validated.
    autoescape=jinja2.select_autoescape(enabled_extensions=("xml.j2", "xml"), default=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def render_to(path: Path, template: str, mode: int = 0o644, **context: Any) -> None:
    write_atomically(path, render(template, **context), mode)


def check_config(config: Path, server: str, command: list[str]) -> None:
    """Run the server's own syntax check on a rendered config; fail with its words."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"{config}: {server} rejects the rendered config: {result.stderr.strip()}")
