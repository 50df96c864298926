"""The paper's models: exact parameter counts, Hub-style save/load round trip, pickle refused."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from microexp.errors import ModelError
from microexp.models import MicroExpFuseNet, MicroExpSTCNN, MicroExpTwoStream, load_model
from microexp.spec import InputSpec

FACE = dict(face_size=64, region_size=32, labels=("negative", "positive", "surprise"))
# (builder, frames) -> parameters, from the original Keras models (64x64 face, 32x32 regions, 3 classes).
COUNTS = {
    ("stcnn", 96): 44_241_667,
    ("stcnn", 18): 1_643_267,
    ("intermediate", 96): 177_088_515,
    ("intermediate", 18): 6_694_915,
    ("late", 96): 177_221_123,
    ("late", 18): 6_827_523,
}


def build(kind: str, frames: int):
    if kind == "stcnn":
        return MicroExpSTCNN(InputSpec(frames=frames, regions=("face",), **FACE))
    if kind == "twostream":
        return MicroExpTwoStream(InputSpec(frames=frames, regions=("face",), **FACE))
    return MicroExpFuseNet(InputSpec(frames=frames, regions=("eyes", "mouth"), **FACE), fusion=kind)


@pytest.mark.parametrize(("kind", "frames"), sorted(COUNTS))
def test_parameter_counts(kind, frames):
    with torch.device("meta"):  # count without allocating 700 MB of weights
        model = build(kind, frames)
    assert sum(p.numel() for p in model.parameters()) == COUNTS[kind, frames]


@pytest.mark.parametrize("kind", ["stcnn", "intermediate", "late", "twostream"])
def test_save_load_round_trip(tmp_path, kind):
    torch.manual_seed(0)
    model = build(kind, 18).eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    assert not (tmp_path / "pytorch_model.bin").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["arch"] == model.arch
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
    from microexp.models import ARCHITECTURES, ARCHS, REGISTRY, accepts_regions, build_model, default_regions

    assert set(ARCHITECTURES) == set(REGISTRY) == set(ARCHS)
    assert default_regions("fusenet-late") == ("eyes", "mouth") and default_regions("stcnn") == ("face",)
    assert build_model("fusenet-late").fusion == "late" and build_model("fusenet-intermediate").fusion == "intermediate"
    assert accepts_regions("stcnn", ("eyes",)) and not accepts_regions("stcnn", ("eyes", "mouth"))
    assert accepts_regions("fusenet-late", ("mouth", "eyes")) and not accepts_regions("fusenet-late", ("face",))
    for call in (default_regions, build_model):
        with pytest.raises(ValueError, match="stcnn"):
            call("resnet")


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
