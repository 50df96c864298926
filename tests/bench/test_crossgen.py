"""The cross-generator benchmark's folds and summaries: the held-out person never trains."""

import json

import numpy as np
import pytest

from bench.crossgen import SHIPPED_MODES, person_folds, shipped_options, summarise


def test_person_folds_hold_each_person_out_of_training():
    source = ["ann", "bob", "ann", "cid", "bob"]
    target = ["bob", "ann", "ann", "dee"]
    folds = person_folds(source, target, ["ann", "bob"])
    assert [f[0] for f in folds] == ["ann", "bob"]
    for p, train, own, test in folds:
        assert all(source[i] != p for i in train) and all(source[i] == p for i in own)
        assert sorted(train + own) == list(range(len(source)))
        assert test == [i for i, q in enumerate(target) if q == p]
    assert folds[0][1:] == ([1, 3, 4], [0, 2], [1, 2])
    # a blend of ann and cid (train.synth.morph) trains bob's fold only
    blended = person_folds(source + ["ann+cid"], target, ["ann", "bob"])
    assert blended[0][1] == [1, 3, 4] and blended[1][1] == [0, 2, 3, 5]


def test_summarise_gives_mean_and_sample_sd_over_seeds():
    runs = [
        {"arch": "stcnn", "train": "synth", "test": "probe", "mode": "apex", "uf1": u, "uar": u, "accuracy": u,
         "recall": {"negative": u, "positive": 0.5, "surprise": 0.0}}
        for u in (0.4, 0.6)
    ]  # fmt: skip
    (row,) = summarise(runs)
    assert row["seeds"] == 2 and row["uf1"] == {"mean": 0.5, "sd": 0.1414}
    assert row["recall"] == {"negative": 0.5, "positive": 0.5, "surprise": 0.0}


def _write_part(root, rows, files):
    """A synth-layout folder: annotations.csv plus one placeholder file or frame folder per clip."""
    import csv

    root.mkdir()
    with (root / "annotations.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for row, kind in zip(rows, files, strict=True):
        (root / row["subject"]).mkdir(exist_ok=True)
        if kind == "mp4":
            (root / row["subject"] / f"{row['clip']}.mp4").write_bytes(row["clip"].encode())
        else:
            (root / row["subject"] / row["clip"]).mkdir()
            (root / row["subject"] / row["clip"] / "img1.jpg").write_bytes(row["clip"].encode())


def test_merge_parts_keys_subjects_by_person_across_generators(tmp_path):
    """Two generators number their subjects differently; the merged set must not split or join persons."""
    import csv

    from zoo.build import merge_parts

    a = [{"subject": "sub01", "person": "eve", "clip": "clip_0001", "label": "positive"},
         {"subject": "sub02", "person": "ada", "clip": "clip_0002", "label": "negative"}]  # fmt: skip
    b = [{"subject": "sub01", "person": "ada", "clip": "clip_0001", "label": "surprise", "speech": "1"},
         {"subject": "sub02", "person": "eve", "clip": "clip_0002", "label": "positive", "speech": "0"}]  # fmt: skip
    _write_part(tmp_path / "a", a, ["mp4", "mp4"])
    _write_part(tmp_path / "b", b, ["jpg", "mp4"])
    out = merge_parts([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    with (out / "annotations.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["subject", "person", "clip", "label", "speech"]
    assert {(r["subject"], r["person"]) for r in rows} == {("sub01", "ada"), ("sub02", "eve")}
    assert [r["clip"] for r in rows] == ["p0_clip_0001", "p0_clip_0002", "p1_clip_0001", "p1_clip_0002"]
    assert (out / "sub02" / "p0_clip_0001.mp4").read_bytes() == b"clip_0001"  # eve's clip from part a
    assert (out / "sub01" / "p1_clip_0001" / "img1.jpg").read_bytes() == b"clip_0001"  # ada's from part b
    assert sorted(p.name for p in out.iterdir()) == ["annotations.csv", "sub01", "sub02"]


def test_merge_parts_refuses_a_part_without_persons(tmp_path):
    import pytest

    from microexp.errors import ModelError
    from zoo.build import merge_parts

    _write_part(tmp_path / "a", [{"subject": "sub01", "clip": "clip_0001", "label": "positive"}], ["mp4"])
    with pytest.raises(ModelError, match="person"):
        merge_parts([tmp_path / "a"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_recipes_are_well_formed_and_the_zoo_uses_one():
    from zoo.build import RECIPES, ZOO_RECIPE, BuildSettings, Recipe

    assert ZOO_RECIPE in RECIPES and BuildSettings().recipe == ZOO_RECIPE
    for recipe in RECIPES.values():
        assert {s.command for s in recipe.steps} <= {"synth", "synth-scenes"} and recipe.jitter >= 1
        for clips in (1, 7, 48, 240):
            counts = recipe.clips_per_step(clips)
            assert len(counts) == len(recipe.steps) and min(counts) >= 1
            assert sum(counts) == max(clips, len(recipe.steps))
    import pytest

    with pytest.raises(ValueError, match="sum to 1"):
        Recipe("bad", "x", (), jitter=1)


def test_nothing_spotted_counts_as_a_miss_of_the_true_class():
    from bench.crossgen import pooled

    labels = ("negative", "positive", "surprise")
    truth = ["negative", "positive", "surprise", "surprise"]
    m = pooled(truth, ["negative", None, "surprise", None], labels)
    assert m["accuracy"] == 0.5 and m["spotted"] == 0.5
    assert m["recall"] == {"negative": 1.0, "positive": 0.0, "surprise": 0.5}
    assert m["uar"] == 0.5  # over the three real classes, not "none"
    assert m["uf1"] == round((1.0 + 0.0 + 2 / 3) / 3, 4)
    assert pooled(truth, truth, labels)["spotted"] == 1.0 and "none" not in pooled(truth, truth, labels)["labels"]


def test_cross_calibration_fits_on_one_generator_and_scores_the_other():
    """Over-confident predictions: the temperature fitted on the held-out-person predictions of the
    training generator (T > 1) lowers the ECE of the other generator's, which it never saw."""
    import numpy as np
    from scipy.special import softmax

    from bench.crossgen import cross_calibration

    rng = np.random.default_rng(0)

    def overconfident(n: int) -> tuple[list[np.ndarray], list[int]]:
        y = rng.integers(0, 3, n)
        z = rng.normal(0, 1, (n, 3))
        z[np.arange(n), y] += 1.0  # right about 60 % of the time ...
        return [softmax(8.0 * z, axis=1)], y.tolist()  # ... but sure of itself

    c = cross_calibration(overconfident(400), overconfident(300))
    assert c["temperature"] > 3 and c["n"] == 300
    assert c["ece_before"] > 0.2 and c["ece_after"] < 0.5 * c["ece_before"]


def test_per_recipe_counts_what_each_recipe_is_taken_for(tmp_path):
    """The breakdown keeps recipes of one class apart and counts every prediction over seeds."""
    from bench.crossgen import clip_recipes, per_recipe, recipe_table

    (tmp_path / "annotations.csv").write_text(
        "subject,person,clip,label,aus\nsub01,ann,clip_0001,positive,AU12\nsub02,bob,clip_0002,positive,AU6+AU12\n",
        encoding="utf-8",
    )
    recipes = clip_recipes(tmp_path)
    assert recipes == {"synthetic/sub01/clip_0001": "AU12", "synthetic/sub02/clip_0002": "AU6+AU12"}
    labels = ("negative", "positive", "surprise")
    run = {"arch": "stcnn", "train": "synth", "test": "probe", "mode": "apex", "truth": "positive"}
    rows = [
        {**run, "seed": 0, "recipe": "AU12", "prediction": "negative"},
        {**run, "seed": 1, "recipe": "AU12", "prediction": "surprise"},
        {**run, "seed": 0, "recipe": "AU6+AU12", "prediction": "positive"},
        {**run, "seed": 0, "recipe": "AU4", "truth": "negative", "prediction": "negative"},
    ]
    table = per_recipe(rows, labels)
    assert [(b["truth"], b["recipe"]) for b in table] == [("negative", "AU4"), ("positive", "AU12"),
                                                          ("positive", "AU6+AU12")]  # fmt: skip
    au12 = table[1]
    assert au12["n"] == 2 and au12["recall"] == 0.0
    assert au12["predicted"] == {"negative": 1, "positive": 0, "surprise": 1}
    assert table[2]["recall"] == 1.0
    assert "| stcnn | synth -> probe | apex | positive | AU12 | 2 | 0.00 | 1 / 0 / 1 |" in recipe_table(table, labels)


def test_compact_clips_keeps_one_line_per_clip_per_run():
    from bench.crossgen import compact_clips

    run = {"arch": "stcnn", "train": "synth", "test": "probe", "mode": "apex"}
    rows = [{**run, "seed": s, "clip": f"synthetic/sub01/c{k}", "recipe": "AU12" if k else "", "truth": "positive",
             "prediction": "negative"} for s in (0, 1) for k in (0, 1)]  # fmt: skip
    out = compact_clips(rows)
    assert [r["seed"] for r in out] == [0, 1] and out[0]["mode"] == "apex"
    assert out[1]["rows"] == ["synthetic/sub01/c0 ? positive negative", "synthetic/sub01/c1 AU12 positive negative"]


def test_clip_lines_keep_class_probabilities_and_parse_back():
    from bench.crossgen import compact_clips, parse_clip

    row = {"arch": "stcnn", "train": "synth", "test": "probe", "mode": "apex", "seed": 0, "clip": "synthetic/sub01/c0",
           "recipe": "AU6+AU12", "truth": "positive", "prediction": "positive", "probs": [0.1, 0.85, 0.05]}  # fmt: skip
    (run,) = compact_clips([row])
    assert run["rows"] == ["synthetic/sub01/c0 AU6+AU12 positive positive 0.1000/0.8500/0.0500"]
    parsed = parse_clip(run["rows"][0])
    assert parsed == {"clip": "synthetic/sub01/c0", "recipe": "AU6+AU12", "truth": "positive",
                      "prediction": "positive", "probs": [0.1, 0.85, 0.05]}  # fmt: skip
    assert parse_clip("synthetic/sub01/c0 ? positive negative")["probs"] is None  # files from before


def _result_file(path, arch, probs_by_clip, truth, seeds=(0, 1)):
    """A minimal crossgen result file: one apex run per seed, the same clips, the given probabilities."""
    from bench.crossgen import compact_clips

    labels = ("negative", "positive", "surprise")
    rows = [{"arch": arch, "seed": s, "train": "synth", "test": "probe", "mode": "apex", "clip": c, "recipe": "AU12",
             "truth": truth[c], "prediction": labels[int(np.argmax(p))], "probs": p}
            for s in seeds for c, p in probs_by_clip.items()]  # fmt: skip
    path.write_text(json.dumps({"summary": [{"recall": dict.fromkeys(labels, 0.0)}], "clips": compact_clips(rows)}))
    return path


def test_fusion_combines_two_models_per_clip_and_checks_the_sets(tmp_path, capsys):
    """Each model gets one class wrong with confidence and hesitates where the other is sure: the mean
    of their probabilities gets all right, and each model alone scores as its own argmax says."""
    from bench.crossgen_fuse import fuse, main

    truth = {"c0": "negative", "c1": "positive", "c2": "surprise"}
    a = {"c0": [0.9, 0.05, 0.05], "c1": [0.4, 0.35, 0.25], "c2": [0.1, 0.1, 0.8]}  # c1 wrong, hesitant
    b = {"c0": [0.3, 0.45, 0.25], "c1": [0.05, 0.9, 0.05], "c2": [0.1, 0.1, 0.8]}  # c0 wrong, hesitant
    fa, fb = _result_file(tmp_path / "a.json", "stcnn", a, truth), _result_file(tmp_path / "b.json", "flow", b, truth)
    out = tmp_path / "fused.json"
    assert main(["--a", str(fa), "--b", str(fb), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    acc = {s["rule"]: s["accuracy"]["mean"] for s in result["summary"]}
    assert acc["a"] == pytest.approx(2 / 3, abs=1e-3) and acc["b"] == pytest.approx(2 / 3, abs=1e-3)
    assert acc["mean"] == 1.0 and acc["geometric"] == 1.0
    assert acc["calibrated"] == 1.0  # no within runs in these files: temperature 1, the mean
    assert all(s["runs"] == 2 for s in result["summary"]) and "stcnn + flow, mean" in capsys.readouterr().out
    g = fuse(np.array([[0.5, 0.5, 0.0]]), np.array([[0.0, 0.5, 0.5]]), "geometric")
    assert np.allclose(g, [[0.0, 1.0, 0.0]], atol=1e-5)  # a class either model rules out stays out
    from bench.crossgen_fuse import temper

    sure = np.array([[0.98, 0.01, 0.01]])
    assert np.allclose(temper(sure, 1.0), sure) and temper(sure, 4.0)[0, 0] < 0.8  # T > 1 softens
    other = _result_file(tmp_path / "c.json", "flow", {"c0": b["c0"], "c1": b["c1"]}, truth)
    with pytest.raises(SystemExit, match="different clips"):
        main(["--a", str(fa), "--b", str(other)])


def test_extra_probe_sets_are_tested_by_the_same_fold_models_on_the_held_out_person(tmp_path, monkeypatch):
    """``--extra-probe``: a fresh probe set is scored by each fold's model on that fold's held-out person only,
    stored as its own apex runs (test ``probe:<folder>``), beside the selection set's."""
    import csv
    from types import SimpleNamespace

    import torch

    import train.fit
    from bench.crossgen import build_parser, run

    labels = ("negative", "positive", "surprise")
    people = {"ann": 0, "bob": 1}

    def make(name, persons, truth):
        folder = tmp_path / name
        folder.mkdir()
        rows = [{"subject": f"s{p}", "person": p, "clip": f"{name}{i}", "aus": "AU12"} for i, p in enumerate(persons)]
        with (folder / "annotations.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return folder, fake_set([f"synthetic/s{p}" for p in persons], [f"synthetic/{r['subject']}/{r['clip']}"
                                                                           for r in rows], persons, truth)

    def fake_set(subjects, clips, persons, truth):
        inputs = (torch.eye(3)[truth], torch.tensor([people[p] for p in persons]))
        return SimpleNamespace(subjects=tuple(subjects), clips=tuple(clips), labels=torch.tensor(truth),
                               inputs=inputs, spec=SimpleNamespace(labels=labels),
                               subset=lambda idx: fake_set([subjects[i] for i in idx], [clips[i] for i in idx],
                                                           [persons[i] for i in idx], [truth[i] for i in idx]))

    sets = {"synth": make("synth", ["ann", "ann", "bob", "bob"], [0, 1, 1, 2]),
            "probe": make("probe", ["ann", "bob"], [2, 0]),
            "fresh": make("fresh", ["ann", "bob", "bob", "bob"], [0, 1, 2, 2])}  # fmt: skip
    by_folder = {str(folder.resolve()): data for folder, data in sets.values()}
    monkeypatch.setattr(train.fit, "load_data", lambda spec, **_: (by_folder[spec.split("=", 1)[1]], None))
    trained_on = []

    def train_job(job, data, *_):
        trained_on.append(set(data.inputs[1].tolist()))
        return trained_on[-1], None

    def predict(model, inputs):
        assert not model & set(inputs[1].tolist()), "a test clip's person was in its model's training set"
        return inputs[0]

    monkeypatch.setattr(train.fit, "train_job", train_job)
    monkeypatch.setattr(train.fit, "predict", predict)
    args = build_parser().parse_args(["--arch", "stcnn", "--seeds", "0", "--directions", "synth-probe",
                                      "--modes", "apex", "--synth", str(sets["synth"][0]), "--probe",
                                      str(sets["probe"][0]), "--extra-probe", str(sets["fresh"][0])])  # fmt: skip
    args.epochs, args.jitter = 1, 1
    result = run(args)
    assert trained_on == [{1}, {0}]  # one model per held-out person, each tested on every set
    runs = {(r["test"], r["mode"]): r for r in result["runs"]}
    assert set(runs) == {("probe", "apex"), ("synth", "within"), ("probe:fresh", "apex")}
    assert runs["probe:fresh", "apex"]["n"] == 4 and runs["probe", "apex"]["n"] == 2
    assert runs["probe:fresh", "apex"]["uf1"] == 1.0 and "calibration" in runs["probe:fresh", "apex"]
    fresh = [r for r in result["clips"] if r["test"] == "probe:fresh"]
    assert sorted(r["clip"] for r in fresh) == [f"synthetic/s{p}/fresh{i}" for i, p in
                                                enumerate(["ann", "bob", "bob", "bob"])]  # fmt: skip
    assert {r["mode"] for r in fresh} == {"apex"} and result["sets"]["probe:fresh"] == str(sets["fresh"][0].resolve())


def test_shipped_labels_intervals_as_the_architectures_zoo_entry_does():
    """``shipped`` is the pipeline as shipped: an architecture whose zoo entry names its own apex_spread is
    scored with it; one without an entry gets the pipeline's default; the explicit modes ignore the entry."""
    import zoo

    for entry in zoo.ENTRIES.values():
        assert shipped_options(entry.arch, "shipped") == {"apex_spread": entry.apex_spread}
    assert any(len(e.apex_spread) > 1 for e in zoo.ENTRIES.values())  # the case that makes this matter exists
    assert shipped_options("flow", "shipped") == {}  # no zoo entry: the Predictor's default
    for mode in ("shipped-centred", "shipped-spread3", "shipped-spread5"):
        assert shipped_options("fusenet-late-flow", mode) == SHIPPED_MODES[mode]
    # shipped-mirror: as shipped, plus the test-time flip; the options a run records stay JSON
    for entry in zoo.ENTRIES.values():
        assert shipped_options(entry.arch, "shipped-mirror") == {"apex_spread": entry.apex_spread, "mirror": True}
    assert shipped_options("flow", "shipped-mirror") == {"mirror": True}
