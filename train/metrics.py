"""Scores of pooled predictions (MEGC convention) and a confusion-matrix figure.

UF1 (unweighted F1) is the mean over classes of per-class F1; UAR (unweighted average recall)
the mean over classes of per-class recall. Both are computed once, on the predictions of all
LOSO folds pooled, not averaged over folds. Classes with no true sample in the pool have no
defined recall, so they are listed in ``per_class`` (support 0) but left out of both means.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from microexp.atomic import atomic_path


def _as_labels(values: Sequence[Any], labels: Sequence[str]) -> list[str]:
    """Class names; integer class indices are mapped through ``labels``."""
    out = []
    for v in values:
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= v < len(labels):
                raise ValueError(f"class index {v} outside 0..{len(labels) - 1}")
            out.append(labels[int(v)])
        else:
            out.append(str(v))
    return out


def summarize(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, UF1, UAR, per-class scores and the confusion matrix as a JSON-able dict.

    Args:
        y_true, y_pred: class names or class indices into ``labels``, one per clip.
        labels: all class names, in the order used for ``per_class`` and the matrix.

    Returns:
        ``{"labels", "accuracy", "uf1", "uar", "per_class": {label: {"precision", "recall",
        "f1", "support"}}, "confusion": [[int]] (rows true, columns predicted), "n"}``.
    """
    labels = [str(label) for label in labels]
    true, pred = _as_labels(y_true, labels), _as_labels(y_pred, labels)
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true labels but {len(pred)} predictions")
    if not true:
        raise ValueError("summarize needs at least one prediction")
    strays = sorted(set(true + pred) - set(labels))
    if strays:
        raise ValueError(f"labels {strays} are not among {labels}")
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=labels, zero_division=0
    )
    present = support > 0
    matrix = confusion_matrix(true, pred, labels=labels)
    return {
        "labels": labels,
        "accuracy": float(np.trace(matrix) / len(true)),
        "uf1": float(f1[present].mean()),
        "uar": float(recall[present].mean()),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": matrix.astype(int).tolist(),
        "n": len(true),
    }


def plot_confusion(summary: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Write the summary's confusion matrix as a PNG (row-normalised colours, counts written in).

    The file appears atomically: drawn to a temporary file in the same folder, then renamed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    labels = summary["labels"]
    counts = np.asarray(summary["confusion"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = 1.2 + 0.9 * len(labels)
    fig = Figure(figsize=(side + 1.0, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(title or f"UF1 {summary['uf1']:.3f}  UAR {summary['uar']:.3f}  n={summary['n']}")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path
