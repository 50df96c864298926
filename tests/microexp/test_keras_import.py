"""Importing the original Keras weights: files in every supported layout, built with h5py from known
tensors (tests/fixtures/keras_files.py), must give the logits that a NumPy forward pass with Keras's own
semantics gives."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from microexp.__main__ import main
from microexp.errors import ModelError
from microexp.keras_import import convert, import_keras, read_keras
from microexp.models import load_model

h5py = pytest.importorskip("h5py", reason="h5py is the optional 'keras' extra (requirements-test.txt installs it)")
from tests.fixtures.keras_files import FRAMES, Layer, Net  # noqa: E402  (needs h5py)

MAPPING_FRAMES = 24  # pooled to T' = 3, so a mixed-up time axis in the flatten order shows (at T' = 1 it cannot)


def ours(out: Path | torch.nn.Module, xs: list[np.ndarray]) -> np.ndarray:
    model = out if isinstance(out, torch.nn.Module) else load_model(out)
    with torch.no_grad():  # Keras (N, H, W, T) -> ours (N, 1, T, H, W)
        return model(*(torch.from_numpy(x.transpose(0, 3, 1, 2)[:, None].copy()) for x in xs)).numpy()


FORMATS = ("keras2-model", "keras2-weights", "keras3-weights", "keras3-archive")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("arch", ["stcnn", "fusenet-intermediate", "fusenet-late"])
def test_every_format_gives_the_keras_logits(tmp_path, arch, fmt):
    net = Net(arch, keras3=fmt.startswith("keras3"), frames=MAPPING_FRAMES)
    keras = read_keras(net.write(fmt, tmp_path))
    assert keras.format == fmt and (keras.graph is not None) == (fmt in ("keras2-model", "keras3-archive"))
    model, maps, order = convert(keras, arch, MAPPING_FRAMES)
    assert order == "CHWT"
    xs = net.inputs_hwt()
    np.testing.assert_allclose(ours(model, xs), net.logits(xs), rtol=1e-4, atol=1e-4)
    assert len([m for m in maps if m.rows_permuted]) == (2 if arch == "fusenet-late" else 1)


def swap_names(net: Net, a: Layer, b: Layer) -> None:
    """Swap two layers' names everywhere (config, inbound references)."""
    rename = {a.name: b.name, b.name: a.name}
    for layer in net.layers:
        layer.name = rename.get(layer.name, layer.name)
        layer.config["name"] = layer.name
        layer.inputs = tuple(rename.get(i, i) for i in layer.inputs)


@pytest.mark.parametrize("fmt", ["keras2-model", "keras3-archive"])
@pytest.mark.parametrize("arch", ["fusenet-intermediate", "fusenet-late"])
def test_graph_decides_the_branches_whatever_the_file_order(tmp_path, arch, fmt):
    """Names and file order put the mouth branch first; the graph's first input (eyes) still feeds branch 0."""
    net = Net(arch, keras3=fmt == "keras3-archive")
    for role in ("conv", "d1", "d2") if arch == "fusenet-late" else ("conv",):
        swap_names(net, net.roles[f"eyes.{role}"], net.roles[f"mouth.{role}"])
    path = net.keras2_model(tmp_path / "m.h5", layers=net.layers[::-1]) if fmt == "keras2-model" else net.write(fmt, tmp_path)
    result = import_keras(path, arch, FRAMES, tmp_path / "out")
    assert result.provenance["layers"]["branches.0.conv"] == net.roles["eyes.conv"].name
    assert net.roles["eyes.conv"].name.endswith("_2" if fmt == "keras2-model" else "_1")
    xs = net.inputs_hwt()
    np.testing.assert_allclose(ours(tmp_path / "out", xs), net.logits(xs), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fmt", ["keras2-model", "keras3-archive"])
def test_channels_last_model_file_reads_its_flatten_order(tmp_path, fmt):
    net = Net("fusenet-late", channels_last=True, keras3=fmt == "keras3-archive", frames=MAPPING_FRAMES)
    model, _, order = convert(read_keras(net.write(fmt, tmp_path)), "fusenet-late", MAPPING_FRAMES)
    assert order == "HWTC"
    xs = net.inputs_hwt()
    np.testing.assert_allclose(ours(model, xs), net.logits(xs), rtol=1e-4, atol=1e-4)


def test_flatten_with_channels_first_data_format_moves_channels_last(tmp_path):
    """Keras >= 2.2 Flatten(data_format='channels_first') flattens (H, W, T, C) from a channels-first tensor."""
    net = Net("fusenet-intermediate", flatten_cf=True, frames=MAPPING_FRAMES)
    model, _, order = convert(read_keras(net.keras2_model(tmp_path / "f.h5")), "fusenet-intermediate", MAPPING_FRAMES)
    assert order == "HWTC"
    xs = net.inputs_hwt()
    np.testing.assert_allclose(ours(model, xs), net.logits(xs), rtol=1e-4, atol=1e-4)


def test_weights_only_channels_last_needs_the_flatten_order(tmp_path):
    net = Net("stcnn", channels_last=True, keras3=True, frames=MAPPING_FRAMES)
    keras = read_keras(net.write("keras3-weights", tmp_path))
    xs = net.inputs_hwt()
    assumed, _, order = convert(keras, "stcnn", MAPPING_FRAMES)
    assert order == "CHWT" and not np.allclose(ours(assumed, xs), net.logits(xs), atol=1e-3)
    model, _, order = convert(keras, "stcnn", MAPPING_FRAMES, flatten_order="HWTC")
    np.testing.assert_allclose(ours(model, xs), net.logits(xs), rtol=1e-4, atol=1e-4)


def test_theano_kernels_are_flipped(tmp_path):
    net = Net("stcnn", frames=MAPPING_FRAMES)
    keras = read_keras(net.keras2_model(tmp_path / "th.h5", backend="theano"))
    assert keras.backend == "theano"
    xs = net.inputs_hwt()
    np.testing.assert_allclose(ours(convert(keras, "stcnn", MAPPING_FRAMES)[0], xs), net.logits(xs, theano=True),
                               rtol=1e-4, atol=1e-4)


def test_cli_writes_a_directory_that_loads_with_provenance(tmp_path, capsys):
    from microexp.pipeline import Predictor

    path = Net("fusenet-late").keras2_model(tmp_path / "weights-improvement-17-0.79.hdf5")
    out = tmp_path / "converted"
    assert main(["import-keras", str(path), "--arch", "fusenet-late", "--frames", "18", "--out", str(out),
                 "--mean", "101.5", "--max", "140.25"]) == 0
    printed = capsys.readouterr().out
    assert "keras2-model" in printed and "heads.1.0" in printed and "rows permuted" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "fusenet-late"
    spec = config["input_spec"]
    assert (spec["normalization"], spec["mean"], spec["std"]) == ("dataset", 101.5, 140.25)
    assert spec["frames"] == 18 and spec["regions"] == ["eyes", "mouth"] and spec["window_seconds"] == pytest.approx(0.18)
    assert spec["labels"] == ["negative", "positive", "surprise"]
    provenance = config["provenance"]
    assert provenance["source_file"] == path.name and provenance["format"] == "keras2-model"
    assert provenance["original_mean"] == 101.5 and provenance["keras_version"] == "2.1.6"
    card = (out / "README.md").read_text()
    assert path.name in card and provenance["sha256"] in card and "not by MicroExp" in card
    predictor = Predictor.from_pretrained(out)
    assert predictor.model.spec.labels == ("negative", "positive", "surprise")


def test_default_spec_without_constants_is_zscore_and_says_so(tmp_path):
    path = Net("stcnn").keras2_weights(tmp_path / "w.h5")
    result = import_keras(path, "stcnn", 18, tmp_path / "out", labels=["a", "b", "c"])
    assert result.spec.normalization == "zscore" and result.spec.labels == ("a", "b", "c")
    assert any("mean and max are unknown" in n for n in result.notes)
    assert any("no model graph" in n for n in result.notes)
    assert "mean and max are unknown" in (tmp_path / "out" / "README.md").read_text()


# ---------------------------------------------------------------------- errors


def test_wrong_arch_names_the_leftover_layer(tmp_path):
    path = Net("fusenet-late").keras2_model(tmp_path / "late.h5")
    with pytest.raises(ModelError, match="input"):  # the graph's two inputs do not fit the STCNN
        import_keras(path, "stcnn", FRAMES, tmp_path / "out")
    net = Net("fusenet-late")
    with pytest.raises(ModelError, match=r"no Keras dense layer fits our 'head.0'.*dense_1"):
        import_keras(net.keras2_weights(tmp_path / "w.h5"), "fusenet-intermediate", FRAMES, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_frames_is_an_error_naming_the_layer(tmp_path):
    path = Net("stcnn").keras2_weights(tmp_path / "w.h5")
    with pytest.raises(ModelError, match=r"'fc1'.*dense_1.*--frames 96"):
        import_keras(path, "stcnn", 96, tmp_path / "out")
    with pytest.raises(ModelError, match="input for face"):
        import_keras(Net("stcnn").keras2_model(tmp_path / "m.h5"), "stcnn", 96, tmp_path / "out")


def test_wrong_label_count_is_named(tmp_path):
    path = Net("stcnn").keras2_weights(tmp_path / "w.h5")
    with pytest.raises(ModelError, match=r"'fc2' \(kernel \(128, 2\) expected\).*number of labels \(2\)"):
        import_keras(path, "stcnn", FRAMES, tmp_path / "out", labels=["a", "b"])


def test_wrong_shape_and_missing_and_extra_layers(tmp_path):
    net = Net("stcnn")
    net.roles["face.conv"].kernel = net.roles["face.conv"].kernel[..., :16]
    with pytest.raises(ModelError, match=r"'block.conv'.*conv3d_1.*\(3, 3, 15, 1, 16\)"):
        import_keras(net.keras2_weights(tmp_path / "a.h5"), "stcnn", FRAMES, tmp_path / "out")
    net = Net("stcnn")
    with pytest.raises(ModelError, match="no dense layer is left|'fc2'"):
        import_keras(net.keras2_weights(tmp_path / "b.h5", layers=net.weighted[:2]), "stcnn", FRAMES, tmp_path / "o")
    net = Net("stcnn")
    extra = Layer("dense_9", "Dense", kernel=np.zeros((3, 3), np.float32), bias=np.zeros(3, np.float32))
    with pytest.raises(ModelError, match=r"\['dense_9'\] have no counterpart"):
        import_keras(net.keras2_weights(tmp_path / "c.h5", layers=[*net.weighted, extra]), "stcnn", FRAMES, tmp_path / "o")
    bn = Layer("batch_normalization_1", "BatchNormalization", kernel=np.ones((4, 4, 4), np.float32),
               bias=np.zeros(4, np.float32))
    with pytest.raises(ModelError, match="batch_normalization_1.*only Conv3D and Dense"):
        import_keras(net.keras2_weights(tmp_path / "d.h5", layers=[bn]), "stcnn", FRAMES, tmp_path / "o")


def test_unknown_files_are_clear_errors(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not weights")
    with pytest.raises(ModelError, match="neither a Keras HDF5 file"):
        read_keras(text)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ModelError, match="no known Keras layout"):
        read_keras(tmp_path / "other.h5")
    with zipfile.ZipFile(tmp_path / "a.keras", "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ModelError, match="not a Keras 3 .keras archive"):
        read_keras(tmp_path / "a.keras")
    with pytest.raises(ModelError, match="no such Keras weights file"):
        read_keras(tmp_path / "missing.h5")
    good = Net("stcnn").keras2_model(tmp_path / "good.h5").read_bytes()
    (tmp_path / "truncated.h5").write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError, match="truncated.h5: a damaged or unexpected Keras file"):
        read_keras(tmp_path / "truncated.h5")
    with zipfile.ZipFile(Net("fusenet-late", keras3=True).keras3_archive(tmp_path / "good.keras")) as good_zip, \
            zipfile.ZipFile(tmp_path / "broken.keras", "w") as broken:
        for name in good_zip.namelist():
            broken.writestr(name, b"{not json" if name == "config.json" else good_zip.read(name))
    with pytest.raises(ModelError, match="broken.keras: a damaged"):
        read_keras(tmp_path / "broken.keras")


def test_constants_must_come_together(tmp_path):
    path = Net("stcnn").keras2_weights(tmp_path / "w.h5")
    with pytest.raises(ModelError, match="both --mean and --max"):
        import_keras(path, "stcnn", FRAMES, tmp_path / "out", mean=100.0)


def test_cli_bad_file_is_one_line_and_status_2(tmp_path):
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(b"\x00" * 64)
    proc = subprocess.run(
        [sys.executable, "-m", "microexp", "import-keras", str(bad), "--arch", "stcnn", "--frames", "18",
         "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "bad.hdf5" in proc.stderr


def test_missing_h5py_says_how_to_install(tmp_path, monkeypatch):
    path = Net("stcnn").keras2_weights(tmp_path / "w.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(ModelError, match=r"pip install 'microexp\[keras\]'"):
        read_keras(path)
