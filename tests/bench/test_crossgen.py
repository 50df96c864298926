"""The cross-generator benchmark's folds and summaries: the held-out person never trains."""

from bench.crossgen import person_folds, summarise


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


def test_summarise_gives_mean_and_sample_sd_over_seeds():
    runs = [
        {"arch": "stcnn", "train": "synth", "test": "probe", "mode": "apex", "uf1": u, "uar": u, "accuracy": u,
         "recall": {"negative": u, "positive": 0.5, "surprise": 0.0}}
        for u in (0.4, 0.6)
    ]  # fmt: skip
    (row,) = summarise(runs)
    assert row["seeds"] == 2 and row["uf1"] == {"mean": 0.5, "sd": 0.1414}
    assert row["recall"] == {"negative": 0.5, "positive": 0.5, "surprise": 0.0}
