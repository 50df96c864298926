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


def test_jitter_caches_k_offset_windows_that_hold_the_apex(records, tmp_path):
    from train.cache import jitter_offsets
    from train.tensorset import load_tensor_set, save_tensor_set

    spec = InputSpec(frames=18)
    assert jitter_offsets(1, spec) == (0.0,)
    offsets = jitter_offsets(5, spec)
    assert len(offsets) == 5 and offsets[2] == 0.0 and max(offsets) == pytest.approx(0.3 * spec.window_seconds)
    report = CacheReport()
    data = build_tensor_set(records, spec, tmp_path, progress=False, report=report, jitter=5)
    assert report.processed == len(records) and data.windows_per_clip == 5
    assert data.jitter[0].shape == (len(records), 5, *data.inputs[0].shape[1:])
    assert data.offsets.shape == (len(records), 5)
    # every window still holds the apex (its centre is at most 0.3 window from it) ...
    assert bool((data.offsets.abs() <= 0.3 * spec.window_seconds + 1e-4).all())
    # (these 0.8-1 s clips leave little room around the apex: window_at keeps windows inside the clip)
    assert bool((data.offsets.diff(dim=1) >= -1e-6).all())
    assert float((data.offsets[:, -1] - data.offsets[:, 0]).min()) > 0.1
    # ... the offset-0 window is the centred input, and windows at different offsets really differ
    assert torch.allclose(data.jitter[0][:, 2], data.inputs[0], atol=1e-5)
    for n in range(len(records)):
        for i in range(5):
            for j in range(i + 1, 5):
                if data.offsets[n, j] - data.offsets[n, i] > 0.01:
                    assert (data.jitter[0][n, i] - data.jitter[0][n, j]).abs().mean() > 0.05, (n, i, j)
    # its own cache entry (the centred-only key is unchanged), and a saved set round-trips
    assert build_tensor_set(records, spec, tmp_path, progress=False, report=CacheReport()).jitter == ()
    loaded, _ = load_tensor_set(save_tensor_set(data, tmp_path / "set.safetensors"))
    assert loaded.windows_per_clip == 5 and torch.equal(loaded.jitter[0], data.jitter[0])
    assert torch.equal(loaded.subset([1, 0]).offsets, data.offsets[[1, 0]])
