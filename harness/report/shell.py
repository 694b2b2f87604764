"""The one page shell every HTML page of the harness renders through.

templates/base.html.j2 holds the doctype, the head, the one stylesheet (style.css) and,
once, plotly.js; each page's template extends it. Values are escaped by the environment,
never by hand: only a chart's own markup (figure_html) enters a page unescaped.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any, cast

import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from harness.files import write_atomically

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
# The look of a figure made by bare_figure(): figure_html writes it into the figure's JSON.
PAGE_TEMPLATE = "plotly_white"


def _escaped(value: object) -> object:
    """Escape as html.escape does (&#x27; for a quote, where markupsafe writes &#39;): the
    pages wrote those entities before they had templates, and readers' greps know them."""
    if hasattr(value, "__html__"):
        return value  # already markup: a chart, or a macro's output
    return Markup(html.escape(str(value)))  # noqa: S704 - escaped on this very line


@cache
def _plotly_js() -> Markup:
    # Several megabytes read from plotly's package: once per process, not once per page.
    return Markup(get_plotlyjs())  # noqa: S704 - plotly's own bundle, not data


ENV = Environment(
    loader=PackageLoader("harness.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    finalize=_escaped,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENV.globals["plotly_js"] = _plotly_js
# A page without a chart passes plotly=False: it need not weigh megabytes.
ENV.globals["plotly"] = True


def bare_figure() -> go.Figure:
    """A figure without a template in it: figure_html writes PAGE_TEMPLATE into its JSON.
    plotly validates and deep-copies a template (its own default, then the one asked for)
    into every figure it builds: that was half of a run report's 0.2 s. plotly.js applies
    the template in the browser, so the page is the same."""
    fig = go.Figure(layout={"template": {}})
    fig._page_template = PAGE_TEMPLATE
    return fig


@cache
def _template_json(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], pio.templates[name].to_plotly_json())


def figure_html(fig: Any, key: str) -> Markup:
    """A plotly figure as a div for a page whose shell already inlines plotly.js."""
    data = fig.to_dict()
    template = getattr(fig, "_page_template", None)  # a bare_figure()'s
    if template is not None:
        data["layout"]["template"] = _template_json(template)
    div = pio.to_html(
        data,
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"fig-{key}",
        config=PLOTLY_CONFIG,
    )
    return Markup(cast(str, div))  # noqa: S704 - plotly escapes the figure's JSON itself


def render_page(template: str, /, **context: object) -> str:
    """The page a template under templates/ renders from context."""
    return ENV.get_template(template).render(**context)


def write_page(path: Path, template: str, /, **context: object) -> Path:
    """Render and write atomically: a viewer never opens a half-written page."""
    return write_atomically(path, render_page(template, **context))
