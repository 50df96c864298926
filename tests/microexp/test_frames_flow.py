"""The ``frames+flow`` representation (grey frames + signed flow from the first frame) and the STCNN and FuseNets on it:
known motions recovered with their sign, mirror symmetry, layout through ``to_tensors`` and the cache key,
model shapes and round trip, and learning the direction of a movement on tiny synthetic clips."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from microexp.align import AlignedWindow, frames_and_flow, mirror_window, normalize, to_tensors
from microexp.flow import MIRRORS, mirror_factors, signed_flow
from microexp.models import (
    MicroExpFuseNet,
    MicroExpFuseNetFlow,
    MicroExpSTCNN,
    MicroExpSTCNNFlow,
    build_model,
    default_spec,
    load_model,
)
from microexp.spec import InputSpec
from microexp.windows import Window

S = 64
SPEC = InputSpec(representation="frames+flow")
IOD = SPEC.inter_ocular * S  # crop pixels per inter-ocular distance


def _texture(seed: int = 0, size: int = 2 * S) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)


def _moved(img: np.ndarray, u: np.ndarray | float, v: np.ndarray | float, size: int = S) -> np.ndarray:
    """The centre size x size of ``img`` with its content moved by (u, v): out(x + d) = img(x)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    off = (img.shape[0] - size) / 2
    mx, my = np.float32(xx + off - u), np.float32(yy + off - v)
    return cv2.remap(img, mx, my, cv2.INTER_CUBIC)


def _bump(cx: float, cy: float, sigma: float = 8.0, size: int = S) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


def _clip(img: np.ndarray, u: np.ndarray, v: np.ndarray, t: int = 9, size: int = S) -> np.ndarray:
    """(T, size, size, 1) crops: the skin under (u, v) moves in linearly from nothing at frame 0 to all at T-1."""
    return np.stack([_moved(img, a * u, a * v, size)[..., None] for a in np.linspace(0, 1, t)]).astype(np.float32)


def test_spec_shapes_and_validation():
    assert SPEC.input_shapes() == [(3, 18, S, S)]
    assert default_spec("stcnn-flow").representation == "frames+flow"
    assert InputSpec.from_dict(json.loads(json.dumps(SPEC.to_dict()))) == SPEC
    with pytest.raises(ValueError, match="grey"):
        InputSpec(representation="frames+flow", channels=3)
    assert mirror_factors(SPEC) == (1.0, -1.0, 1.0) and mirror_factors(InputSpec()) is None


def test_signed_flow_reads_the_direction_and_size_of_a_movement():
    """A bump moving right and up reads as +u, -v, in percent of the inter-ocular distance, growing over
    the frames; frame 0 and the still corner stay near zero."""
    bump = _bump(44, 40)
    x = signed_flow(_clip(_texture(1), 2.0 * bump, -1.0 * bump), SPEC)
    assert x.shape == (2, 9, S, S) and x.dtype == np.float32
    assert not x[:, 0].any()
    u, v = x[0, :, 40, 44], x[1, :, 40, 44]
    assert u[-1] == pytest.approx(2.0 / IOD * 100, rel=0.35) and v[-1] == pytest.approx(-1.0 / IOD * 100, rel=0.35)
    assert np.all(np.diff(u[1:]) > -0.5)  # rises with the movement, never flips sign
    assert np.abs(x[:, -1, :10, :10]).mean() < 0.1 * u[-1]


def test_mirrored_window_gives_mirrored_input_with_u_negated():
    """What MIRRORS["frames+flow"] (the training flip) claims, checked on the whole encoded input."""
    bump = _bump(20, 24)
    crops = _clip(_texture(3), 1.5 * bump, 1.2 * bump)
    x, mirrored = frames_and_flow(crops, SPEC), frames_and_flow(crops[:, :, ::-1].copy(), SPEC)
    expected = x[..., ::-1] * np.asarray(MIRRORS["frames+flow"], np.float32)[:, None, None, None]
    assert np.allclose(mirrored[0], expected[0], atol=1e-5)  # the grey frame: an exact mirror
    scale = np.abs(x[1:]).max()
    assert np.abs(mirrored[1:] - expected[1:]).mean() < 0.05 * scale
    # mirror_window (training's flip and the test-time flip) makes the same input from the encoded window
    flipped = mirror_window(torch.from_numpy(x)[None], mirror_factors(SPEC))[0].numpy()
    assert np.array_equal(flipped, expected)
    assert np.array_equal(mirror_window(torch.from_numpy(flipped)[None], mirror_factors(SPEC))[0].numpy(), x)
    grey = torch.from_numpy(x[:1])[None]  # frames: mirrored, values kept (factors None)
    assert torch.equal(mirror_window(grey, None), grey.flip(-1))


def test_to_tensors_stacks_normalised_frames_and_flow():
    crops = _clip(_texture(4), _bump(30, 30) * 1.0, _bump(30, 30) * 0.0, t=18)
    window = Window(0, 0.0, 0.6, np.linspace(0, 17, 18))
    aligned = [AlignedWindow(window, {"face": crops}, {"face": np.eye(2, 3)}, 1.0)] * 2
    (x,) = to_tensors(aligned, SPEC)
    assert x.shape == (2, 3, 18, S, S)
    assert np.allclose(x[0, :1].numpy(), normalize(crops, SPEC))
    assert np.allclose(x[0, 1:].numpy(), signed_flow(crops, SPEC))
    assert to_tensors([], SPEC)[0].shape == (0, 3, 18, S, S)
    assert to_tensors(aligned, InputSpec())[0].shape == (2, 1, 18, S, S)  # frames unchanged


def test_cache_key_tells_frames_flow_from_frames_and_flow():
    from train.cache import cache_key

    record = SimpleNamespace(frames=[], video="/nonexistent.mp4", fps=30.0, onset=1, apex=5, offset=9)
    keys = {cache_key(record, s) for s in (InputSpec(), InputSpec(representation="flow"), SPEC)}
    assert len(keys) == 3


def test_model_shapes_parameters_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("stcnn-flow", input_spec=default_spec("stcnn-flow"))
    assert isinstance(model, MicroExpSTCNNFlow) and model.arch == "stcnn-flow"
    # the paper's STCNN is untouched; only the first convolution takes u and v too (2 x 32 x 15 x 3 x 3 more)
    assert sum(p.numel() for p in MicroExpSTCNN().parameters()) == 1_643_267
    assert sum(p.numel() for p in model.parameters()) == 1_643_267 + 2 * 32 * 15 * 3 * 3
    (x,) = model.example_inputs(2)
    assert x.shape == (2, 3, 18, S, S) and model(x).shape == (2, 3)
    model.eval().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == "stcnn-flow" and config["input_spec"]["representation"] == "frames+flow"
    loaded = load_model(tmp_path)
    assert type(loaded) is MicroExpSTCNNFlow and loaded.spec == model.spec
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    with pytest.raises(ValueError, match="frames\\+flow"):
        MicroExpSTCNNFlow(InputSpec())


@pytest.mark.parametrize("fusion", ["intermediate", "late"])
def test_fusenet_flow_shapes_parameters_and_round_trip(tmp_path, fusion):
    """The FuseNets on frames+flow: each branch's first convolution takes grey, u, v (2 x 32 x 15 x 3 x 3 more
    per branch); the paper's FuseNets stay on one grey channel and refuse the flow input, and the other way."""
    arch = f"fusenet-{fusion}-flow"
    torch.manual_seed(0)
    model = build_model(arch, input_spec=default_spec(arch))
    assert isinstance(model, MicroExpFuseNetFlow) and model.arch == arch and model.fusion == fusion
    paper = {"intermediate": 6_694_915, "late": 6_827_523}[fusion]
    assert sum(p.numel() for p in MicroExpFuseNet(fusion=fusion).parameters()) == paper
    assert sum(p.numel() for p in model.parameters()) == paper + 2 * (2 * 32 * 15 * 3 * 3)
    eyes, mouth = model.example_inputs(2)
    assert eyes.shape == mouth.shape == (2, 3, 18, 32, 32) and model(eyes, mouth).shape == (2, 3)
    model.eval().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == arch and config["input_spec"]["representation"] == "frames+flow"
    loaded = load_model(tmp_path)
    assert type(loaded) is MicroExpFuseNetFlow and loaded.arch == arch and loaded.spec == model.spec
    with torch.inference_mode():
        assert torch.equal(model(eyes, mouth), loaded(eyes, mouth))
    regions = {"regions": ("eyes", "mouth")}
    with pytest.raises(ValueError, match="frames\\+flow"):
        MicroExpFuseNetFlow(InputSpec(**regions), fusion=fusion)
    with pytest.raises(ValueError, match="'frames'"):
        MicroExpFuseNet(InputSpec(**regions, representation="frames+flow"), fusion=fusion)


def _direction_set(per_class: int, seed: int):
    """Tiny clips encoded by frames_and_flow; the class is WHICH WAY a patch moves: up, down or sideways
    (left or right, so the training mirror keeps every label)."""
    from train.tensorset import TensorSet

    size, frames = 32, 8
    spec = InputSpec(representation="frames+flow", face_size=size, frames=frames)
    rng = np.random.default_rng(seed)
    clips, labels, subjects = [], [], []
    for k in range(per_class):
        for label, (du, dv) in enumerate([(0.0, -1.5), (0.0, 1.5), (1.5 * rng.choice([-1, 1]), 0.0)]):
            cx, cy = rng.uniform(10, 22, 2)
            bump = _bump(cx, cy, sigma=4.0, size=size)
            crops = _clip(_texture(int(rng.integers(1 << 30)), 2 * size), du * bump, dv * bump, frames, size)
            crops += rng.normal(0, 1.0, crops.shape).astype(np.float32)
            clips.append(torch.from_numpy(frames_and_flow(crops, spec)))
            labels.append(label)
            subjects.append(f"s{k % 3}")
    return TensorSet(inputs=(torch.stack(clips),), labels=torch.tensor(labels), subjects=tuple(subjects),
                     clips=tuple(f"c{i}" for i in range(len(labels))), spec=spec)  # fmt: skip


def test_training_learns_the_direction_on_tiny_clips(tmp_path):
    """Trained through the real loop (mirror flip and shifts on), the model tells up, down and sideways
    apart on clips it never saw, well above chance (1/3)."""
    from train.checkpoints import Checkpoints
    from train.config import FitConfig
    from train.distributed import init_distributed
    from train.loop import predict, train_job
    from train.presets import get_preset

    torch.set_num_threads(1)
    train, test = _direction_set(12, seed=0), _direction_set(6, seed=1)
    config = FitConfig(arch="stcnn-flow", preset=get_preset("default", epochs=12), seed=0, threads=1,
                       arch_kwargs={"filters": 4, "kernel": [3, 3, 3], "hidden": 16, "dropout": 0.2},
                       data="tensors=directions", dataset_name="directions", synthetic=True, release=False,
                       quiet=True)  # fmt: skip
    preset = replace(config.preset, hflip=0.5)
    config = replace(config, preset=preset)
    ctx, checkpoints = init_distributed(), Checkpoints(tmp_path, writer=True)
    model, curves = train_job("all", train, config, checkpoints, ctx, resume=False, progress=False)
    accuracy = (predict(model, test.inputs).argmax(1) == test.labels).float().mean().item()
    assert curves["loss"][-1] < curves["loss"][0]
    assert accuracy >= 0.75


def test_the_pipeline_feeds_an_au12_clips_signed_motion_and_explains_it(landmarker):
    """Through the real pipeline (MediaPipe, alignment, Predictor): the smile's mouth corners move up
    (v < 0) and outwards (u < 0 on the image's left corner, > 0 on its right), and a saliency map
    comes back per frame of the window."""
    from microexp.explain import explain_prediction
    from microexp.pipeline import Predictor
    from microexp.video import clip_from_frames
    from tests.fixtures.app import FPS, au_clip_frames

    frames, _ = au_clip_frames(landmarker, "au12")  # onset frame 3, apex 9, offset 15
    torch.manual_seed(0)
    model = build_model("stcnn-flow", input_spec=default_spec("stcnn-flow")).eval()
    pred = Predictor(model, landmarker=landmarker).predict(clip_from_frames(frames, FPS))
    window = pred.windows[pred.best_window]
    x = window.inputs[0][0].numpy()  # (3, T, S, S)
    assert x.shape == (3, 18, S, S)
    u, v = x[1], x[2]
    apex = int(np.argmax(np.abs(v).reshape(18, -1).max(axis=1)))
    mouth = slice(round(SPEC.eye_y * S) + 14, S - 4)
    left, right = u[apex, mouth, 8 : S // 2 - 4], u[apex, mouth, S // 2 + 4 : S - 8]
    assert v[apex, mouth].min() < -1.0 and v[apex, mouth].mean() < 0
    assert left.min() < -0.5 < 0.5 < right.max() and left.mean() < right.mean()
    e = explain_prediction(model, pred, "saliency")
    assert e.maps[0].shape == window.aligned.crops["face"].shape[:3]


def test_the_pipeline_feeds_fusenet_flow_the_mouths_signed_motion(landmarker):
    """Through the real pipeline, a FuseNet on frames+flow gets the eye and the mouth crop each with its own
    flow: on an AU12 smile the mouth crop's corners move up (v < 0) and apart, the eyes crop far less; the
    explanation comes back per frame for both crops."""
    from microexp.explain import explain_prediction
    from microexp.pipeline import Predictor
    from microexp.video import clip_from_frames
    from tests.fixtures.app import FPS, au_clip_frames

    frames, _ = au_clip_frames(landmarker, "au12")
    torch.manual_seed(0)
    arch = "fusenet-intermediate-flow"
    model = build_model(arch, input_spec=default_spec(arch)).eval()
    pred = Predictor(model, landmarker=landmarker).predict(clip_from_frames(frames, FPS))
    window = pred.windows[pred.best_window]
    eyes, mouth = (x[0].numpy() for x in window.inputs)
    assert eyes.shape == mouth.shape == (3, 18, 32, 32)
    v = mouth[2]
    apex = int(np.argmax(np.abs(v).reshape(18, -1).max(axis=1)))
    assert v[apex].min() < -1.0
    u = mouth[1, apex]
    assert u[:, :12].min() < -0.5 < 0.5 < u[:, 20:].max()  # the corners part: left one left, right one right
    assert np.abs(eyes[1:, apex]).mean() < np.abs(mouth[1:, apex]).mean()
    e = explain_prediction(model, pred, "saliency")
    assert [m.shape for m in e.maps] == [window.aligned.crops[r].shape[:3] for r in ("eyes", "mouth")]
