"""Temperature scaling: fitted on held-out logits, it lowers an over-confident model's ECE and NLL."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from train.calibration import calibrate, ece, fit_temperature, nll


def overconfident(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose true calibration temperature is 3: labels drawn from softmax(z / 3), model reports z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, (n, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(z / 3.0, axis=1)])
    return z, labels


def test_fit_recovers_the_temperature_and_lowers_ece_and_nll() -> None:
    z, y = overconfident()
    t = fit_temperature(z, y)
    assert 2.3 < t < 3.9, t
    summary = calibrate(z, y)
    assert summary["ece_after"] < 0.5 * summary["ece_before"], summary
    assert summary["nll_after"] < summary["nll_before"] and summary["n"] == len(y)
    assert nll(z, y, t) == pytest.approx(summary["nll_after"])


def test_ece_of_perfect_and_of_always_wrong_confidence() -> None:
    y = np.array([0, 1, 2, 0])
    assert ece(np.eye(3)[y], y) == 0.0
    assert ece(np.eye(3)[(y + 1) % 3], y) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((0, 3)), [])
