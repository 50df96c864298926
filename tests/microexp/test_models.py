"""Every registered model (and a toy one registered here): forward/backward, Hub-style save/load round
trip; the paper's exact parameter counts; pickle refused; the registry API."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from microexp.errors import ModelError
from microexp.models import (
    ARCHITECTURES,
    ARCHS,
    REGISTRY,
    Architecture,
    MicroExpSTCNN,
    build_model,
    default_regions,
    default_spec,
    load_model,
    register_arch,
    unregister_arch,
)
from microexp.spec import InputSpec
from tests.fixtures.toy import TOY, TOY_ARCH, ToyNet, arch_fixture_params, registered_toy, use_arch

FACE = dict(face_size=64, region_size=32, labels=("negative", "positive", "surprise"))
# (architecture, frames) -> parameters at a 64x64 face, 32x32 regions, 3 classes. The paper's networks
# match the original Keras models; the two-stream net is ours. A name without a row is not checked here.
COUNTS = {
    ("stcnn", 96): 44_241_667,
    ("stcnn", 18): 1_643_267,
    ("fusenet-intermediate", 96): 177_088_515,
    ("fusenet-intermediate", 18): 6_694_915,
    ("fusenet-late", 96): 177_221_123,
    ("fusenet-late", 18): 6_827_523,
    ("twostream", 18): 4_918_339,
}


@pytest.fixture(params=arch_fixture_params())
def arch(request):
    """Every registered architecture and the toy one."""
    with use_arch(request.param) as name:
        yield name


def build(arch: str, frames: int):
    return build_model(arch, input_spec=default_spec(arch, frames=frames, **FACE))


@pytest.mark.parametrize(("name", "frames"), sorted(k for k in COUNTS if k[0] in ARCHS))
def test_parameter_counts(name, frames):
    with torch.device("meta"):  # count without allocating 700 MB of weights
        model = build(name, frames)
    assert sum(p.numel() for p in model.parameters()) == COUNTS[name, frames]


def test_forward_backward_shapes(arch):
    torch.manual_seed(0)
    model = build(arch, 18).train()
    inputs = [x.requires_grad_() for x in model.example_inputs(batch=2)]
    assert len(inputs) == len(default_regions(arch)) == len(model.spec.regions)
    logits = model(*inputs)
    assert logits.shape == (2, model.spec.num_classes) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in inputs)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_save_load_round_trip(tmp_path, arch):
    torch.manual_seed(0)
    model = build(arch, 18).eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    assert not (tmp_path / "pytorch_model.bin").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == model.arch == arch
    assert config["input_spec"] == json.loads(json.dumps(model.spec.to_dict()))  # every field, defaults included
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.spec == model.spec and not loaded.training
    inputs = model.example_inputs(batch=2)
    with torch.inference_mode():
        assert torch.equal(model(*inputs), loaded(*inputs))


def test_pickle_only_directory_is_refused(tmp_path):
    MicroExpSTCNN(InputSpec(frames=18)).save_pretrained(tmp_path / "ok")
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(tmp_path / "ok" / "config.json", bad / "config.json")
    shutil.copy(tmp_path / "ok" / "model.safetensors", bad / "pytorch_model.bin")  # any bytes: must not be read
    with pytest.raises(ModelError, match="safetensors"):
        load_model(bad)
    with pytest.raises(ModelError):
        MicroExpSTCNN.from_pretrained(bad)


def test_dropout_keeps_one_minus_p_scaled_and_passes_gradient_through_the_mask():
    from microexp.models.blocks import Dropout

    torch.manual_seed(0)
    drop = Dropout(0.3)
    x = torch.ones(200_000, requires_grad=True)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * keep)/dx = keep
    drop.eval()
    assert drop(x) is x
    assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x)) and Dropout(0.0)(x) is x


def test_registry_declares_regions_and_fixed_arguments() -> None:
    from microexp.models import accepts_regions

    assert set(ARCHITECTURES) == set(REGISTRY) == set(ARCHS)
    assert default_regions("fusenet-late") == ("eyes", "mouth") and default_regions("stcnn") == ("face",)
    assert build_model("fusenet-late").fusion == "late" and build_model("fusenet-intermediate").fusion == "intermediate"
    assert accepts_regions("stcnn", ("eyes",)) and not accepts_regions("stcnn", ("eyes", "mouth"))
    assert accepts_regions("fusenet-late", ("mouth", "eyes")) and not accepts_regions("fusenet-late", ("face",))
    for call in (default_regions, build_model):
        with pytest.raises(ValueError, match="stcnn"):
            call("resnet")


def test_register_and_unregister_an_architecture_is_one_call_each() -> None:
    assert TOY not in ARCHITECTURES and TOY not in REGISTRY
    before = list(ARCHITECTURES)
    with registered_toy():
        assert TOY in ARCHITECTURES and ARCHS[TOY] is TOY_ARCH and REGISTRY[TOY] is ToyNet
        assert list(ARCHITECTURES) == [*before, TOY] and len(ARCHITECTURES) == len(before) + 1
        assert default_regions(TOY) == ("eyes", "mouth") and isinstance(build_model(TOY), ToyNet)
        assert register_arch(TOY_ARCH) is TOY_ARCH  # the same entry again: no-op
        with pytest.raises(ValueError, match="already registered"):
            register_arch(Architecture(TOY, MicroExpSTCNN, ("face",)))
        with pytest.raises(ValueError, match="already registered"):
            register_arch(Architecture("stcnn", ToyNet, ("face",)))
    assert list(ARCHITECTURES) == before and TOY not in REGISTRY
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(TOY)
    with pytest.raises(ValueError, match="unknown architecture"):
        unregister_arch(TOY)
    with pytest.raises(ValueError, match="MicroExpModel"):
        register_arch(Architecture("plain-module", torch.nn.Linear, ("face",)))  # type: ignore[arg-type]
    assert "plain-module" not in ARCHITECTURES


def test_normalizations_are_a_table_without_fallback() -> None:
    import numpy as np

    from microexp.align import NORMALIZERS, normalize
    from microexp.spec import NORMALIZATIONS

    assert set(NORMALIZERS) == set(NORMALIZATIONS)
    crops = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype(np.float32)
    assert np.allclose(normalize(crops, InputSpec(normalization="unit")), crops.transpose(3, 0, 1, 2) / 255)
    out = normalize(crops, InputSpec(normalization="temporal_mean_zscore"))
    assert np.allclose(out.mean(axis=1), 0, atol=1e-5) and abs(float(out.std()) - 1) < 1e-4
    spec = InputSpec()
    object.__setattr__(spec, "normalization", "minmax")  # bypass the spec's own check: normalize still refuses
    with pytest.raises(ValueError, match="temporal_mean_zscore"):
        normalize(crops, spec)


def test_config_temperature_scales_the_logits_of_a_loaded_model(tmp_path) -> None:
    from microexp.models import TEMPERATURE_KEY, build_model, set_temperature

    torch.manual_seed(0)
    model = build_model("stcnn", input_spec=InputSpec(frames=18, face_size=32), filters=4, hidden=8).eval()
    x = model.example_inputs(2)
    model.save_pretrained(tmp_path / "plain")
    assert TEMPERATURE_KEY not in json.loads((tmp_path / "plain" / "config.json").read_text())
    plain = load_model(tmp_path / "plain")
    with torch.no_grad():
        reference = model(*x)
        assert torch.allclose(plain(*x), reference)  # no field: nothing scaled
    set_temperature(model, 2.5)
    model.save_pretrained(tmp_path / "scaled")
    assert json.loads((tmp_path / "scaled" / "config.json").read_text())[TEMPERATURE_KEY] == 2.5
    scaled = load_model(tmp_path / "scaled")
    with torch.no_grad():
        assert torch.allclose(scaled(*x), reference / 2.5, atol=1e-6)
        assert torch.equal(scaled(*x).argmax(1), reference.argmax(1))
    assert scaled.temperature == 2.5
    config = json.loads((tmp_path / "scaled" / "config.json").read_text())
    for bad in (0, -1.0, "warm", None, float("inf")):
        (tmp_path / "scaled" / "config.json").write_text(json.dumps(config | {TEMPERATURE_KEY: bad}))
        if bad is None:
            continue  # null is treated as absent
        with pytest.raises(ModelError, match=TEMPERATURE_KEY):
            load_model(tmp_path / "scaled")


def test_config_apex_spread_reaches_the_predictor(tmp_path) -> None:
    """A model's ``apex_spread`` travels in its config.json (save_pretrained writes it, load_model reads it) and
    is what a Predictor labels intervals with unless told otherwise; a malformed one is refused on load."""
    from microexp.models import APEX_SPREAD_KEY, build_model, set_apex_spread
    from microexp.pipeline import APEX_SPREAD, Predictor

    model = build_model("stcnn", input_spec=InputSpec(frames=18, face_size=32), filters=4, hidden=8).eval()
    model.save_pretrained(tmp_path / "plain")
    assert APEX_SPREAD_KEY not in json.loads((tmp_path / "plain" / "config.json").read_text())
    plain = load_model(tmp_path / "plain")
    assert not hasattr(plain, "apex_spread") and Predictor(plain).apex_spread == APEX_SPREAD
    spread = (-0.15, 0.0, 0.15)
    set_apex_spread(model, list(spread))
    model.save_pretrained(tmp_path / "spread")
    config = json.loads((tmp_path / "spread" / "config.json").read_text())
    assert config[APEX_SPREAD_KEY] == list(spread)
    loaded = load_model(tmp_path / "spread")
    assert loaded.apex_spread == spread and Predictor(loaded).apex_spread == spread
    assert Predictor(loaded, apex_spread=(0.0,)).apex_spread == (0.0,)  # an explicit choice wins
    for bad in ([], [0.7], "wide", 0.15):
        (tmp_path / "spread" / "config.json").write_text(json.dumps(config | {APEX_SPREAD_KEY: bad}))
        with pytest.raises(ModelError, match=APEX_SPREAD_KEY):
            load_model(tmp_path / "spread")


# ----------------------------------------------------------------------------- hostile config.json


@pytest.fixture
def small_stcnn(tmp_path):
    """A saved tiny STCNN and its parsed config.json, to be rewritten by each case."""
    build_model("stcnn", input_spec=InputSpec(frames=18, face_size=32), filters=4, hidden=8).save_pretrained(tmp_path)
    return tmp_path, json.loads((tmp_path / "config.json").read_text())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"hidden": 100_000_000}, "hidden"),  # would be terabytes of dense weights
        ({"filters": 10**9}, "filters"),
        ({"hidden": True}, "hidden"),
        ({"kernel": [15, 3]}, "not a valid MicroExpSTCNN"),
        ({"kernel": [15, 3, 3, 3, 3, 3, 3, 3, 3]}, "kernel"),
        ({"dropout": float("nan")}, "dropout"),
        ({"filters": 4000, "hidden": 8000}, "parameters"),  # each bounded, together too many weights
        ({"filters": 8000, "input_spec": {"face_size": 64}}, "layer output"),  # few weights, a huge activation
        ({"input_spec": {"window_seconds": 1e-9}}, "window_seconds"),
        ({"input_spec": {"frames": 10**9}}, "frames"),
        ({"input_spec": {"frames": 18.5}}, "frames"),
        ({"input_spec": {"face_size": 100_000}}, "face_size"),
        ({"input_spec": {"labels": ["a"] * 100_000}}, "labels"),
        ({"input_spec": {"labels": ["a", "a"]}}, "distinct"),
        ({"input_spec": {"labels": 5}}, "input_spec"),
        ({"input_spec": {"std": 0}}, "std"),
        ({"input_spec": {"regions": ["face", "face"]}}, "regions"),
        ({"input_spec": [1, 2]}, "input_spec"),
    ],
)
def test_absurd_config_is_refused_before_allocation(small_stcnn, change, words):
    """Every field is bounded before the network is built: a clear ModelError, fast, no allocation."""
    import time

    folder, config = small_stcnn
    if isinstance(change.get("input_spec"), dict):
        change = {**change, "input_spec": {**config["input_spec"], **change["input_spec"]}}
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    started = time.perf_counter()
    with pytest.raises(ModelError, match=words) as err:
        load_model(folder)
    assert time.perf_counter() - started < 2.0 and str(folder) in str(err.value)


def test_bounds_admit_the_papers_largest_network() -> None:
    """The 96-frame Intermediate FuseNet (177 M parameters) is within the bounds."""
    from microexp.models.bounds import check_config

    config = {"input_spec": default_spec("fusenet-intermediate", frames=96, **FACE).to_dict(), "fusion": "intermediate"}
    check_config(REGISTRY["fusenet-intermediate"], config, "paper")


def test_corrupt_or_mismatched_weights_are_a_model_error(small_stcnn):
    folder, config = small_stcnn
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    (folder / "config.json").write_text(json.dumps({**config, "hidden": 9}))  # valid, but not these weights
    with pytest.raises(ModelError, match="does not load"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps(config))
    for damaged in (b"", good[: len(good) // 2]):  # a power cut, a half-written file
        weights.write_bytes(damaged)
        with pytest.raises(ModelError, match="model.safetensors"):
            load_model(folder)


def test_config_mirror_reaches_the_predictor(tmp_path) -> None:
    """A model's ``mirror`` (test-time flip) travels in its config.json and is what a Predictor does unless told
    otherwise; absent, it is off; anything but a boolean is refused on load."""
    from microexp.models import MIRROR_KEY, build_model, set_mirror
    from microexp.pipeline import Predictor

    model = build_model("stcnn", input_spec=InputSpec(frames=18, face_size=32), filters=4, hidden=8).eval()
    model.save_pretrained(tmp_path / "plain")
    assert MIRROR_KEY not in json.loads((tmp_path / "plain" / "config.json").read_text())
    assert Predictor(load_model(tmp_path / "plain")).mirror is False
    set_mirror(model, True)
    model.save_pretrained(tmp_path / "mirror")
    config = json.loads((tmp_path / "mirror" / "config.json").read_text())
    assert config[MIRROR_KEY] is True
    loaded = load_model(tmp_path / "mirror")
    assert loaded.mirror is True and Predictor(loaded).mirror is True
    assert Predictor(loaded, mirror=False).mirror is False  # an explicit choice wins
    for bad in ("yes", 1, [True]):
        (tmp_path / "mirror" / "config.json").write_text(json.dumps(config | {MIRROR_KEY: bad}))
        with pytest.raises(ModelError, match=MIRROR_KEY):
            load_model(tmp_path / "mirror")
