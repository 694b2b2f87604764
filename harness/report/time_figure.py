"""Panels stacked over one time axis (seconds since the start), each fault marked on every
panel, built as the dict plotly.js draws.

Why not plotly's make_subplots, update_*axes and add_vline: they build and check plotly's
objects one property path at a time. That was 0.25 s of a bench's 0.3 s report (five such
figures), and a bench's report is part of the operator's wait beyond the load. The layout
here is the one make_subplots(rows, 1, shared_xaxes=True, vertical_spacing=0.08) and
add_vrect/add_vline(row="all") give; tests/unit/test_time_figure.py holds the two equal.
The traces are still plotly's own objects (go.Scatter, go.Bar), checked as before.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, Protocol

from harness.report.shell import PAGE_TEMPLATE

SPACING = 0.08  # between panels, as a share of the figure's height
X_TITLE = "time since start (s)"
FAULT_COLOUR = "#b22222"
FAULT_LINE = {"color": FAULT_COLOUR, "dash": "dash", "width": 1.5}
LABEL_STEP_PX = 18  # labels of faults close in time are staggered over four lines


class Marked(Protocol):
    """A fault as the figure marks it: a line at at_s, shaded until restored_at_s."""

    @property
    def at_s(self) -> float: ...

    @property
    def restored_at_s(self) -> float | None: ...

    @property
    def label(self) -> str: ...


def _axis(letter: str, row: int) -> str:
    """Row 1's axes are x and y, row 2's x2 and y2, as plotly names them."""
    return letter if row == 1 else f"{letter}{row}"


def _key(letter: str, row: int) -> str:
    return f"{letter}axis" if row == 1 else f"{letter}axis{row}"


class TimeFigure:
    """rows panels, top to bottom, over one shared time axis. figure_html() draws it as it
    draws a plotly figure (to_dict, and the page's template written in)."""

    def __init__(self, rows: int, title: str, height: int) -> None:
        self.rows = rows
        self._page_template = PAGE_TEMPLATE  # read by shell.figure_html
        self._data: list[dict[str, Any]] = []
        self._layout: dict[str, Any] = {"template": {}}
        panel = (1.0 - SPACING * (rows - 1)) / rows
        for row in range(1, rows + 1):
            from_bottom = rows - row
            bottom = from_bottom * panel + from_bottom * SPACING
            shared = {} if row == rows else {"matches": _axis("x", rows), "showticklabels": False}
            self._layout[_key("x", row)] = {"anchor": _axis("y", row), "domain": [0.0, 1.0]}
            self._layout[_key("x", row)].update(shared)
            self._layout[_key("y", row)] = {
                "anchor": _axis("x", row),
                "domain": [max(0.0, bottom), min(1.0, bottom + panel)],
            }
        self._layout[_key("x", rows)]["title"] = {"text": X_TITLE}
        self._layout.update(
            title={"text": title, "x": 0.01},
            margin={"t": 70, "r": 30, "l": 70, "b": 60},
            height=height,
            hovermode="x unified",
        )

    def add_trace(self, trace: Any, row: int = 1) -> None:
        """A plotly trace (go.Scatter, go.Bar) drawn in the panel of this row."""
        props = dict(trace.to_plotly_json())
        props["xaxis"], props["yaxis"] = _axis("x", row), _axis("y", row)
        self._data.append(props)

    def y_axis(self, row: int, title: str, **props: Any) -> None:
        """The row's value axis: its title and plotly's axis properties (type="log", ...)."""
        self._layout[_key("y", row)].update(title={"text": title}, **props)

    def update_layout(self, **props: Any) -> None:
        self._layout.update(props)

    def mark_faults(self, faults: Sequence[Marked], x_end: float) -> None:
        """Each fault on every panel, shaded until it was restored; labelled once, in the
        top panel. The time axis spans [0, x_end], so a fault after the last request shows."""
        shapes: list[dict[str, Any]] = []
        labels: list[dict[str, Any]] = []
        for n, fault in enumerate(faults):
            if fault.restored_at_s is not None:
                shapes += [self._band(fault.at_s, fault.restored_at_s, row) for row in self._all()]
            shapes += self._lines(fault.at_s, FAULT_LINE)
            labels.append(
                {
                    "bgcolor": "rgba(255,255,255,0.8)",
                    "font": {"color": FAULT_COLOUR},
                    "showarrow": False,
                    # plotly.js renders a subset of HTML in annotations: the label is escaped.
                    "text": html.escape(fault.label, quote=False),
                    "x": fault.at_s,
                    "xanchor": "left",
                    "xref": "x",
                    "y": 1,
                    "yanchor": "top",
                    "yref": "y domain",
                    "yshift": -LABEL_STEP_PX * (n % 4),
                }
            )
        if faults:
            self._layout.setdefault("shapes", []).extend(shapes)
            self._layout.setdefault("annotations", []).extend(labels)
        for row in self._all():
            self._layout[_key("x", row)]["range"] = [0, x_end]

    def vertical_line(self, x: float, line: dict[str, Any]) -> None:
        """A line at x across every panel, unlabelled (compare marks each run's fault so,
        in the run's colour)."""
        self._layout.setdefault("shapes", []).extend(self._lines(x, line))

    def _lines(self, x: float, line: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "line": line,
                "type": "line",
                "x0": x,
                "x1": x,
                "xref": _axis("x", row),
                "y0": 0,
                "y1": 1,
                "yref": f"{_axis('y', row)} domain",
            }
            for row in self._all()
        ]

    def _all(self) -> range:
        return range(1, self.rows + 1)

    @staticmethod
    def _band(x0: float, x1: float, row: int) -> dict[str, Any]:
        return {
            "fillcolor": FAULT_COLOUR,
            "layer": "below",
            "line": {"width": 0},
            "opacity": 0.1,
            "type": "rect",
            "x0": x0,
            "x1": x1,
            "xref": _axis("x", row),
            "y0": 0,
            "y1": 1,
            "yref": f"{_axis('y', row)} domain",
        }

    def to_dict(self) -> dict[str, Any]:
        return {"data": self._data, "layout": self._layout}
