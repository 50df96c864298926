"""Temperature scaling of a classifier's probabilities, fitted on held-out predictions.

A network trained with cross-entropy on little data is over-confident: the app showed 100 % for one
class on nearly every window. One scalar T > 0 divides the logits (``softmax(z / T)``); it leaves every
argmax, hence UF1/UAR/accuracy, unchanged and only makes the confidence mean what it says. T is
chosen to minimise the negative log-likelihood of the pooled LOSO held-out predictions: each clip's
prediction comes from the fold model that never saw its subject, the standard way to calibrate
without a separate set. The ECE reported next to it is measured on those same predictions, so the
"after" figure is an in-sample fit of one parameter and says so in ``fitted_on``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

T_BOUNDS = (0.05, 20.0)  # a search interval, not a prior: separable data would otherwise drive T -> 0
ECE_BINS = 15


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(labels)), np.asarray(labels)].mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """The T in :data:`T_BOUNDS` minimising :func:`nll` (a bounded 1-D search over log T).

    Raises:
        ValueError: no predictions, or logits and labels of different lengths.
    """
    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or len(z) == 0 or len(z) != len(y):
        raise ValueError(f"need (N, classes) logits and N labels, got {z.shape} and {y.shape}")
    lo, hi = np.log(T_BOUNDS)
    result = minimize_scalar(lambda log_t: nll(z, y, float(np.exp(log_t))), bounds=(lo, hi), method="bounded")
    return float(np.exp(result.x))


def ece(probs: np.ndarray, labels: Sequence[int] | np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |accuracy - confidence| over equal-width confidence bins, weighted by size."""
    p, y = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if len(p) == 0:
        return 0.0
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    correct = (predicted == y).astype(np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # confidence 1.0 falls in the last bin
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def calibrate(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> dict[str, Any]:
    """Fit T on held-out logits and report NLL and ECE before and after (the ``calibration`` of metrics.json)."""
    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    t = fit_temperature(z, y)
    return {
        "temperature": round(t, 6),
        "ece_before": ece(softmax(z, axis=1), y),
        "ece_after": ece(softmax(z / t, axis=1), y),
        "nll_before": nll(z, y),
        "nll_after": nll(z, y, t),
        "bins": ECE_BINS,
        "n": len(y),
        "fitted_on": "pooled held-out cross-validation predictions (each from the fold model that did not "
        "see the clip's subject); the ECE after scaling is measured on the same predictions",
    }


__all__ = ["ECE_BINS", "T_BOUNDS", "calibrate", "ece", "fit_temperature", "nll"]
