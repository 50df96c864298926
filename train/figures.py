"""Training-curve figures for a run directory (matplotlib without pyplot, headless, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from microexp.atomic import atomic_path


def plot_curves(curves: Mapping[str, Mapping[str, Sequence[float]]], path: str | os.PathLike[str]) -> Path:
    """Plot training loss and accuracy per epoch, one line per fold.

    Args:
        curves: ``{fold_name: {"loss": [...], "accuracy": [...]}}``, one value per epoch.
        path: target PNG; written to a temporary file first and renamed into place.

    Returns:
        The path written.
    """
    path = Path(path)
    fig = Figure(figsize=(10, 4), layout="constrained")  # no pyplot: no global backend or figure state
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for fold, series in curves.items():
        epochs = range(1, len(series.get("loss", [])) + 1)
        ax_loss.plot(epochs, series.get("loss", []), label=fold, linewidth=1)
        ax_acc.plot(range(1, len(series.get("accuracy", [])) + 1), series.get("accuracy", []), linewidth=1)
    ax_loss.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    ax_acc.set(title="training accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    if 0 < len(curves) <= 12:
        ax_loss.legend(fontsize="small")
    with atomic_path(path, suffix=".png") as tmp:  # the suffix tells matplotlib the format
        fig.savefig(tmp, dpi=100)
    return path
