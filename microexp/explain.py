"""Captum attributions for MicroExp models: which pixels of which frames drove a prediction.

Compute only, never draw (drawing is :mod:`microexp.render`). Every method is
``Method(model).attribute(inputs, target=...)``, so switching method is one dictionary lookup.

Layouts: model inputs are one ``(N, C, T, S, S)`` tensor per region of the model's spec; each
attribution map returned here is ``(N, T, S, S)`` float32, non-negative (absolute value summed
over channels), in the coordinates of the crop the model saw. :mod:`microexp.render` warps them
back onto the source frames through the alignment transforms.

Guided Backprop: Captum overrides the backward pass of ``nn.ReLU`` *modules* only, while our
networks call ``torch.relu`` functionally (``SpatioTemporalBlock.forward``, the dense layer of
STCNN and TwoStream). :func:`guided_relu` therefore also routes functional ReLU calls through a
guided backward (a ``TorchFunctionMode``), so Guided Backprop is really guided whichever way a
forward spells its ReLU, and runs the reference (unfused) layers of the fast path, whose fused
block would hide its ReLU from the override.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from captum.attr import GuidedBackprop, IntegratedGradients, Occlusion, Saliency
from torch import nn
from torch.overrides import TorchFunctionMode

from .flow import heat_on_frames
from .models.fast import fast_mode

METHODS: dict[str, type] = {
    "saliency": Saliency,
    "integrated_gradients": IntegratedGradients,
    "guided_backprop": GuidedBackprop,
    "occlusion": Occlusion,
}
METHOD_TITLES = {
    "saliency": "Saliency (fast)",
    "integrated_gradients": "Integrated Gradients",
    "guided_backprop": "Guided Backprop",
    "occlusion": "Occlusion",
}
DEFAULT_METHOD = "saliency"


@dataclass(frozen=True)
class WindowExplanation:
    """Attribution of one analysis window.

    Attributes:
        method: key of :data:`METHODS`.
        target: class index explained.
        regions: region names, in model-input order.
        maps: one ``(T, S, S)`` non-negative float32 map per region (crop coordinates).
        frame_importance: ``(T,)`` attribution mass per model frame, all regions summed, sums to 1.
        positions: ``(T,)`` fractional source-frame indices of the model frames (``Window.positions``).
    """

    method: str
    target: int
    regions: tuple[str, ...]
    maps: tuple[np.ndarray, ...]
    frame_importance: np.ndarray
    positions: np.ndarray

    def region_share(self) -> dict[str, float]:
        """Fraction of the total attribution mass held by each region."""
        mass = np.array([m.sum() for m in self.maps], dtype=np.float64)
        total = mass.sum() or 1.0
        return {r: float(v / total) for r, v in zip(self.regions, mass)}


class _GuidedReLUFunction(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients through positive inputs."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


class _GuidedReLUMode(TorchFunctionMode):
    """Routes ``torch.relu`` / ``F.relu`` / ``Tensor.relu`` calls through the guided ReLU."""

    _RELUS = (torch.relu, nn.functional.relu, torch.Tensor.relu)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._RELUS and not kwargs.get("inplace", False):
            return _GuidedReLUFunction.apply(args[0])
        return func(*args, **kwargs)


@contextmanager
def guided_relu():
    """Inside this context every functional ReLU backpropagates as in Guided Backprop."""
    with _GuidedReLUMode():
        yield


def _method_kwargs(method: str, inputs: tuple[torch.Tensor, ...], fast: bool, **kw: Any) -> dict[str, Any]:
    """Per-method ``attribute`` arguments sized for (N, C, T, S, S) inputs."""
    if method == "saliency":
        return {"abs": True, **kw}
    if method == "integrated_gradients":
        steps = kw.pop("n_steps", 8 if fast else 16)
        return {"baselines": tuple(torch.zeros_like(x) for x in inputs), "n_steps": steps,
                "internal_batch_size": kw.pop("internal_batch_size", steps), **kw}
    if method == "occlusion":
        # One patch covers a third of the frames and an eighth (fast: a quarter) of each side;
        # the baseline 0 is the window's temporal mean under temporal-mean normalisation.
        windows, strides = [], []
        for x in inputs:
            c, t, s = x.shape[1], x.shape[2], x.shape[3]
            pt, ps = max(1, t // 3), max(1, s // (4 if fast else 8))
            windows.append((c, pt, ps, ps))
            strides.append((c, pt, ps, ps))
        return {"sliding_window_shapes": tuple(kw.pop("sliding_window_shapes", windows)),
                "strides": tuple(kw.pop("strides", strides)), "baselines": tuple(0.0 for _ in inputs),
                "perturbations_per_eval": kw.pop("perturbations_per_eval", 16), **kw}
    return kw


def explain(
    model: nn.Module,
    inputs: Sequence[torch.Tensor] | torch.Tensor,
    target: int,
    method: str = DEFAULT_METHOD,
    fast: bool = True,
    **kw: Any,
) -> tuple[np.ndarray, ...]:
    """Attribute the ``target`` logit to every input pixel.

    Args:
        model: a MicroExp model (any ``nn.Module`` taking one tensor per region).
        inputs: one ``(N, C, T, S, S)`` tensor per region, normalised as the model expects (any device:
            they are moved to the model's).
        target: class index to explain.
        method: key of :data:`METHODS`.
        fast: cheaper settings (fewer IG steps, larger occlusion patches).
        **kw: passed to the Captum ``attribute`` call (overriding our defaults).

    Returns:
        One ``(N, T, S, S)`` float32 non-negative map per region (|attribution| summed over C).
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose from {tuple(METHODS)}")
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    was_training = model.training
    model.eval()
    try:
        # Inputs built under inference_mode cannot enter autograd; a clone outside it can.
        with torch.inference_mode(False), torch.enable_grad():
            # on the model's device (a Predictor's --device); attributions come back to CPU below. fp32 on
            # every device: gradients are what is shown, and mixed precision would round them.
            device = next(model.parameters(), torch.empty(0)).device
            xs = tuple(x.detach().to(device).clone().float().requires_grad_(True) for x in inputs)
            explainer = METHODS[method](model)
            args = _method_kwargs(method, xs, fast, **kw)
            if method == "guided_backprop":
                # The fused fast block hides its ReLU inside one autograd node; the reference layers
                # expose it to guided_relu().
                with guided_relu(), fast_mode("reference"), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
                    attrs = explainer.attribute(xs, target=int(target), **args)
            else:
                attrs = explainer.attribute(xs, target=int(target), **args)
    finally:
        model.train(was_training)
    attrs = (attrs,) if isinstance(attrs, torch.Tensor) else tuple(attrs)
    return tuple(a.detach().abs().sum(dim=1).float().cpu().numpy() for a in attrs)


def _frame_importance(maps: Sequence[np.ndarray]) -> np.ndarray:
    """(T,) attribution mass per frame of (T, S, S) maps, regions summed, normalised to sum 1."""
    per_frame = np.sum([m.reshape(m.shape[0], -1).sum(axis=1) for m in maps], axis=0).astype(np.float64)
    total = per_frame.sum()
    return per_frame / total if total > 0 else np.full_like(per_frame, 1.0 / len(per_frame))


def explain_window(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    target: int,
    positions: np.ndarray,
    regions: Sequence[str],
    method: str = DEFAULT_METHOD,
    fast: bool = True,
    **kw: Any,
) -> WindowExplanation:
    """Explain one window: ``inputs`` hold that window only (batch of 1)."""
    maps = tuple(m[0] for m in explain(model, inputs, target, method=method, fast=fast, **kw))
    importance = _frame_importance(maps)
    return WindowExplanation(method, int(target), tuple(regions), maps, importance, np.asarray(positions, float))


def explain_prediction(
    model: nn.Module, prediction: Any, method: str = DEFAULT_METHOD, window: int | None = None, fast: bool = True
) -> WindowExplanation:
    """Explain the predicted class of one window of a :class:`microexp.pipeline.Prediction`: a spotted
    interval's label for its centred window, the window's own most probable class otherwise.

    Args:
        window: index into ``prediction.windows`` (default: ``best_window``, the window the prediction
            comes from: the top spotted interval's centred window); must be a classified one.
    """
    index = prediction.best_window if window is None else window
    valid = [i for i, w in enumerate(prediction.windows) if w.probs is not None]
    if index not in valid:
        raise ValueError(f"window {index} was skipped or does not exist; valid windows: {valid}")
    result = prediction.windows[index]
    # an interval's centred window explains the interval's label (the mean over the windows around its apex)
    label = next((r.label for r in getattr(prediction, "intervals", ()) if r.window == index and r.label), None)
    target = prediction.labels.index(label) if label is not None else int(np.argmax(result.probs))
    inputs = result.inputs  # this window's own (1, C, T, S, S) tensors
    regions = tuple(model.spec.regions) if hasattr(model, "spec") else tuple(result.aligned.crops)
    explanation = explain_window(model, inputs, target, result.window.positions, regions, method=method, fast=fast)
    if getattr(model, "spec", None) is not None and model.spec.representation == "flow":
        explanation = _flow_on_frames(explanation, result.aligned)
    return explanation


def _flow_on_frames(explanation: WindowExplanation, aligned: Any) -> WindowExplanation:
    """A flow model's one-"frame" maps put back on the window's onset and apex frames
    (:func:`microexp.flow.heat_on_frames`), so rendering and the importance curve see (T, S, S) maps."""
    maps = tuple(heat_on_frames(m, aligned.crops[r]) for r, m in zip(explanation.regions, explanation.maps))
    importance = _frame_importance(maps)
    return replace(explanation, maps=maps, frame_importance=importance)


def importance_curve(explanation: WindowExplanation, timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame importance on the source clip's time axis.

    Returns:
        ``(times, importance)``: the time in seconds of each model frame (interpolated from the
        source timestamps at the window's fractional positions) and its share of the attribution.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    times = np.interp(explanation.positions, np.arange(len(ts)), ts)
    return times, explanation.frame_importance
