"""The ``magnified`` representation (frames whose motion from the first frame is scaled by 1 + alpha) and the
paper's STCNN on it: a known local movement comes out (1 + alpha) times as large, a static window stays as it is,
head motion (the median displacement) is not magnified, layout through ``to_tensors``, validation, the cache
key, and a parameter count equal to the paper's STCNN."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from microexp.align import AlignedWindow, magnified_frames, normalize, to_tensors
from microexp.flow import MAGNIFY_ALPHA, MAGNIFY_SOURCES, magnify, mirror_factors
from microexp.models import MicroExpSTCNN, MicroExpSTCNNMag, build_model, default_spec, load_model
from microexp.spec import InputSpec
from microexp.windows import Window

S = 64
SHIFT = np.array([1.0, 0.5], dtype=np.float32)  # px, about 5 % of the inter-ocular distance on a 64 px crop


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (S, S)).astype(np.float32), (0, 0), 1.5)
    return np.float32(25 + 200 * (img - img.min()) / (img.max() - img.min()))


def _moved(img: np.ndarray, shift: np.ndarray, sigma: float = 10.0, head: tuple[float, float] = (0.0, 0.0)):
    """``img`` whose skin under a Gaussian bump at the centre moves by ``shift`` (out(x + d) = img(x)), the
    whole image then moved by ``head``."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    w = np.exp(-((xx - S / 2) ** 2 + (yy - S / 2) ** 2) / (2 * sigma**2))
    mx, my = xx - shift[0] * w - head[0], yy - shift[1] * w - head[1]
    return cv2.remap(img, np.float32(mx), np.float32(my), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _spec(alpha: float = MAGNIFY_ALPHA, source: str = "onset") -> InputSpec:
    return InputSpec(representation="magnified", extra={"magnify_alpha": alpha, "magnify_source": source})


def _best_scale(out: np.ndarray, img: np.ndarray, head: tuple[float, float] = (0.0, 0.0)) -> float:
    """The k whose rendering ``_moved(img, k * SHIFT)`` matches ``out`` best at the bump's centre."""
    ks = np.linspace(0.0, 9.0, 181)
    c = slice(S // 2 - 8, S // 2 + 8)
    errors = [np.abs(out[c, c] - _moved(img, k * SHIFT, head=head)[c, c]).mean() for k in ks]
    return float(ks[int(np.argmin(errors))])


@pytest.mark.parametrize("source", MAGNIFY_SOURCES)
@pytest.mark.parametrize("alpha", [2.0, 4.0])
def test_a_local_movement_comes_out_one_plus_alpha_times_as_large(alpha, source):
    img = _texture()
    crops = np.stack([img, _moved(img, 0.5 * SHIFT), _moved(img, SHIFT)])[..., None]
    out = magnify(crops, _spec(alpha, source))
    assert out.shape == crops.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], crops[0])  # the onset is the reference
    k = _best_scale(out[2, ..., 0], img)
    # within a pixel of (1 + alpha) x the shift (DIS measures sub-pixel motion a little short)
    assert abs(k - (1 + alpha)) * np.linalg.norm(SHIFT) < 1.0, k
    assert k > 1.5  # and clearly more than the unmagnified movement
    # half the movement at frame 1 comes out about half as large
    assert abs(_best_scale(out[1, ..., 0], img) - 0.5 * (1 + alpha)) * np.linalg.norm(SHIFT) < 1.0


def test_alpha_zero_keeps_the_frames_and_a_static_window_stays_unchanged():
    img = _texture(1)
    static = np.repeat(img[None, ..., None], 5, axis=0)
    for source in MAGNIFY_SOURCES:
        np.testing.assert_allclose(magnify(static, _spec(4.0, source)), static, atol=1e-3)
    moving = np.stack([img, _moved(img, SHIFT)])[..., None]
    np.testing.assert_allclose(magnify(moving, _spec(0.0, "frame")), moving, atol=1e-3)


def test_head_motion_is_not_magnified():
    """The whole face moved by 1.5 px plus the local movement: the head shift stays 1.5 px (median removed)."""
    img = _texture(2)
    head = (1.5, 0.0)
    crops = np.stack([img, _moved(img, SHIFT, head=head)])[..., None]
    out = magnify(crops, _spec(4.0, "frame"))[1, ..., 0]
    # away from the bump the frame is the (un-magnified) head-shifted image
    edge = (slice(2, 12), slice(8, 56))
    assert np.abs(out[edge] - _moved(img, 0 * SHIFT, head=head)[edge]).mean() < 2.0
    assert np.abs(out[edge] - _moved(img, 0 * SHIFT, head=(5 * head[0], 0.0))[edge]).mean() > 8.0


def test_representation_layout_to_tensors_and_mirroring():
    spec = default_spec("stcnn-mag")
    assert spec.representation == "magnified" and spec.input_shapes() == [(1, 18, S, S)]
    assert spec.extra["magnify_alpha"] == MAGNIFY_ALPHA and spec.extra["register"] == "image"
    spec.extra["magnify_alpha"] = 7.0  # a caller's edit of its spec must not reach the architecture table
    assert default_spec("stcnn-mag").extra["magnify_alpha"] == MAGNIFY_ALPHA
    spec = default_spec("stcnn-mag")
    assert mirror_factors(spec) is None  # grey levels: a mirrored window mirrors as frames do
    img = _texture(3)
    crops = np.stack([_moved(img, a * SHIFT) for a in np.linspace(0, 1, 18)])[..., None]
    window = Window(0, 0.0, 0.6, np.linspace(0, 17, 18))
    (x,) = to_tensors([AlignedWindow(window, {"face": crops}, {"face": np.eye(2, 3)}, 1.0)], spec)
    assert x.shape == (1, 1, 18, S, S)
    np.testing.assert_allclose(x[0].numpy(), magnified_frames(crops, spec), atol=1e-6)
    np.testing.assert_allclose(x[0].numpy(), normalize(magnify(crops, spec), spec), atol=1e-6)
    # temporal_mean_zscore would cancel an intensity scaling; a geometric magnification changes the input
    assert np.abs(x[0].numpy() - normalize(crops, spec)).mean() > 0.1


@pytest.mark.parametrize("extra", [{"magnify_alpha": -1.0}, {"magnify_alpha": 1e3}, {"magnify_alpha": "4"},
                                   {"magnify_source": "apex"}])  # fmt: skip
def test_bad_settings_are_refused(extra):
    crops = np.repeat(_texture()[None, ..., None], 3, axis=0)
    with pytest.raises(ValueError, match="magnify_"):
        magnify(crops, InputSpec(representation="magnified", extra=extra))


def test_cache_key_tells_magnified_from_frames_and_from_another_alpha():
    from train.cache import cache_key

    record = SimpleNamespace(frames=[], video="/nonexistent.mp4", fps=30.0, onset=1, apex=5, offset=9)
    specs = (InputSpec(), InputSpec(representation="frames+flow"), _spec(4.0), _spec(2.0), _spec(4.0, "frame"))
    assert len({cache_key(record, s) for s in specs}) == len(specs)


def test_stcnn_mag_is_the_papers_stcnn_with_an_identical_parameter_count_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = build_model("stcnn-mag", input_spec=default_spec("stcnn-mag"))
    assert isinstance(model, MicroExpSTCNNMag) and isinstance(model, MicroExpSTCNN) and model.arch == "stcnn-mag"
    paper = MicroExpSTCNN()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in paper.parameters()) == 1_643_267
    assert [p.shape for p in model.parameters()] == [p.shape for p in paper.parameters()]
    (x,) = model.example_inputs(2)
    assert x.shape == (2, 1, 18, S, S) and model(x).shape == (2, 3)
    model.eval().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == "stcnn-mag" and config["input_spec"]["representation"] == "magnified"
    assert config["input_spec"]["extra"]["magnify_alpha"] == MAGNIFY_ALPHA
    loaded = load_model(tmp_path)
    assert type(loaded) is MicroExpSTCNNMag and loaded.spec == model.spec
    torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(ValueError, match="magnified"):
        MicroExpSTCNNMag(input_spec=default_spec("stcnn"))
