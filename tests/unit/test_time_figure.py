"""TimeFigure lays out what plotly's make_subplots and add_vrect/add_vline(row="all") laid
out before it (their objects cost most of a bench's report): the same traces, axes,
shapes and labels, built here both ways and compared as the page's JSON."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from harness.report.shell import bare_figure
from harness.report.time_figure import FAULT_COLOUR, TimeFigure


@dataclass(frozen=True)
class _Fault:
    at_s: float
    restored_at_s: float | None
    label: str


FAULTS = (
    _Fault(10.0, 15.0, "sigstop node1"),
    _Fault(12.5, None, "sigkill <node2> & co"),
    _Fault(13.0, None, "restart node1"),
    _Fault(13.5, 14.0, "shutdown node2"),
    _Fault(14.0, None, "touch node1"),
)


def _plotly_panels(rows: int) -> Any:
    """The panels as the harness laid them out with plotly's make_subplots."""
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08, figure=bare_figure()
    )
    fig.update_layout(
        title={"text": "T", "x": 0.01},
        height=500,
        hovermode="x unified",
        margin={"t": 70, "r": 30, "l": 70, "b": 60},
    )
    fig.update_xaxes(title_text="time since start (s)", row=rows, col=1)
    return fig


def _by_plotly(rows: int, faults: tuple[_Fault, ...], x_end: float) -> dict[str, Any]:
    """The figure as the harness drew it with plotly's own subplots and shapes."""
    fig = _plotly_panels(rows)
    for row in range(1, rows + 1):
        fig.add_trace(go.Scatter(x=[0.5, 1.5], y=[row, 2], name=f"s{row}"), row=row, col=1)
        fig.add_trace(go.Bar(x=[0.5], y=[3], name=f"b{row}"), row=row, col=1)
        fig.update_yaxes(title_text=f"y{row}", rangemode="tozero", row=row, col=1)
    fig.update_yaxes(title_text="last", type="log", row=rows, col=1)
    fig.update_layout(barmode="stack", bargap=0)
    for n, fault in enumerate(faults):
        if fault.restored_at_s is not None:
            fig.add_vrect(
                x0=fault.at_s, x1=fault.restored_at_s, row="all", col=1,
                exclude_empty_subplots=False, fillcolor=FAULT_COLOUR, opacity=0.1,
                line_width=0, layer="below",
            )  # fmt: skip
        fig.add_vline(
            x=fault.at_s, row="all", col=1, exclude_empty_subplots=False,
            line={"color": FAULT_COLOUR, "dash": "dash", "width": 1.5},
        )  # fmt: skip
        fig.add_annotation(
            text=html.escape(fault.label, quote=False), x=fault.at_s, y=1, yref="y domain",
            xanchor="left", yanchor="top", yshift=-18 * (n % 4), showarrow=False,
            font={"color": FAULT_COLOUR}, bgcolor="rgba(255,255,255,0.8)", row=1, col=1,
        )  # fmt: skip
    fig.update_xaxes(range=[0, x_end])
    return fig.to_dict()


def _by_time_figure(rows: int, faults: tuple[_Fault, ...], x_end: float) -> dict[str, Any]:
    fig = TimeFigure(rows, "T", 500)
    for row in range(1, rows + 1):
        fig.add_trace(go.Scatter(x=[0.5, 1.5], y=[row, 2], name=f"s{row}"), row=row)
        fig.add_trace(go.Bar(x=[0.5], y=[3], name=f"b{row}"), row=row)
        fig.y_axis(row, f"y{row}", rangemode="tozero")
    fig.y_axis(rows, "last", type="log")
    fig.update_layout(barmode="stack", bargap=0)
    fig.mark_faults(faults, x_end)
    return fig.to_dict()


def _without_template(figure: dict[str, Any]) -> dict[str, Any]:
    """The page writes its template into either (shell.figure_html); and plotly computes
    the panels' edges by a sum whose last bits may differ: those are compared apart."""
    layout = {k: v for k, v in figure["layout"].items() if k != "template"}
    for key, axis in layout.items():
        if key.startswith("yaxis"):
            axis["domain"] = [round(edge, 12) for edge in axis["domain"]]
    return {"data": figure["data"], "layout": layout}


@pytest.mark.parametrize("rows", [1, 2, 4])
@pytest.mark.parametrize("faults", [(), FAULTS[:1], FAULTS[1:2], FAULTS])
def test_the_figure_is_plotlys_own_layout(rows: int, faults: tuple[_Fault, ...]) -> None:
    ours = _without_template(_by_time_figure(rows, faults, 20.0))
    plotlys = _without_template(_by_plotly(rows, faults, 20.0))
    assert ours == plotlys


def test_a_faults_label_is_escaped_and_labels_are_staggered() -> None:
    layout = _by_time_figure(2, FAULTS, 20.0)["layout"]
    labels = layout["annotations"]
    assert labels[1]["text"] == "sigkill &lt;node2&gt; &amp; co"
    assert [a["yshift"] for a in labels] == [0, -18, -36, -54, 0]
    # Two bands (faults restored) and five lines, on each of the two panels.
    assert len(layout["shapes"]) == (2 + 5) * 2


@pytest.mark.parametrize("rows", [1, 2])
def test_a_plain_line_is_plotlys_vline_on_every_panel(rows: int) -> None:
    """compare marks each run's fault with a line of the run's colour, no label."""
    line = {"color": "#123456", "dash": "dash", "width": 1}
    plotlys = _plotly_panels(rows)
    ours = TimeFigure(rows, "T", 500)
    for x in (3.0, 7.5):
        plotlys.add_vline(x=x, row="all", col=1, exclude_empty_subplots=False, line=line)
        ours.vertical_line(x, line)
    assert _without_template(ours.to_dict()) == _without_template(plotlys.to_dict())
