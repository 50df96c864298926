"""Pooled metrics against values worked out by hand, and the confusion-matrix figure."""

from __future__ import annotations

import json
import warnings

import pytest
from PIL import Image

from train.metrics import plot_confusion, summarize

LABELS = ["negative", "positive", "surprise"]
# Hand-worked case: 8 clips.
#   negative: 4 true, predicted 5 times, 3 hits -> P 3/5, R 3/4, F1 2/3
#   positive: 2 true, predicted 2 times, 1 hit  -> P 1/2, R 1/2, F1 1/2
#   surprise: 2 true, predicted 1 time,  1 hit  -> P 1,   R 1/2, F1 2/3
TRUE = ["negative"] * 4 + ["positive"] * 2 + ["surprise"] * 2
PRED = ["negative", "negative", "negative", "positive", "positive", "negative", "surprise", "negative"]


def test_hand_computed_scores() -> None:
    s = summarize(TRUE, PRED, LABELS)
    assert s["n"] == 8
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["uf1"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)  # 11/18 = 0.611, not accuracy
    assert s["uf1"] != pytest.approx(s["accuracy"])
    assert s["uar"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    assert s["per_class"]["negative"] == pytest.approx({"precision": 0.6, "recall": 0.75, "f1": 2 / 3, "support": 4})
    assert s["per_class"]["surprise"]["precision"] == 1.0
    assert s["confusion"] == [[3, 1, 0], [1, 1, 0], [1, 0, 1]]
    assert s["labels"] == LABELS


def test_schema_is_exact_and_json_able() -> None:
    s = summarize(TRUE, PRED, LABELS)
    assert set(s) == {"labels", "accuracy", "uf1", "uar", "per_class", "confusion", "n"}
    assert all(set(v) == {"precision", "recall", "f1", "support"} for v in s["per_class"].values())
    assert json.loads(json.dumps(s)) == s
    assert all(type(x) is int for row in s["confusion"] for x in row)


def test_indices_are_mapped_through_labels() -> None:
    index = {name: i for i, name in enumerate(LABELS)}
    assert summarize([index[t] for t in TRUE], [index[p] for p in PRED], LABELS) == summarize(TRUE, PRED, LABELS)


def test_class_absent_from_truth_is_listed_but_not_averaged_and_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = summarize(["negative", "negative", "positive"], ["negative", "surprise", "positive"], LABELS)
    assert s["per_class"]["surprise"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # negative: P 1, R 1/2, F1 2/3; positive: F1 1. Mean over the two present classes only.
    assert s["uf1"] == pytest.approx((2 / 3 + 1) / 2)
    assert s["uar"] == pytest.approx((1 / 2 + 1) / 2)
    assert s["confusion"] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_perfect_and_bad_inputs() -> None:
    s = summarize(TRUE, TRUE, LABELS)
    assert s["accuracy"] == s["uf1"] == s["uar"] == 1.0
    with pytest.raises(ValueError, match="not among"):
        summarize(["negative"], ["happy"], LABELS)
    with pytest.raises(ValueError, match="predictions"):
        summarize(["negative", "positive"], ["negative"], LABELS)
    with pytest.raises(ValueError):
        summarize([], [], LABELS)


def test_plot_confusion_writes_png(tmp_path) -> None:
    out = plot_confusion(summarize(TRUE, PRED, LABELS), tmp_path / "figs" / "confusion.png")
    assert out == tmp_path / "figs" / "confusion.png"
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100
    assert [p.name for p in out.parent.iterdir()] == ["confusion.png"]  # no temporary left behind
