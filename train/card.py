"""Hub model cards (README.md) for trained MicroExp models.

The card's YAML front matter is built with ``huggingface_hub.ModelCardData`` and ``EvalResult`` so
the Hub reads it as it reads any model card (``model-index`` with the measured results, the
``video-classification`` pipeline tag, the ``microexp`` library). The body says, in plain words,
what the model was trained on, how it was evaluated and what it must not be used for. A model
trained on synthetic data says so in bold before anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

LICENSE = "mit"
BASE_TAGS = ("micro-expression", "video-classification", "3d-cnn", "pytorch", "safetensors")
PAPER = ("Reddy, S. P. T., Karri, S. T., Dubey, S. R., Mukherjee, S. (2019). Spontaneous Facial "
         "Micro-Expression Recognition using 3D Spatiotemporal Convolutional Neural Networks. IJCNN 2019.")
BIBTEX = """@inproceedings{reddy2019microexpression,
  title     = {Spontaneous Facial Micro-Expression Recognition using 3D Spatiotemporal Convolutional Neural Networks},
  author    = {Reddy, Sai Prasanna Teja and Karri, Surya Teja and Dubey, Shiv Ram and Mukherjee, Snehasis},
  booktitle = {International Joint Conference on Neural Networks (IJCNN)},
  year      = {2019}
}"""
SYNTHETIC_STATEMENT = (
    "**Trained on synthetic data only: clips made by deforming still face photographs with "
    "FACS-inspired micro-movements. This is not a model of real human micro-expressions; use it to "
    "try the pipeline, not to draw conclusions about people.**"
)
REPO_PLACEHOLDER = "NAMESPACE/MODEL"  # replaced by the real repo id when `train.push` uploads the card
LEAK_WARNING = (
    "**Warning: identity leak.** The paper split is a random clip-level split: clips of the same "
    "person appear in training and test data, so the model can recognise the person instead of the "
    "expression and the scores overstate how it does on new people. Subject-independent (LOSO) "
    "results are the ones to compare."
)


def render_card(config: Mapping[str, Any], metrics: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str:
    """Render a model card.

    Args:
        config: the model's ``config.json`` (``arch``, ``input_spec`` and the arch hyperparameters).
        metrics: pooled metrics (``accuracy``, ``uf1``, ``uar``, ``per_class``, ``confusion``, ``n``,
            optionally ``folds``, ``subjects``, ``clips``), or None when the model was not evaluated.
        run: ``data``, ``dataset_name``, ``synthetic``, ``protocol`` (``loso`` | ``paper-split``),
            ``preset``, ``hyperparameters``, ``num_parameters``, ``model_name``, ``created``,
            ``microexp_version``; optionally ``repo_id`` (else usage shows ``NAMESPACE/MODEL``, which
            :func:`train.push.push_run` fills in on upload).

    Returns:
        README.md text: YAML front matter then Markdown. It loads with ``huggingface_hub.ModelCard``.
    """
    spec = dict(config.get("input_spec") or {})
    synthetic = bool(run.get("synthetic"))
    card_data = _card_data(metrics, run, synthetic)
    body = "\n\n".join(
        section
        for section in (
            f"# {run.get('model_name') or config.get('arch', 'MicroExp model')}",
            SYNTHETIC_STATEMENT if synthetic else "",
            _summary(config, spec, metrics, run),
            _architecture(config, run),
            _data(run, synthetic),
            _protocol(run, metrics),
            _hyperparameters(run),
            _metrics(metrics, run),
            _input_spec(spec),
            _usage(run),
            _limits(synthetic),
            _citation(),
        )
        if section
    )
    text = f"---\n{card_data.to_yaml()}\n---\n\n{body}\n"
    ModelCard(text)  # fail here, not on the Hub, if the front matter does not parse
    return text


def _card_data(metrics: Mapping[str, Any] | None, run: Mapping[str, Any], synthetic: bool) -> ModelCardData:
    dataset_name = str(run.get("dataset_name") or "unknown")
    dataset_id = _slug(dataset_name)
    tags = [*BASE_TAGS, *(["synthetic-data"] if synthetic else [])]
    eval_results = None
    if metrics is not None:
        protocol = _protocol_name(run)
        common = dict(task_type="video-classification", task_name="Micro-expression recognition",
                      dataset_type=dataset_id, dataset_name=dataset_name, dataset_split=protocol)
        eval_results = [
            EvalResult(metric_type="accuracy", metric_name="Accuracy", metric_value=float(metrics["accuracy"]),
                       **common),
            EvalResult(metric_type="f1", metric_name="UF1 (unweighted F1)", metric_value=float(metrics["uf1"]),
                       metric_config="macro", **common),
            EvalResult(metric_type="recall", metric_name="UAR (unweighted average recall)",
                       metric_value=float(metrics["uar"]), metric_config="macro", **common),
        ]
    return ModelCardData(
        library_name="microexp",
        license=LICENSE,
        tags=tags,
        datasets=[dataset_id],
        metrics=["accuracy", "f1", "recall"],
        pipeline_tag="video-classification",
        model_name=str(run.get("model_name") or "microexp-model"),
        eval_results=eval_results,
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def _protocol_name(run: Mapping[str, Any]) -> str:
    return run["protocol"] if run.get("protocol") in ("paper-split", "cross-generator") else "loso"


def _pct(value: float) -> str:
    return f"{100 * float(value):.2f} %"


def _summary(config: Mapping[str, Any], spec: Mapping[str, Any], metrics: Mapping[str, Any] | None,
             run: Mapping[str, Any]) -> str:
    labels = ", ".join(spec.get("labels") or [])
    scores = (f" Pooled {_protocol_name(run).upper()} scores: accuracy {_pct(metrics['accuracy'])}, "
              f"UF1 {float(metrics['uf1']):.4f}, UAR {float(metrics['uar']):.4f}.") if metrics else ""
    return (
        "## Summary\n\n"
        f"A `{config.get('arch')}` 3D-CNN that classifies a short face clip into one of: {labels}. "
        f"It was trained with the `{run.get('preset')}` preset on {run.get('dataset_name')}.{scores} "
        f"Made with microexp {run.get('microexp_version', '?')} on {run.get('created', '?')}."
    )


def _architecture(config: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    params = run.get("num_parameters")
    count = f"{int(params):,}" if params is not None else "unknown"
    hyper = {k: v for k, v in config.items() if k not in ("arch", "input_spec", "temperature")}
    lines = "\n".join(f"- `{k}`: `{v}`" for k, v in sorted(hyper.items()))
    return (
        "## Architecture\n\n"
        f"`{config.get('arch')}` from the IJCNN 2019 paper (3D spatiotemporal convolutions over "
        f"(C, T, H, W) clips), **{count} parameters**. Weights are safetensors only.\n\n" + lines
    ).rstrip()


def source_kind(data: Any) -> str:
    """``synthetic=/home/me/data`` -> ``synthetic``: a card or a pushed file names the kind of source,
    never a local path (which tells readers nothing and tells them about the trainer's machine)."""
    return str(data or "").partition("=")[0]


def _data(run: Mapping[str, Any], synthetic: bool) -> str:
    text = f"## Training data\n\nDataset: **{run.get('dataset_name')}** (`{source_kind(run.get('data'))}`)."
    if synthetic:
        text += ("\n\nThe clips are synthetic (see the statement at the top). The generator animates public-domain "
                 "face photographs with "
                 "onset-apex-offset movements of 0.2-0.5 s on top of head drift, blinks, lighting changes, noise "
                 "and compression.")
    else:
        text += (" Micro-expression datasets are licence-restricted: this repository holds no frames of them, "
                 "and the weights are shared only as the dataset licence allows.")
    return text


def _protocol(run: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> str:
    extra = metrics or {}
    counts = ", ".join(f"{k}: {extra[k]}" for k in ("folds", "subjects", "clips") if k in extra)
    counts = f" ({counts})" if counts else ""
    k = int(extra.get("train_windows_per_clip", 1))
    windows = (f"\n\nTraining windows: {k} per clip, their centres spread around the apex (the apex stays in the "
               "middle 60 % of the window, as at inference, where windows rarely centre on it); each epoch draws "
               "one per clip. Test clips are scored on the window centred on the apex.") if k > 1 else ""
    if _protocol_name(run) == "paper-split":
        return ("## Evaluation protocol\n\nThe paper's single random 80/20 clip split" + counts + ".\n\n"
                + LEAK_WARNING + windows)
    if _protocol_name(run) == "cross-generator":
        return ("## Evaluation protocol\n\nCross-generator, person-independent: each fold trains on the training "
                f"data without one person and tests on that person's clips from other data (`{source_kind(extra.get('test_data'))}`"
                f", {extra.get('test_clips', '?')} clips), so neither the person nor the way the test clips were made "
                "was seen in training; predictions of all folds are pooled" + counts + ". Epochs are fixed in "
                "advance." + windows)
    return ("## Evaluation protocol\n\nLeave-one-subject-out (LOSO), subject-independent: every subject is the "
            "test set once and never seen in training; predictions of all folds are pooled before computing "
            "the metrics (the MEGC convention)" + counts + ". Epochs are fixed in advance; no epoch is chosen "
            "on test data." + windows)


def _hyperparameters(run: Mapping[str, Any]) -> str:
    hyper = run.get("hyperparameters") or {}
    lines = "\n".join(f"| `{k}` | `{v}` |" for k, v in sorted(hyper.items()))
    table = f"\n\n| hyperparameter | value |\n|---|---|\n{lines}" if lines else ""
    return f"## Training preset\n\nPreset: `{run.get('preset')}`.{table}"


def _metrics(metrics: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str:
    if metrics is None:
        return "## Metrics\n\nNot measured: this model was not evaluated."
    head = (f"## Metrics\n\n{_protocol_name(run).upper()}, pooled over all test predictions"
            f" (n = {metrics.get('n', '?')}).\n\n| metric | value |\n|---|---|\n"
            f"| accuracy | {float(metrics['accuracy']):.4f} |\n| UF1 (macro F1) | {float(metrics['uf1']):.4f} |\n"
            f"| UAR (macro recall) | {float(metrics['uar']):.4f} |")
    per_class = metrics.get("per_class") or {}
    rows = "\n".join(
        f"| {label} | {float(m['precision']):.4f} | {float(m['recall']):.4f} | {float(m['f1']):.4f} | "
        f"{int(m['support'])} |"
        for label, m in per_class.items()
    )
    if rows:
        head += f"\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n{rows}"
    labels, confusion = metrics.get("labels"), metrics.get("confusion")
    if labels and confusion:
        header = "| true \\ predicted | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels)
        body = "\n".join(f"| {label} | " + " | ".join(str(v) for v in row) + " |"
                         for label, row in zip(labels, confusion, strict=False))
        head += f"\n\nConfusion matrix:\n\n{header}\n{body}"
    return head + _calibration(metrics)


def _calibration(metrics: Mapping[str, Any]) -> str:
    cal = metrics.get("calibration")
    if not cal:
        return ""
    return (
        "\n\n### Calibration\n\n"
        f"`load_model` divides the logits by the temperature T = {float(cal['temperature']):.4f} stored in "
        "`config.json` (`temperature`), so the probabilities are calibrated; predictions (the argmax) and the "
        "scores above are unchanged. T minimises the negative log-likelihood of the pooled held-out "
        "cross-validation predictions, each made by the fold model that never saw the clip's subject (the "
        "standard way to calibrate without a separate set); the figures after scaling are measured on those "
        "same predictions, a one-parameter in-sample fit.\n\n"
        f"| | before | after |\n|---|---|---|\n"
        f"| expected calibration error ({int(cal.get('bins', 15))} bins) | {float(cal['ece_before']):.4f} | "
        f"{float(cal['ece_after']):.4f} |\n"
        f"| negative log-likelihood | {float(cal['nll_before']):.4f} | {float(cal['nll_after']):.4f} |"
    )


def _input_spec(spec: Mapping[str, Any]) -> str:
    regions = list(spec.get("regions") or [])
    sizes = ", ".join(f"{r} {spec.get('face_size') if r == 'face' else spec.get('region_size')} px" for r in regions)
    channels = "grey" if spec.get("channels") == 1 else "RGB"
    return (
        "## Input\n\n"
        f"- frames per window T: {spec.get('frames')}, window: {spec.get('window_seconds')} s of the source clip "
        "(each window is resampled to T frames)\n"
        f"- regions (forward argument order): {', '.join(regions)}; crop sizes: {sizes}; {channels}\n"
        f"- normalisation: `{spec.get('normalization')}`\n"
        "- faces aligned once on the first frame of each window (MediaPipe landmarks, eyes level)\n"
        "- tensor layout per region: (N, C, T, H, W)\n\n"
        "Everything above is stored in `config.json` (`input_spec`); `microexp` reproduces it at inference."
    )


def _usage(run: Mapping[str, Any]) -> str:
    repo = run.get("repo_id") or REPO_PLACEHOLDER
    return (
        "## How to use\n\n"
        "```python\n"
        "from microexp.models import load_model\n\n"
        f"model = load_model(\"{repo}\")  # safetensors + config.json, no pickle, no remote code\n"
        "```\n\n"
        "```bash\n"
        f"python -m microexp predict CLIP.mp4 --model {repo}\n"
        f"hf download {repo} --local-dir model/\n"
        "```"
    )


def _limits(synthetic: bool) -> str:
    text = (
        "## Intended use and limits\n\n"
        "- Research and teaching on facial micro-expression recognition only.\n"
        "- **Not** a lie detector and not evidence of what a person feels, thinks or intends; do not use it for "
        "emotion surveillance, hiring, policing, border control, education or health decisions about people.\n"
        "- Micro-expressions are brief (under 0.5 s), low-intensity and rare; ordinary (macro) expressions, talking, "
        "blinks and head motion are outside what the model was trained to separate, and it will still output one "
        "of its classes for them.\n"
        "- Micro-expression datasets are small, posed in lab conditions and demographically narrow; expect lower "
        "accuracy on other people, cameras, frame rates and lighting."
    )
    if synthetic:
        text += ("\n- This model saw synthetic clips only: its scores say nothing about real micro-expressions "
                 "of real people.")
    return text


def _citation() -> str:
    return f"## Citation\n\n{PAPER}\n\n```bibtex\n{BIBTEX}\n```"
