"""A model converted by ``python -m microexp import-keras`` into the local zoo directory is listed as an
imported entry with its provenance; a plain ``save_pretrained`` directory there is not, nor a damaged one."""

from __future__ import annotations

import pytest

from zoo.__main__ import main
from zoo.resolve import imported

pytest.importorskip("h5py", reason="import-keras needs the optional h5py")
from microexp.keras_import import import_keras  # noqa: E402
from microexp.models import build_model, default_spec  # noqa: E402
from tests.fixtures.keras_files import Net  # noqa: E402  (needs h5py)


def test_converted_model_is_listed_with_its_provenance(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MICROEXP_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    weights = Net("stcnn").keras2_weights(tmp_path / "weights-improvement-40-0.69.hdf5")
    import_keras(weights, "stcnn", 18, tmp_path / "zoo" / "original-stcnn-smic")
    build_model("stcnn", input_spec=default_spec("stcnn")).save_pretrained(tmp_path / "zoo" / "own-model")
    damaged = tmp_path / "zoo" / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text("{")
    (damaged / "model.safetensors").write_bytes(b"")
    assert list(imported()) == ["original-stcnn-smic"]
    assert main(["list", "--no-hub"]) == 0
    out = capsys.readouterr().out
    assert "original-stcnn-smic\n  IMPORTED" in out and "weights-improvement-40-0.69.hdf5" in out
    assert "own-model" not in out
