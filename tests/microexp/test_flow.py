"""Onset -> apex optical flow + strain (microexp.flow) and the flow model: known motions recovered,
mirror symmetry, layout through the pipeline, training-loop flip, model round trip, explanations."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from microexp import render
from microexp.align import AlignedWindow, to_tensors
from microexp.explain import METHODS, explain_prediction, importance_curve
from microexp.flow import MIRROR, apex_index, flow_input, heat_on_frames, optical_flow, optical_strain
from microexp.models import MicroExpFlowNet, build_model, default_spec, load_model
from microexp.pipeline import Predictor
from microexp.spec import FLOW_SIZE, InputSpec
from microexp.video import clip_from_frames
from microexp.windows import Window
from tests.fixtures.app import FPS, au_clip_frames

S = 64
SPEC = InputSpec(representation="flow")


def _texture(seed: int = 0, size: int = 2 * S) -> np.ndarray:
    """Smooth random texture (float32, 0..255) with enough structure for flow everywhere."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)


def _moved(img: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The centre S x S of ``img`` with its content moved by (u, v): out(x + d) = img(x)."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    off = (img.shape[0] - S) / 2
    return cv2.remap(img, xx + off - u, yy + off - v, cv2.INTER_CUBIC)


def _window(onset: np.ndarray, apex: np.ndarray, t: int = 9, apex_at: int = 5) -> np.ndarray:
    """(T, S, S, 1) crops: the onset, then a rise to the apex frame, a hold, a decay."""
    w = np.clip(1.0 - np.abs(np.arange(t) - apex_at) / apex_at, 0.0, 1.0)
    return np.stack([((1 - a) * onset + a * apex)[..., None] for a in w]).astype(np.float32)


def test_flow_of_a_known_shift_recovers_it():
    img = _texture()
    zero = np.zeros((S, S), np.float32)
    flow = optical_flow(_moved(img, zero, zero), _moved(img, zero + 1.5, zero - 0.75))
    inner = flow[8:-8, 8:-8].reshape(-1, 2)
    assert np.allclose(np.median(inner, axis=0), [1.5, -0.75], atol=0.1)
    assert np.mean(np.abs(inner - [1.5, -0.75])) < 0.15


def test_strain_of_a_translation_is_zero_and_of_a_stretch_is_its_rate():
    assert np.allclose(optical_strain(np.full((S, S, 2), [2.0, -1.0], np.float32)), 0.0)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    stretch = np.dstack([0.05 * xx, np.zeros_like(xx)])  # u = 0.05 x: e_xx = 0.05, nothing else
    assert np.allclose(optical_strain(stretch), 0.05, atol=1e-6)
    shear = np.dstack([0.04 * yy, np.zeros_like(xx)])  # du/dy = 0.04: e_xy = 0.02, |e| = sqrt(2) * 0.02
    assert np.allclose(optical_strain(shear), np.sqrt(2) * 0.02, atol=1e-6)
    # from real flow of a shifted image: far below the strain of a real expression
    img, zero = _texture(1), np.zeros((S, S), np.float32)
    measured = optical_strain(optical_flow(_moved(img, zero, zero), _moved(img, zero + 1.0, zero + 1.0)))
    assert float(np.mean(measured[8:-8, 8:-8])) < 0.02


def test_apex_is_the_sustained_peak_not_a_one_frame_spike():
    base = np.zeros((16, 4, 4, 1), np.float32)
    diff = np.array([0, 1, 2, 4, 8, 10, 10, 10, 6, 3, 1, 0, 16, 0, 0, 0], np.float32)  # spike at 12
    crops = base + diff[:, None, None, None]
    assert apex_index(crops) in (5, 6, 7)
    assert apex_index(crops[:2]) == 1
    # a steady drift (lighting, residual head motion) larger than the movement does not move the apex
    t = np.arange(18, dtype=np.float32)
    rng = np.random.default_rng(0)
    pattern = rng.normal(0, 1, (1, 8, 8, 1)).astype(np.float32)
    movement = np.exp(-((t - 6) ** 2) / 4.0)[:, None, None, None] * pattern * 4.0
    drift = (t / 17 * 12.0)[:, None, None, None] * np.ones((1, 8, 8, 1), np.float32)
    assert apex_index(movement + drift) == 6
    with pytest.raises(ValueError, match="two frames"):
        apex_index(crops[:1])


def test_flow_input_layout_units_and_head_motion_removed():
    img = _texture(2)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    bump = np.exp(-((xx - 44) ** 2 + (yy - 46) ** 2) / (2 * 7.0**2)).astype(np.float32)  # lower right
    zero = np.zeros((S, S), np.float32)
    crops = _window(_moved(img, zero, zero), _moved(img, 2.0 * bump + 0.8, 0.8 - 1.0 * bump))  # + head shift
    x = flow_input(crops, SPEC)
    assert x.shape == (3, 1, FLOW_SIZE, FLOW_SIZE) and x.dtype == np.float32
    u, v, strain = x[0, 0], x[1, 0], x[2, 0]
    iod = SPEC.inter_ocular * S
    peak = np.unravel_index(np.argmax(np.hypot(u, v)), u.shape)
    assert peak[0] > FLOW_SIZE // 2 and peak[1] > FLOW_SIZE // 2  # where the skin moved
    # u at the bump ~ 2 px = 2 / iod * 100 % IOD, the 0.8 px head shift removed
    assert u[peak] == pytest.approx(2.0 / iod * 100, rel=0.35) and v[peak] < 0
    assert np.abs(u[:8, :8]).mean() < 0.1 * u[peak]  # the still top-left corner reads as still
    assert strain[peak[0] - 4 : peak[0] + 5, peak[1] - 4 : peak[1] + 5].max() > 5 * strain[:8, :8].mean()


def test_mirrored_window_gives_mirrored_flow_with_u_negated():
    """What MIRROR (the training flip) claims, checked on the flow itself."""
    img = _texture(3)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    bump = np.exp(-((xx - 20) ** 2 + (yy - 24) ** 2) / (2 * 8.0**2)).astype(np.float32)
    zero = np.zeros((S, S), np.float32)
    crops = _window(_moved(img, zero, zero), _moved(img, 1.5 * bump, 1.2 * bump))
    x, mirrored = flow_input(crops, SPEC), flow_input(crops[:, :, ::-1].copy(), SPEC)
    expected = x[..., ::-1] * np.asarray(MIRROR, np.float32)[:, None, None, None]
    scale = np.abs(x[:2]).max()
    assert np.abs(mirrored[:2] - expected[:2]).mean() < 0.05 * scale


def test_training_flip_negates_u_of_flow_inputs():
    from train.loop import augment
    from train.presets import PRESETS

    x = torch.randn(2, 3, 1, FLOW_SIZE, FLOW_SIZE)
    always = replace(PRESETS["default"], hflip=1.0, max_shift=0)
    flipped = augment((x,), always, torch.Generator().manual_seed(0), torch.tensor(MIRROR))[0]
    assert torch.equal(flipped[:, 0], -x[:, 0].flip(-1)) and torch.equal(flipped[:, 1:], x[:, 1:].flip(-1))


def test_spec_representation_is_validated_and_shapes_follow_it():
    assert SPEC.input_shapes() == [(3, 1, FLOW_SIZE, FLOW_SIZE)]
    assert InputSpec().representation == "frames" and InputSpec().input_shapes() == [(1, 18, 64, 64)]
    assert InputSpec.from_dict(json.loads(json.dumps(SPEC.to_dict()))) == SPEC
    with pytest.raises(ValueError, match="representation"):
        InputSpec(representation="optical")
    with pytest.raises(ValueError, match="grey"):
        InputSpec(representation="flow", channels=3)
    assert default_spec("flow").representation == "flow" and default_spec("stcnn").representation == "frames"


def test_to_tensors_computes_flow_for_a_flow_spec():
    img, zero = _texture(4), np.zeros((S, S), np.float32)
    crops = _window(_moved(img, zero, zero), _moved(img, zero + 1.0, zero), t=18)
    window = Window(0, 0.0, 0.6, np.linspace(0, 17, 18))
    aligned = [AlignedWindow(window, {"face": crops}, {"face": np.eye(2, 3)}, 1.0)] * 2
    (x,) = to_tensors(aligned, SPEC)
    assert x.shape == (2, 3, 1, FLOW_SIZE, FLOW_SIZE) and np.allclose(x[0].numpy(), flow_input(crops, SPEC))
    assert to_tensors([], SPEC)[0].shape == (0, 3, 1, FLOW_SIZE, FLOW_SIZE)
    assert to_tensors(aligned, InputSpec())[0].shape == (2, 1, 18, S, S)  # frames unchanged


def test_cache_key_tells_flow_from_frames_and_keeps_old_keys():
    from types import SimpleNamespace

    from train.cache import PIPELINE_VERSION, cache_key

    record = SimpleNamespace(frames=[], video="/nonexistent.mp4", fps=30.0, onset=1, apex=5, offset=9)
    frames_key, flow_key = cache_key(record, InputSpec()), cache_key(record, SPEC)
    assert frames_key != flow_key
    # a frames spec hashes as it did before the field existed, so existing caches stay valid
    legacy = {k: v for k, v in InputSpec().to_dict().items() if k not in ("labels", "representation")}
    files = [1, "/nonexistent.mp4", "/nonexistent.mp4", [None, None]]
    payload = {"version": PIPELINE_VERSION, "spec": legacy, "files": files, "fps": 30.0, "onset": 1, "apex": 5,
               "offset": 9}  # fmt: skip
    assert frames_key == hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def test_model_forward_backward_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("flow")
    assert isinstance(model, MicroExpFlowNet) and model.spec.representation == "flow"
    (x,) = model.example_inputs(4)
    logits = model(x)
    assert logits.shape == (4, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == "flow" and config["input_spec"]["representation"] == "flow"
    loaded = load_model(tmp_path)
    assert type(loaded) is MicroExpFlowNet and loaded.spec == model.spec and not loaded.training
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    with pytest.raises(ValueError, match="flow"):
        MicroExpFlowNet(InputSpec())


def test_heat_lands_on_onset_and_apex_frames():
    crops = _window(np.zeros((S, S), np.float32), np.full((S, S), 50.0, np.float32), t=18, apex_at=7)
    heat = np.random.default_rng(0).random((1, FLOW_SIZE, FLOW_SIZE)).astype(np.float32)
    out = heat_on_frames(heat, crops)
    assert out.shape == (18, S, S)
    lit = sorted(np.flatnonzero(out.reshape(18, -1).sum(axis=1)))
    assert lit == [0, 7]


@pytest.fixture(scope="module")
def au12_flow(landmarker):
    frames, lm = au_clip_frames(landmarker, "au12")  # onset frame 3, apex 9, offset 15
    torch.manual_seed(0)
    model = build_model("flow").eval()
    pred = Predictor(model, landmarker=landmarker).predict(clip_from_frames(frames, FPS))
    return model, pred


def test_flow_of_a_real_au12_clip_moves_the_mouth_not_the_brows(au12_flow):
    """Through the real pipeline (MediaPipe, alignment): the AU12 clip's flow sits in the lower face."""
    _, pred = au12_flow
    flow = pred.windows[pred.best_window].inputs[0]
    u, v = flow[0, 0, 0].numpy(), flow[0, 1, 0].numpy()
    motion = np.hypot(u, v)
    eye_row = round(SPEC.eye_y * FLOW_SIZE)
    mouth = motion[eye_row + 8 :, 6:-6]  # mouth region of the canonical face
    brows = motion[max(0, eye_row - 6) : eye_row, 6:-6]
    assert mouth.max() > 1.0 and mouth.max() > 3 * brows.mean()


@pytest.mark.parametrize("method", list(METHODS))
def test_explanations_of_a_flow_model_render_on_the_source_frames(au12_flow, method):
    model, pred = au12_flow
    e = explain_prediction(model, pred, method)
    crops = pred.windows[pred.best_window].aligned.crops["face"]
    assert e.maps[0].shape == crops.shape[:3]
    lit = set(np.flatnonzero(e.maps[0].reshape(len(crops), -1).sum(axis=1)).tolist())
    assert lit == {0, apex_index(crops)}
    times, importance = importance_curve(e, pred.clip.timestamps)
    assert times.shape == importance.shape == (18,) and np.isclose(importance.sum(), 1.0)
    idx, heat = render.source_heatmaps(pred, e)
    assert heat.shape[0] == len(idx) and heat.max() > 0
    montage = render.crops_montage(pred.windows[pred.best_window].aligned, heat=e.maps)
    assert montage.ndim == 3
