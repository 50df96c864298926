"""train.cache: each clip goes through the inference pipeline once, keyed on every preprocessing choice."""

from __future__ import annotations

import pytest
import torch

from microexp.spec import InputSpec
from train import synth
from train.cache import CacheReport, build_tensor_set
from train.datasets import load_dataset


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "set"
    synth.generate(synth.SynthConfig(clips=4, seconds=(0.8, 1.0), size=(320, 240)), out, progress=False)
    found, _ = load_dataset(f"synthetic={out}")
    return found


def test_landmark_stride_is_its_own_cache_entry_and_full_rate_keeps_its_key(records, tmp_path):
    spec = InputSpec(frames=18)
    full, again, strided = CacheReport(), CacheReport(), CacheReport()
    a = build_tensor_set(records, spec, tmp_path, progress=False, report=full)
    b = build_tensor_set(records, spec, tmp_path, progress=False, report=again, landmark_stride=1)
    c = build_tensor_set(records, spec, tmp_path, progress=False, report=strided, landmark_stride=2)
    assert (full.processed, again.reused, strided.processed) == (len(records),) * 3  # stride 1 = the old key
    assert len(list(tmp_path.glob("*.safetensors"))) == 2 * len(records)
    assert torch.equal(a.inputs[0], b.inputs[0]) and a.inputs[0].shape == c.inputs[0].shape
    diff = (a.inputs[0] - c.inputs[0]).abs()
    assert 0 < diff.mean() < 0.5  # interpolated landmarks between keyframes: close, not identical
