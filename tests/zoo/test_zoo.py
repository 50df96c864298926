"""The zoo: every entry is a valid contract; resolution order pinned Hub cache -> pinned Hub -> local -> clear error;
the Hub is trusted only at pinned commits and only with the labels and input spec the entry promises."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import zoo
from microexp.errors import ModelError
from microexp.models import ARCHITECTURES, build_model, load_model
from microexp.spec import InputSpec
from tests.fixtures.toy import TOY, registered_toy
from train.presets import PRESETS
from train.protocols import PROTOCOLS
from zoo.__main__ import main as zoo_cli
from zoo.build import install
from zoo.pins import NAMESPACE_ENV, PINS_ENV, hub_source, record_pins
from zoo.registry import (
    CROSS_GENERATOR,
    METRIC_KEYS,
    OWN_GENERATOR,
    REQUIRED_METRICS,
    Metrics,
    Recipe,
    ZooEntry,
)

ROOT = Path(__file__).resolve().parents[2]
# resolution tests use the default entry and its architecture, whatever they are
NAME = zoo.DEFAULT_ENTRY
ARCH = zoo.ENTRIES[NAME].arch
OTHER_ARCH = next(a for a in ARCHITECTURES if a != ARCH)


def check_entry(e: ZooEntry) -> None:
    """The contract every entry meets, whatever its values: a registered architecture whose model, built
    from the entry's spec, has the declared parameter count; labels that are the spec's; a protocol and a
    preset the training CLI knows; metrics that name their protocol and data."""
    assert e.arch in ARCHITECTURES, f"{e.name}: architecture {e.arch!r} is not registered"
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", e.name) and e.licence and e.description and e.title  # a repo name
    spec = InputSpec.from_dict(e.input_spec)
    assert spec.labels == e.labels and len(e.labels) == len(set(e.labels)) >= 2
    with torch.device("meta"):  # count without allocating the weights
        model = build_model(e.arch, input_spec=spec, **e.arch_kwargs)
    assert sum(p.numel() for p in model.parameters()) == e.params
    assert model.spec.num_classes == len(e.labels) and tuple(model.spec.regions) == tuple(e.input_spec["regions"])
    assert e.protocol in PROTOCOLS and e.recipe.preset in PRESETS and e.recipe.command
    assert isinstance(e.synthetic, bool) and ("synthetic" in e.provenance.lower()) == e.synthetic
    assert hub_source(e.name).repo_id in e.provenance and e.licence in e.provenance
    assert set(REQUIRED_METRICS) <= set(e.metrics) <= set(METRIC_KEYS)
    for key, scores in e.metrics.items():
        if scores is not None:
            assert scores.protocol and scores.data and scores.source
            assert all(0.0 <= v <= 1.0 for v in (scores.uf1, scores.uar, scores.accuracy)), key
    if e.metrics[OWN_GENERATOR] is not None:
        assert e.metrics[OWN_GENERATOR].protocol == e.protocol


@pytest.mark.parametrize("name", list(zoo.ENTRIES))
def test_every_entry_meets_the_schema(name):
    e = zoo.ENTRIES[name]
    assert e.name == name
    check_entry(e)


def test_entry_names_and_default_are_consistent():
    assert zoo.DEFAULT_ENTRY in zoo.ENTRIES
    assert len({e.title for e in zoo.ENTRIES.values()}) == len(zoo.ENTRIES)


def _toy_entry(**changes) -> ZooEntry:
    fields = dict(
        name="toy-t9", title="Toy", arch=TOY,
        input_spec={"frames": 9, "regions": ["eyes", "mouth"], "labels": ["calm", "tense"]},
        labels=("calm", "tense"), training_data="real clips of a hypothetical study", synthetic=False,
        licence="cc-by-4.0", description="A toy entry for the schema test.",
        # two 2-filter 3x3x3 convs; dense: 2 regions x 2 filters x (2x10x10) pooled -> 2 classes
        params=2 * (2 * 27 + 2) + (2 * 2 * 2 * 10 * 10) * 2 + 2,
        protocol="paper-split",
        recipe=Recipe(preset="paper", seed=7, command="python -m train fit --arch toy-test", epochs=3),
        metrics={OWN_GENERATOR: Metrics("paper-split", "a hypothetical test split", 0.5, 0.5, 0.6, "a paper table"),
                 CROSS_GENERATOR: None},
    )
    return ZooEntry(**{**fields, **changes})


def test_a_toy_architecture_entry_meets_the_schema_and_a_wrong_one_does_not():
    """A new architecture, other labels, real data, another protocol: the schema test holds for it."""
    with registered_toy():
        check_entry(_toy_entry())
        with pytest.raises(AssertionError):
            check_entry(_toy_entry(params=_toy_entry().params + 1))
    with pytest.raises(AssertionError, match="not registered"):
        check_entry(_toy_entry())  # the toy architecture is gone again


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": ("calm", "angry")}, "differ from the input spec"),
        ({"labels": ["calm", "tense"]}, "tuple"),
        ({"params": 0}, "params"),
        ({"title": ""}, "title"),
        ({"metrics": {OWN_GENERATOR: None}}, "must have the keys"),
        ({"metrics": {OWN_GENERATOR: None, CROSS_GENERATOR: None, "cross_dataset": None}}, "must have the keys"),
        ({"metrics": {OWN_GENERATOR: {"uf1": 0.5}, CROSS_GENERATOR: None}}, "Metrics or None"),
        ({"protocol": "loso"}, "measured under 'paper-split'"),
        ({"recipe": {"preset": "paper"}}, "Recipe"),
        ({"synthetic": "no"}, "synthetic"),
    ],
)
def test_malformed_entries_are_refused_at_construction(changes, message):
    with pytest.raises(ValueError, match=message):
        _toy_entry(**changes)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Metrics("loso", "", 0.5, 0.5, 0.5, "x"),
        lambda: Metrics("loso", "d", 1.5, 0.5, 0.5, "x"),
        lambda: Metrics("loso", "d", float("nan"), 0.5, 0.5, "x"),
        lambda: Metrics("loso", "d", True, 0.5, 0.5, "x"),
        lambda: Metrics("loso", "d", 0.5, 0.5, 0.5, "x", recall={"negative": 1.2}),
        lambda: Metrics("loso", "d", 0.5, 0.5, 0.5, "x", uf1_sd=float("nan")),
        lambda: Recipe(preset="default", seed=0, command="", epochs=None),
        lambda: Recipe(preset="default", seed=0, command="c", epochs=0),
    ],
)
def test_malformed_metrics_and_recipes_are_refused(build):
    with pytest.raises(ValueError):
        build()


@pytest.fixture
def local_zoo(tmp_path, monkeypatch):
    """An empty local zoo, nothing pinned (a pins file of the test's own), the Hub offline."""
    monkeypatch.setenv("MICROEXP_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv(PINS_ENV, str(tmp_path / "pins.json"))
    monkeypatch.delenv(NAMESPACE_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_cache()
    yield tmp_path / "zoo"
    zoo.clear_cache()


def _save(arch: str, path: Path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    build_model(arch).save_pretrained(path)


def test_missing_weights_say_how_to_get_them(local_zoo):
    how = rf"python -m zoo build --entries {re.escape(NAME)}.*microexp/{re.escape(NAME)} is not pinned"
    with pytest.raises(ModelError, match=how):
        zoo.resolve(NAME)
    record_pins("microexp", {NAME: "a" * 40})
    with pytest.raises(ModelError, match=rf"hf download microexp/{re.escape(NAME)} --revision {'a' * 40}"):
        zoo.resolve(NAME)
    with pytest.raises(ModelError, match="unknown zoo model"):
        zoo.resolve("resnet50")


def test_local_zoo_resolves_and_loads_once(local_zoo):
    _save(ARCH, local_zoo / NAME)
    resolved = zoo.resolve(NAME)
    assert resolved.source == "local" and resolved.path == local_zoo / NAME
    first = zoo.load(NAME)
    assert zoo.load(NAME) is first and not first.training  # cached, eval mode


def test_wrong_architecture_in_local_dir_is_refused(local_zoo):
    _save(OTHER_ARCH, local_zoo / NAME)
    with pytest.raises(ModelError, match=f"holds a '{OTHER_ARCH}' model"):
        zoo.load(NAME)


def test_install_is_atomic_replaces_and_marks_synthetic_entries(local_zoo, tmp_path):
    release = tmp_path / "release"
    _save(ARCH, release, seed=1)
    (release / "README.md").write_text("# a card that does not mention the data\n")
    target = install(release, NAME)
    card = (target / "README.md").read_text()
    synthetic = zoo.ENTRIES[NAME].synthetic
    assert ("Synthetic-trained" in card) == synthetic
    # the card reports the entry's recorded scores, own generator and across generators
    section = card[card.index("## Scores across generators"):]
    entry = zoo.ENTRIES[NAME]
    assert "own generator, held-out people" in section and "trained on ours, tested on the probe" in section
    for m in (m for m in entry.metrics.values() if m is not None):
        assert f"{m.uf1:.3f}" in section and m.source in section
    assert json.loads((target / "zoo.json").read_text())["synthetic"] is synthetic
    _save(ARCH, release, seed=2)
    assert install(release, NAME) == target
    assert sorted(p.name for p in local_zoo.iterdir()) == [NAME]  # no temp or old dirs left
    assert zoo.resolve(NAME).source == "local"


def test_an_entrys_apex_spread_is_installed_with_it_and_applied_on_load(local_zoo, tmp_path, monkeypatch):
    """An entry labelled by several windows: its install writes them into config.json (so the Hub copy and the
    CLI carry them) and says so in the card; ``zoo.load`` applies the entry's, also to a copy built before.
    An entry with the default writes nothing."""
    from dataclasses import replace

    from microexp.models import APEX_SPREAD_KEY
    from microexp.pipeline import Predictor
    from zoo.registry import ENTRIES

    release = tmp_path / "release"
    _save(ARCH, release)
    monkeypatch.setitem(ENTRIES, NAME, replace(ENTRIES[NAME], apex_spread=(0.0,)))
    plain = install(release, NAME)
    assert APEX_SPREAD_KEY not in json.loads((plain / "config.json").read_text())
    assert "labelled by the window centred on its apex" in (plain / "README.md").read_text()
    spread = (-0.15, 0.0, 0.15)
    monkeypatch.setitem(ENTRIES, NAME, replace(ENTRIES[NAME], apex_spread=spread))
    assert Predictor(zoo.load(NAME)).apex_spread == spread  # the copy installed without it
    target = install(release, NAME)
    assert json.loads((target / "config.json").read_text())[APEX_SPREAD_KEY] == list(spread)
    assert "mean probabilities of 3 windows around its apex" in (target / "README.md").read_text()
    assert load_model(target).apex_spread == spread  # outside the zoo too (python -m microexp predict --model DIR)


def test_hub_only_at_the_pinned_commit_then_its_cache_offline(local_zoo, hub_env, monkeypatch):
    """The real huggingface_hub client against the Hub double: an unpinned repo is never used, a pinned
    commit wins over the local zoo (network first, then the cache offline), and a later push to the
    branch changes nothing."""
    monkeypatch.setenv(NAMESPACE_ENV, hub_env.user)
    repo_id = f"{hub_env.user}/{NAME}"
    _save(ARCH, local_zoo / NAME, seed=3)
    torch.manual_seed(4)
    published = build_model(ARCH)
    published.push_to_hub(repo_id, token=hub_env.token)
    assert zoo.resolve(NAME).source == "local"  # on the Hub at main, but not pinned
    sha = hub_env.server.history(repo_id)[0].oid
    record_pins(hub_env.user, {NAME: sha})
    resolved = zoo.resolve(NAME)
    assert (resolved.source, resolved.revision) == ("hub", sha) and resolved.path != local_zoo / NAME
    loaded = zoo.load(NAME)
    expected = published.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    torch.manual_seed(5)
    build_model(ARCH).push_to_hub(repo_id, token=hub_env.token)  # whoever owns the namespace moves main
    zoo.clear_cache()
    assert zoo.resolve(NAME).revision == sha
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_cache()
    assert (zoo.resolve(NAME).source, zoo.resolve(NAME).revision) == ("hub-cache", sha)
    monkeypatch.setenv(NAMESPACE_ENV, hub_env.org)  # pins of one namespace say nothing about another
    assert zoo.resolve(NAME).source == "local"


def test_explicit_revision_uses_the_hub_and_fails_clearly(local_zoo, hub_env, monkeypatch):
    monkeypatch.setenv(NAMESPACE_ENV, hub_env.user)
    _save(ARCH, local_zoo / NAME)
    build_model(ARCH).push_to_hub(f"{hub_env.user}/{NAME}", token=hub_env.token)
    resolved = zoo.resolve(NAME, revision="main")
    assert resolved.source == "hub" and re.fullmatch("[0-9a-f]{40}", resolved.revision)
    with pytest.raises(ModelError, match="at revision 'no-such-branch' could not be downloaded"):
        zoo.resolve(NAME, revision="no-such-branch")


@pytest.mark.parametrize(
    ("spec", "message"),
    [({"labels": ("calm", "tense", "other")}, "predicts labels"), ({"frames": 24}, "does not match the input spec .*frames 24")],
)
def test_weights_that_break_the_entry_are_refused(local_zoo, hub_env, monkeypatch, spec, message):
    """Pinned Hub weights with other labels or another input spec are refused with ModelError, not used."""
    monkeypatch.setenv(NAMESPACE_ENV, hub_env.user)
    repo_id = f"{hub_env.user}/{NAME}"
    broken = InputSpec.from_dict({**zoo.ENTRIES[NAME].input_spec, **spec})  # the entry's spec but for one field
    build_model(ARCH, input_spec=broken).push_to_hub(repo_id, token=hub_env.token)
    record_pins(hub_env.user, {NAME: hub_env.server.history(repo_id)[0].oid})
    with pytest.raises(ModelError, match=rf"\(hub\) {message}"):
        zoo.load(NAME)


def test_publish_pin_hf_download_load_same_prediction(local_zoo, hub_env, tmp_path, monkeypatch, capsys):
    """`python -m zoo publish` pushes the built entry and pins the commit; `hf download` at the pin gets
    the same files; `zoo.load` then takes the Hub copy at that commit and predicts what the local one did."""
    release = tmp_path / "release"
    _save(ARCH, release, seed=6)
    (release / "README.md").write_text("---\nlicense: mit\n---\n# stcnn\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"uf1": 0.5}))
    install(release, NAME)
    pins = tmp_path / "pins.json"
    env = {**hub_env.env, "MICROEXP_ZOO_DIR": str(local_zoo), PINS_ENV: str(pins), "OMP_NUM_THREADS": "1"}
    env.pop(NAMESPACE_ENV, None)
    space_readme = tmp_path / "README.md"
    space_readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "zoo", "publish", "--namespace", hub_env.user,
                           "--readme", str(space_readme)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"preload_from_hub:\n- {hub_env.user}/{NAME} config.json,model.safetensors,README.md " in done.stdout
    repo_id = f"{hub_env.user}/{NAME}"
    sha = hub_env.server.history(repo_id)[0].oid
    assert json.loads(pins.read_text()) == {"namespace": hub_env.user, "revisions": {NAME: sha}}
    assert done.stdout.rstrip().endswith(f"{repo_id} config.json,model.safetensors,README.md {sha}")
    front = yaml.safe_load(space_readme.read_text(encoding="utf-8").split("---")[1])  # the Space preloads the pin
    assert front["preload_from_hub"] == [f"{repo_id} config.json,model.safetensors,README.md {sha}"]
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py"  # the rest of the front matter is kept
    files = hub_env.server.files(repo_id)
    assert {"config.json", "model.safetensors", "README.md"} <= set(files) and "zoo.json" not in files
    got = tmp_path / "downloaded"
    hf = Path(sys.executable).with_name("hf")
    dl = subprocess.run([str(hf), "download", repo_id, "--revision", sha, "--local-dir", str(got)], env=env,
                        capture_output=True, text=True, timeout=120)
    assert dl.returncode == 0, dl.stderr
    for name in ("config.json", "model.safetensors"):
        assert (got / name).read_bytes() == (local_zoo / NAME / name).read_bytes()

    local = load_model(local_zoo / NAME).eval()
    shutil.rmtree(local_zoo / NAME)  # only the Hub copy is left
    monkeypatch.setenv(NAMESPACE_ENV, hub_env.user)
    zoo.clear_cache()
    resolved = zoo.resolve(NAME)
    assert (resolved.source, resolved.revision) == ("hub", sha)
    torch.manual_seed(0)
    x = torch.randn(2, *local.spec.input_shapes()[0])
    with torch.no_grad():
        assert torch.equal(zoo.load(NAME)(x), local(x))
    capsys.readouterr()
    assert zoo_cli(["list"]) == 0  # in process: the same environment as the load above
    out = capsys.readouterr().out
    assert f"{repo_id}@{sha} (pinned)" in out, out
    assert "resolves to hub-cache: " in out and f"(commit {sha})" in out, out  # the load above cached it


def test_cli_list_shows_entries_provenance_metrics_and_resolution(local_zoo):
    _save(ARCH, local_zoo / NAME)
    out = subprocess.run([sys.executable, "-m", "zoo", "list"], cwd=ROOT, env=dict(os.environ), capture_output=True,
                         text=True, timeout=120, check=True).stdout
    for name, e in zoo.ENTRIES.items():
        assert name in out and f"{e.params:,} parameters" in out and e.recipe.command in out
        for scores in e.metrics.values():
            assert scores is None or scores.summary() in out
    assert f"resolves to local: {local_zoo / NAME}" in out
    assert out.count("SYNTHETIC-TRAINED") == sum(e.synthetic for e in zoo.ENTRIES.values())
    assert out.count("not measured yet") == sum(v is None for e in zoo.ENTRIES.values() for v in e.metrics.values())
    assert out.count("(not pinned: the Hub is not used)") == len(zoo.ENTRIES)  # an empty pins file
    assert out.count("MISSING (run `python -m zoo build`)") == len(zoo.ENTRIES) - 1


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"namespace": "microexp", "revisions": {"stcnn-t18": "main"}}', "full 40-hex commit sha"),
     ('{"namespace": "../evil", "revisions": {}}', "invalid Hub namespace"),
     ("[1, 2]", "not a valid pins file")],
)
def test_a_pins_file_that_names_a_branch_or_is_malformed_is_refused(local_zoo, content, message):
    """A pin is a commit sha, never a branch: a pins file that says otherwise stops resolution."""
    (local_zoo.parent / "pins.json").write_text(content)
    with pytest.raises(ModelError, match=message):
        zoo.resolve(NAME)
