"""A whole training run: cross-validated evaluation, then one release model, in a resumable run directory.

``run_fit`` does, in order:

1. for every fold of the protocol (LOSO by default): train from a seeded initialisation for the
   preset's fixed number of epochs (no epoch is ever chosen on test data), predict the held-out
   subject(s) and store the predictions;
2. pool the predictions of all folds and summarise them (UF1 / UAR / accuracy / confusion, the
   MEGC convention) into ``metrics.json``, ``predictions.csv`` and figures;
3. train a release model on all clips with the same recipe and save it, with its model card, to
   ``release/`` (the directory ``python -m train push`` publishes).

Run directory (a contract with ``train/push.py``)::

    RUN_DIR/release/{model.safetensors,config.json,README.md}
    RUN_DIR/metrics.json  predictions.csv  run.json
    RUN_DIR/figures/{curves.png,confusion.png}
    RUN_DIR/checkpoints/  per-epoch state of the job in progress, finished folds' predictions

Every file is written through ``microexp.atomic``; ``release/`` is assembled in a temporary
directory and renamed, so a killed run never leaves a half-written model. A resumed run skips
finished folds and continues the running job from its last epoch (``train.checkpoints``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import microexp
from microexp.atomic import is_temporary, remove_stale_temporaries, replace_dir, temporary_dir, write_bytes, write_json
from microexp.models import TEMPERATURE_KEY, get_arch
from microexp.models.bounds import check_config

from .calibration import calibrate
from .checkpoints import Checkpoints
from .config import FitConfig, TrainingError
from .distributed import DistContext, identical_across_ranks, init_distributed
from .loop import predict_logits, train_job
from .protocols import Fold, make_folds
from .tensorset import TensorSet

RELEASE = "release"


def _fold_subjects(fold: Fold, tensor_set: TensorSet) -> list[str]:
    return list(fold.test_subjects) or sorted({tensor_set.subjects[i] for i in fold.test})


def _pooled_logits(results: list[dict[str, Any]]) -> np.ndarray:
    """Held-out logits of every fold in pooled order; log-probabilities for folds saved before logits were
    kept (a per-row constant away from the logits, so the same temperature fits)."""
    rows = []
    for r in results:
        rows += r["logits"] if "logits" in r else np.log(np.clip(np.asarray(r["probs"]), 1e-12, None)).tolist()
    return np.asarray(rows, dtype=np.float64)


def _prepare_run_dir(run_dir: Path, config: FitConfig, resume: bool, ctx: DistContext) -> dict[str, Any]:
    """Check the run directory against ``resume`` and return the run record to keep extending."""
    record_path = run_dir / "run.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if not resume:
            raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        if record.get("recipe") != config.recipe():
            raise TrainingError(
                f"{run_dir} was started with different settings; --resume needs the same arch, preset, protocol, "
                f"seed, data and overrides (recorded in {record_path})"
            )
        record["resumes"] = record.get("resumes", 0) + 1
        return record
    # a run killed before its first run.json leaves at most that file's temporary: not a foreign folder
    if run_dir.exists() and any(not is_temporary(p.name) for p in run_dir.iterdir()):
        raise TrainingError(f"{run_dir} exists, is not empty and holds no run.json; choose another --out")
    return {
        "recipe": config.recipe(),
        "config": config.to_dict(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "running",
        "timings": {},
    }


def _versions() -> dict[str, str]:
    return {
        "microexp": microexp.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _summarize(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    from .metrics import summarize

    return summarize([labels[i] for i in y_true], [labels[i] for i in y_pred], list(labels))


def _predictions_csv(rows: list[dict[str, Any]], labels: Sequence[str]) -> bytes:
    buf = io.StringIO()
    fields = ["clip", "subject", "fold", "true", "pred", *[f"prob_{label}" for label in labels]]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _write_release(
    run_dir: Path, model: nn.Module, config: FitConfig, metrics: dict[str, Any], record: dict[str, Any]
) -> Path:
    """save_pretrained + model card into a temporary directory, then rename it to ``release/``."""
    final = run_dir / RELEASE
    tmp = temporary_dir(final)
    try:
        _assemble_release(tmp, model, config, metrics, record)
        replace_dir(tmp, final)  # only an earlier finished run can have left a release/; replaced whole
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _assemble_release(
    tmp: Path, model: nn.Module, config: FitConfig, metrics: dict[str, Any], record: dict[str, Any]
) -> None:
    from .card import render_card

    model.save_pretrained(tmp)
    model_config = json.loads((tmp / "config.json").read_text())
    if metrics.get("calibration"):  # read by microexp.models.load_model, which divides the logits by it
        model_config[TEMPERATURE_KEY] = metrics["calibration"]["temperature"]
        write_json(tmp / "config.json", model_config)
    run_info = {
        "data": config.data,
        "dataset_name": config.dataset_name,
        "synthetic": config.synthetic,
        "protocol": config.protocol,
        "preset": config.preset.name,
        "hyperparameters": {**config.preset.to_dict(), "seed": config.seed, "arch_kwargs": config.arch_kwargs},
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "model_name": f"microexp-{config.arch}" + (f"-{config.dataset_name}" if config.dataset_name else ""),
        "created": record["created"],
        "microexp_version": microexp.__version__,
    }
    (tmp / "README.md").write_text(render_card(model_config, metrics, run_info), encoding="utf-8")


def run_fit(
    tensor_set: TensorSet,
    config: FitConfig,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    *,
    args: dict[str, Any] | None = None,
    test_set: TensorSet | None = None,
) -> dict[str, Any]:
    """Evaluate ``config`` on ``tensor_set`` under its protocol, then train and save the release model.

    Args:
        tensor_set: preprocessed clips (all of them; folds are drawn from it).
        config: architecture, recipe, protocol and seed.
        out_dir: the run directory (layout in the module docstring).
        resume: continue a killed run in ``out_dir`` from its last checkpoint.
        args: the command-line arguments, recorded in ``run.json``.
        test_set: the ``cross-generator`` protocol's test clips (another generator or dataset): each
            fold trains on ``tensor_set`` without one person and tests on that person's clips here.

    Returns:
        The contents of ``metrics.json``.

    Raises:
        TrainingError: the run directory or the data do not allow the run.
    """
    with _torch_settings(config.threads):
        return _run(tensor_set, config, Path(out_dir), resume, args or {}, test_set)


@contextmanager
def _torch_settings(threads: int | None) -> Iterator[None]:
    """Thread count and deterministic kernels for the run; the caller's settings come back after."""
    previous_threads = torch.get_num_threads()
    previous_mode = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_mode[0], warn_only=previous_mode[1])


def _run(
    tensor_set: TensorSet,
    config: FitConfig,
    run_dir: Path,
    resume: bool,
    args: dict[str, Any],
    test_set: TensorSet | None,
) -> dict[str, Any]:
    if (config.protocol == "cross-generator") != (test_set is not None):
        raise TrainingError("the cross-generator protocol, and only it, takes a test set (--test-data)")
    if test_set is not None and test_set.spec != tensor_set.spec:
        raise TrainingError("the test data was preprocessed with another input spec than the training data")
    held = test_set if test_set is not None else tensor_set  # where the held-out clips come from
    # --arch-kwargs get the bounds a downloaded config.json gets (ModelError before any allocation)
    arch = get_arch(config.arch)
    check_config(arch.cls, {**arch.fixed, "input_spec": tensor_set.spec.to_dict(), **config.arch_kwargs}, "--arch-kwargs")
    ctx = init_distributed(config.device)
    progress = not config.quiet and ctx.is_main and sys.stderr.isatty()
    record = _prepare_run_dir(run_dir, config, resume, ctx)
    ctx.barrier()
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        record.update(
            args=args,
            versions=_versions(),
            world_size=ctx.world_size,
            threads=torch.get_num_threads(),
            data={
                "spec": config.data,
                "dataset_name": config.dataset_name,
                "synthetic": config.synthetic,
                "clips": len(tensor_set),
                "windows_per_clip": tensor_set.windows_per_clip,
                "input_spec": tensor_set.spec.to_dict(),
                **({"test_data": config.test_data, "test_clips": len(test_set)} if test_set is not None else {}),
            },
        )
        write_json(run_dir / "run.json", record)
    checkpoints = Checkpoints(run_dir, writer=ctx.is_main)
    if ctx.is_main:  # what a killed run left: temporaries (release, figures, checkpoints), stale epochs
        for folder in (run_dir, run_dir / "figures"):
            if folder.is_dir():
                remove_stale_temporaries(folder)
        checkpoints.sweep()
    ctx.barrier()
    labels = tensor_set.spec.labels
    try:
        if test_set is None:
            folds = make_folds(config.protocol, tensor_set.subjects, persons=tensor_set.persons)
        else:
            folds = make_folds(config.protocol, tensor_set.people, test_subjects=test_set.people)
    except ValueError as exc:
        raise TrainingError(f"cannot build {config.protocol} folds: {exc}") from exc
    started = time.perf_counter()
    identical = True

    # 1. cross-validation: one model per fold, predictions on the held-out clips
    results: list[dict[str, Any]] = []
    for fold in tqdm(folds, desc="folds", disable=not progress, unit="fold"):
        job = f"fold-{fold.name}"
        done = checkpoints.load_done(job) if resume else None
        if done is None:
            t0 = time.perf_counter()
            train_idx = torch.as_tensor(list(fold.train), dtype=torch.long)
            test_idx = list(fold.test)
            model, curves = train_job(job, tensor_set.subset(train_idx), config, checkpoints, ctx, resume, progress)
            identical &= identical_across_ranks(model, ctx)
            # the test side always sees the centred windows (inputs), jittered sets included
            test_inputs = tuple(x[torch.as_tensor(test_idx, dtype=torch.long)] for x in held.inputs)
            logits = predict_logits(model, test_inputs)
            probs = torch.softmax(logits, dim=1)
            done = {
                "fold": str(fold.name),
                "test": test_idx,
                "test_subjects": _fold_subjects(fold, held),
                "pred": probs.argmax(1).tolist(),
                "probs": probs.tolist(),
                "logits": logits.tolist(),
                "curves": curves,
                "seconds": time.perf_counter() - t0,
            }
            checkpoints.save_done(job, done)
            ctx.barrier()
        results.append(done)

    # 2. pooled metrics (MEGC convention: one confusion matrix over all folds)
    y_true = [int(held.labels[i]) for r in results for i in r["test"]]
    y_pred = [p for r in results for p in r["pred"]]
    metrics = _summarize(y_true, y_pred, labels)
    metrics["calibration"] = calibrate(_pooled_logits(results), y_true)
    fold_rows = []
    for r in results:
        truth = [int(held.labels[i]) for i in r["test"]]
        correct = sum(int(t == p) for t, p in zip(truth, r["pred"], strict=True))
        fold_rows.append(
            {
                "name": r["fold"],
                "test_subjects": r["test_subjects"],
                "n": len(truth),
                "accuracy": correct / len(truth) if truth else None,
            }
        )
    metrics.update(
        protocol=config.protocol,
        identity_leak=any(f.identity_leak for f in folds),
        arch=config.arch,
        preset=config.preset.name,
        folds=len(fold_rows),
        subjects=len(set(tensor_set.subjects)) if test_set is None else len(folds),  # cross: persons held out
        clips=len(tensor_set),
        **({"test_data": config.test_data, "test_clips": len(test_set)} if test_set is not None else {}),
        train_windows_per_clip=tensor_set.windows_per_clip,  # test side: always the centred window
        per_fold=fold_rows,
    )
    if ctx.is_main:
        from .figures import plot_curves
        from .metrics import plot_confusion

        write_json(run_dir / "metrics.json", metrics)
        rows = []
        for r in results:
            for i, pred, probs in zip(r["test"], r["pred"], r["probs"], strict=True):
                rows.append(
                    {
                        "clip": held.clips[i],
                        "subject": held.subjects[i],
                        "fold": r["fold"],
                        "true": labels[int(held.labels[i])],
                        "pred": labels[pred],
                        **{f"prob_{label}": f"{p:.6f}" for label, p in zip(labels, probs, strict=True)},
                    }
                )
        write_bytes(run_dir / "predictions.csv", _predictions_csv(rows, labels))
        plot_curves({r["fold"]: r["curves"] for r in results}, run_dir / "figures" / "curves.png")
        plot_confusion(metrics, run_dir / "figures" / "confusion.png")  # atomic itself
        record["timings"]["folds_s"] = {r["fold"]: round(r["seconds"], 3) for r in results}
    evaluated = time.perf_counter()

    # 3. the release model: all clips, same recipe, saved atomically for `python -m train push`
    if config.release and (run_dir / RELEASE / "config.json").exists():
        checkpoints.discard(RELEASE)  # killed after the release was saved, before its state was cleared
    elif config.release:
        model, curves = train_job(RELEASE, tensor_set, config, checkpoints, ctx, resume, progress)
        identical &= identical_across_ranks(model, ctx)
        if ctx.is_main:
            _write_release(run_dir, model, config, metrics, record)
            checkpoints.save_done(RELEASE, {"fold": RELEASE, "curves": curves})
        ctx.barrier()

    if ctx.is_main:
        record["timings"].update(
            evaluation_s=round(evaluated - started, 3), release_s=round(time.perf_counter() - evaluated, 3)
        )
        record.update(
            status="complete",
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            ddp={"world_size": ctx.world_size, "weights_identical_across_ranks": identical},
        )
        write_json(run_dir / "run.json", record)
    ctx.barrier()
    return metrics


__all__ = ["RELEASE", "run_fit"]
