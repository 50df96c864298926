"""The zoo: every entry is a valid contract; resolution order Hub -> Hub cache -> local -> clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from microexp.errors import ModelError
from microexp.models import ARCHITECTURES, build_model
from microexp.spec import InputSpec
from zoo.build import install

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_PARAMS = {"stcnn": 1_643_267, "fusenet-intermediate": 6_694_915, "fusenet-late": 6_827_523}


@pytest.mark.parametrize("name", list(zoo.ENTRIES))
def test_every_entry_is_a_loadable_contract(name):
    e = zoo.ENTRIES[name]
    assert e.name == name and e.arch in ARCHITECTURES and e.repo_id == f"microexp/{name}" and e.revision
    spec = InputSpec.from_dict(e.input_spec)
    assert spec.labels == e.labels == ("negative", "positive", "surprise") and spec.frames == 18
    model = build_model(e.arch, input_spec=spec, **e.arch_kwargs)
    if e.arch in EXPECTED_PARAMS:  # the paper's architectures at the 18-frame spec
        assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[e.arch]
    assert e.synthetic and "synthetic-trained" in e.provenance and "not yet published" in e.provenance
    assert e.licence and e.description and e.title


def test_default_entries_cover_the_three_paper_models_and_two_stream():
    assert {e.arch for e in zoo.ENTRIES.values()} == {"stcnn", "fusenet-intermediate", "fusenet-late", "twostream"}


@pytest.fixture
def local_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROEXP_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_cache()
    yield tmp_path / "zoo"
    zoo.clear_cache()


def _save(arch: str, path: Path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    build_model(arch).save_pretrained(path)


def test_missing_weights_say_how_to_get_them(local_zoo):
    with pytest.raises(ModelError, match=r"python -m zoo build --entries stcnn-t18.*hf download microexp/stcnn-t18"):
        zoo.resolve("stcnn-t18")
    with pytest.raises(ModelError, match="unknown zoo model"):
        zoo.resolve("resnet50")


def test_local_zoo_resolves_and_loads_once(local_zoo):
    _save("stcnn", local_zoo / "stcnn-t18")
    resolved = zoo.resolve("stcnn-t18")
    assert resolved.source == "local" and resolved.path == local_zoo / "stcnn-t18"
    first = zoo.load("stcnn-t18")
    assert zoo.load("stcnn-t18") is first and not first.training  # cached, eval mode


def test_wrong_architecture_in_local_dir_is_refused(local_zoo):
    _save("twostream", local_zoo / "stcnn-t18")
    with pytest.raises(ModelError, match="holds a 'twostream' model"):
        zoo.load("stcnn-t18")


def test_install_is_atomic_replaces_and_marks_synthetic(local_zoo, tmp_path):
    release = tmp_path / "release"
    _save("fusenet-late", release, seed=1)
    (release / "README.md").write_text("# a card that does not mention the data\n")
    target = install(release, "fusenet-late-t18")
    card = (target / "README.md").read_text()
    assert "Synthetic-trained" in card and json.loads((target / "zoo.json").read_text())["synthetic"] is True
    _save("fusenet-late", release, seed=2)
    assert install(release, "fusenet-late-t18") == target
    assert sorted(p.name for p in local_zoo.iterdir()) == ["fusenet-late-t18"]  # no temp or old dirs left
    assert zoo.resolve("fusenet-late-t18").source == "local"


def test_hub_first_then_its_cache_offline(local_zoo, hub_env, monkeypatch):
    """The real huggingface_hub client against the Hub double: network first, then the cache offline."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # hub_env already clears it
    _save("stcnn", local_zoo / "stcnn-t18", seed=3)  # a local copy exists, but the Hub wins
    torch.manual_seed(4)
    published = build_model("stcnn")
    published.push_to_hub("microexp/stcnn-t18", token=hub_env.token)
    resolved = zoo.resolve("stcnn-t18")
    assert resolved.source == "hub" and resolved.path != local_zoo / "stcnn-t18"
    loaded = zoo.load("stcnn-t18")
    assert torch.equal(loaded.fc2.weight, published.fc2.weight)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_cache()
    assert zoo.resolve("stcnn-t18").source == "hub-cache"


def test_cli_list_shows_entries_provenance_and_resolution(local_zoo):
    _save("stcnn", local_zoo / "stcnn-t18")
    out = subprocess.run([sys.executable, "-m", "zoo", "list"], cwd=ROOT, env=dict(os.environ), capture_output=True,
                         text=True, timeout=120, check=True).stdout
    for name in zoo.ENTRIES:
        assert name in out
    assert f"resolves to local: {local_zoo / 'stcnn-t18'}" in out
    assert out.count("SYNTHETIC-TRAINED") == len(zoo.ENTRIES) and "not yet published on the Hub" in out
    assert out.count("MISSING (run `python -m zoo build`)") == len(zoo.ENTRIES) - 1
