"""The one console every command prints to, and what several commands print with it."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


def progress_bar(unit: str) -> Progress:
    """The bar long jobs show: what is happening, how far (in unit), time elapsed."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" + unit),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def error(text: str) -> None:
    """One red line, never wrapped or marked up: paths and messages stay whole."""
    console.print(f"error: {text}", style="red", markup=False, highlight=False, soft_wrap=True)
