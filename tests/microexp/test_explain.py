"""Captum attributions: shapes, hand-checkable models, Guided Backprop really guided, and the AU12 test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from microexp import render
from microexp.explain import METHODS, explain, explain_prediction, guided_relu, importance_curve
from microexp.face import landmark_groups
from microexp.models import ARCHITECTURES, build_model
from microexp.pipeline import Predictor
from microexp.video import clip_from_frames
from tests.fixtures.app import FPS, au_clip_frames


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("method", list(METHODS))
def test_one_nonnegative_map_per_region(arch, method):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    inputs = model.example_inputs(2)
    maps = explain(model, inputs, target=1, method=method)
    assert len(maps) == len(model.spec.regions)
    for x, m in zip(inputs, maps):
        n, _, t, h, w = x.shape
        assert m.shape == (n, t, h, w) and m.dtype == np.float32
        assert (m >= 0).all() and m.sum() > 0


class _OneRegion(nn.Module):
    """Logit 1 = sum of the second input inside a 4x4 patch of frame 2; the first input is ignored."""

    def forward(self, a, b):
        score = b[:, :, 2, 4:8, 4:8].sum(dim=(1, 2, 3))
        return torch.stack([a.sum(dim=(1, 2, 3, 4)) * 0, score], dim=1)


@pytest.mark.parametrize("method", list(METHODS))
def test_attribution_lands_where_the_model_looks(method):
    a, b = torch.randn(1, 1, 6, 16, 16), torch.rand(1, 1, 6, 16, 16) + 0.5
    map_a, map_b = explain(_OneRegion(), (a, b), target=1, method=method,
                           **({"sliding_window_shapes": ((1, 1, 4, 4),) * 2, "strides": ((1, 1, 4, 4),) * 2}
                              if method == "occlusion" else {}))
    assert map_a.sum() == 0
    inside = map_b[0, 2, 4:8, 4:8].sum()
    assert inside > 0 and np.isclose(inside, map_b.sum())


def test_unknown_method_is_refused():
    model = build_model("stcnn").eval()
    with pytest.raises(ValueError, match="unknown attribution method"):
        explain(model, model.example_inputs(), 0, method="gradcam++")


def test_guided_relu_blocks_negative_gradients_through_functional_relu():
    x = torch.tensor([1.0, 2.0, -1.0], requires_grad=True)
    with guided_relu():
        (torch.relu(x) * torch.tensor([1.0, -3.0, 5.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 0.0]  # plain ReLU backward would give [1, -3, 0]


def test_guided_backprop_differs_from_saliency_on_our_models():
    # Our forwards use torch.relu functionally; Captum alone would return the plain gradient.
    torch.manual_seed(0)
    model = build_model("stcnn").eval()
    x = model.example_inputs()
    sal, gb = explain(model, x, 0, "saliency")[0], explain(model, x, 0, "guided_backprop")[0]
    assert np.corrcoef(sal.ravel(), gb.ravel())[0, 1] < 0.95


def test_guided_backprop_is_the_same_whichever_block_implementation_runs():
    from microexp.models.fast import fast_mode

    torch.manual_seed(0)
    model = build_model("stcnn").eval()
    x = model.example_inputs()
    with fast_mode("fast"):
        fused = explain(model, x, 0, "guided_backprop")[0]
    with fast_mode("reference"):
        reference = explain(model, x, 0, "guided_backprop")[0]
    np.testing.assert_allclose(fused, reference, rtol=1e-4, atol=1e-6 * float(reference.max()))


def _mouth_ratio(pred, model, method, lm, frames_range):
    e = explain_prediction(model, pred, method)
    idx, heat = render.source_heatmaps(pred, e)
    lips = lm[list(landmark_groups()["lips"]), :2]
    iod = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
    m = 0.15 * iod
    box = (int(lips[:, 0].min() - m), int(lips[:, 1].min() - m), int(lips[:, 0].max() + m), int(lips[:, 1].max() + m))
    sel = [k for k, i in enumerate(idx) if frames_range[0] <= i <= frames_range[1]]
    share, area = render.region_mass(heat[sel].sum(axis=0), box)
    return share / area, e


@pytest.mark.parametrize("method", list(METHODS))
def test_au12_attribution_sits_on_the_mouth(au12_model, landmarker, method):
    """A clip whose only change is AU12: in its onset-apex frames the mouth box (lips + margin) holds
    clearly more attribution than its share of the face area, for every method, after the
    attribution has been warped back through the alignment onto the source frames."""
    frames, lm = au_clip_frames(landmarker, "au12")  # onset frame 3, apex 9, offset 15
    pred = Predictor(au12_model, landmarker=landmarker).predict(clip_from_frames(frames, FPS))
    assert pred.prediction == "positive"
    ratio, e = _mouth_ratio(pred, au12_model, method, lm, (3, 9))
    assert ratio > 1.75, f"{method}: mouth holds {ratio:.2f}x its area share"
    times, importance = importance_curve(e, pred.clip.timestamps)
    assert times.shape == importance.shape == (18,) and np.isclose(importance.sum(), 1.0)


def test_brow_raise_does_not_light_up_the_mouth(au12_model, landmarker):
    """Control: the same measure on a brow-raise clip stays low, so the AU12 test can fail."""
    frames, lm = au_clip_frames(landmarker, "brows")
    pred = Predictor(au12_model, landmarker=landmarker).predict(clip_from_frames(frames, FPS))
    assert pred.prediction == "surprise"
    ratio, _ = _mouth_ratio(pred, au12_model, "saliency", lm, (3, 9))
    assert ratio < 1.2
