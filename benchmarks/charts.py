"""PNG charts of the scaling curves: each suite module may define `charts(document) -> list[Path]`."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure as PlotFigure

from benchmarks.common import output_dir


def new_chart(title: str, xlabel: str, ylabel: str) -> tuple[PlotFigure, Any]:
    """A titled figure with one axes and a grid."""
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, which="both", alpha=0.3)
    return figure, axes


def save(figure: PlotFigure, name: str) -> Path:
    """Write the figure as <name>.png into the run's output folder and close it."""
    output_dir().mkdir(parents=True, exist_ok=True)
    path = output_dir() / f"{name}.png"
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return path


def draw(results: dict[str, dict[str, Any]]) -> list[Path]:
    """Draw every suite's charts from its latest results; return the files written."""
    paths: list[Path] = []
    for suite, document in results.items():
        module = importlib.import_module(f"benchmarks.{suite}")
        draw_suite = getattr(module, "charts", None)
        if draw_suite is not None:
            paths += draw_suite(document)
    return paths
