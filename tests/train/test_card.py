"""Model cards: valid Hub metadata, measured results in model-index, honest statements in the body."""

from __future__ import annotations

import json

import pytest
import yaml
from huggingface_hub import ModelCard, ModelCardData

from microexp.models import MicroExpSTCNN
from microexp.spec import InputSpec
from train.card import LEAK_WARNING, SYNTHETIC_STATEMENT, render_card

METRICS = {
    "labels": ["negative", "positive", "surprise"],
    "accuracy": 0.6842,
    "uf1": 0.6512,
    "uar": 0.6389,
    "per_class": {
        "negative": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 8},
        "positive": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4},
        "surprise": {"precision": 0.7143, "recall": 0.6667, "f1": 0.6897, "support": 7},
    },
    "confusion": [[6, 1, 1], [1, 2, 1], [1, 1, 5]],
    "n": 19,
    "folds": 5,
    "subjects": 5,
}


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("model")
    MicroExpSTCNN(InputSpec(frames=18)).save_pretrained(directory)
    return json.loads((directory / "config.json").read_text())


def _run(**changes) -> dict:
    run = {
        "data": "casme2=/data/CASME2", "dataset_name": "CASME II", "synthetic": False, "protocol": "loso",
        "preset": "default", "hyperparameters": {"optimizer": "adam", "lr": 0.001, "epochs": 25},
        "num_parameters": 1_643_267, "model_name": "microexp-stcnn-casme2", "created": "2025-03-01",
        "microexp_version": "0.1.0",
    }
    return {**run, **changes}


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---", 2)[1])


def test_card_loads_with_huggingface_hub_and_metadata_round_trips(config):
    text = render_card(config, METRICS, _run())
    card = ModelCard(text)
    meta = card.data.to_dict()
    assert meta == _front_matter(text)
    assert ModelCardData(**meta).to_dict() == meta
    assert meta["library_name"] == "microexp"
    assert meta["license"] == "mit"
    assert meta["pipeline_tag"] == "video-classification"
    assert meta["metrics"] == ["accuracy", "f1", "recall"]
    assert meta["datasets"] == ["casme-ii"]
    assert {"micro-expression", "video-classification", "3d-cnn", "pytorch", "safetensors"} <= set(meta["tags"])
    assert "synthetic-data" not in meta["tags"]


def test_model_index_values_equal_the_measured_metrics(config):
    card = ModelCard(render_card(config, METRICS, _run()))
    results = {r.metric_type: r for r in card.data.eval_results}
    assert set(results) == {"accuracy", "f1", "recall"}
    assert results["accuracy"].metric_value == METRICS["accuracy"]
    assert results["f1"].metric_value == METRICS["uf1"]
    assert results["recall"].metric_value == METRICS["uar"]
    for result in results.values():
        assert result.task_type == "video-classification"
        assert result.dataset_name == "CASME II"
    assert card.data.model_name == "microexp-stcnn-casme2"


def test_body_has_tables_input_spec_usage_limits_and_citation(config):
    text = ModelCard(render_card(config, METRICS, _run())).text
    assert "1,643,267 parameters" in text
    assert "| accuracy | 0.6842 |" in text and "| UF1 (macro F1) | 0.6512 |" in text
    assert "| surprise | 0.7143 | 0.6667 | 0.6897 | 7 |" in text
    assert "T: 18" in text and "0.6 s" in text and "temporal_mean_zscore" in text and "face 64 px" in text
    assert 'load_model("NAMESPACE/MODEL")' in text
    assert "python -m microexp predict CLIP.mp4 --model" in text
    assert "lie detector" in text and "macro" in text
    assert "IJCNN 2019" in text and "Reddy" in text and "Mukherjee" in text
    assert "Leave-one-subject-out" in text and LEAK_WARNING not in text
    assert SYNTHETIC_STATEMENT not in text


def test_synthetic_training_is_stated_plainly_near_the_top(config):
    text = render_card(config, METRICS, _run(synthetic=True, dataset_name="MicroExp synthetic", data="synthetic=/x"))
    card = ModelCard(text)
    assert "synthetic-data" in card.data.tags
    body = card.text
    assert SYNTHETIC_STATEMENT in body
    assert body.index(SYNTHETIC_STATEMENT) < body.index("## Summary")
    assert "not a model of real human micro-expressions" in SYNTHETIC_STATEMENT
    assert SYNTHETIC_STATEMENT.startswith("**Trained on synthetic data only")


def test_paper_split_carries_the_identity_leak_warning(config):
    text = ModelCard(render_card(config, METRICS, _run(protocol="paper-split", preset="paper"))).text
    assert LEAK_WARNING in text
    assert "identity leak" in text.lower()
    assert ModelCard(render_card(config, METRICS, _run())).data.eval_results[0].dataset_split == "loso"


def test_card_without_metrics_has_no_model_index(config):
    card = ModelCard(render_card(config, None, _run()))
    assert card.data.eval_results is None
    assert "model-index" not in card.data.to_dict()
    assert "Not measured" in card.text
