"""Training loop: learning, LOSO folds, resume after SIGKILL, DDP, run-directory layout, determinism.

The data is procedural: a small bright blob moves across a per-subject textured background, and
the class decides where it moves (upper band to the right, lower band to the left, centre downwards).
Models are shrunk through ``arch_kwargs`` so the whole file stays fast on two busy cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from microexp.models import default_regions, default_spec, load_model
from microexp.spec import InputSpec
from train import fit
from train.fit import FitConfig, TrainingError, augment, load_tensor_set, make_folds, run_fit, save_tensor_set
from train.presets import PRESETS, get_preset
from train.tensorset import TensorSet

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"filters": 4, "hidden": 16, "dropout": 0.2}
SUBJECTS = ("s1", "s2", "s3", "s4")


def blob_set(per_class: int = 5, frames: int = 18, size: int = 64, seed: int = 0) -> TensorSet:
    """3 classes x ``per_class`` clips x 4 subjects of (1, T, size, size) temporal-mean-removed clips."""
    g = torch.Generator().manual_seed(seed)
    spec = InputSpec(frames=frames, face_size=size)
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    clips, labels, subjects, names = [], [], [], []
    for s, subject in enumerate(SUBJECTS):
        background = torch.rand(size, size, generator=g) * 0.5 + s * 0.1  # identity
        for label in range(3):
            for k in range(per_class):
                jitter = (torch.rand(2, generator=g) - 0.5) * 6
                p = torch.linspace(0, 1, frames).view(-1, 1, 1)
                cy, cx = [(20 + 0 * p, 16 + 32 * p), (44 + 0 * p, 48 - 32 * p), (12 + 40 * p, 32 + 0 * p)][label]
                cy, cx = cy + jitter[0], cx + jitter[1]
                blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)  # (T, H, W)
                noise = 0.05 * torch.randn(frames, size, size, generator=g)
                x = (background + 0.6 * blob + noise)[None]  # (C=1, T, H, W)
                x = x - x.mean(dim=1, keepdim=True)  # temporal-mean normalisation: motion kept
                clips.append(x / (x.std() + 1e-6))
                labels.append(label)
                subjects.append(subject)
                names.append(f"{subject}/c{label}_{k}")
    return TensorSet(
        inputs=(torch.stack(clips),),
        labels=torch.tensor(labels),
        subjects=tuple(subjects),
        clips=tuple(names),
        spec=spec,
    )


@pytest.fixture(scope="module")
def data() -> TensorSet:
    return blob_set()


@pytest.fixture(scope="module")
def tensors_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small saved set (32x32) for the command-line runs, which pay process start-up on top."""
    small = blob_set(per_class=3, size=32)
    return save_tensor_set(
        small, tmp_path_factory.mktemp("tensors") / "blobs.safetensors", dataset_name="blobs", synthetic=True
    )


def small_config(epochs: int = 8, **changes) -> FitConfig:
    kw = {
        "arch": "stcnn",
        "preset": get_preset("default", epochs=epochs),
        "seed": 3,
        "threads": 1,
        "arch_kwargs": SMALL,
        "data": "tensors=blobs",
        "dataset_name": "blobs",
        "synthetic": True,
        "release": False,
        "quiet": True,
    }
    return FitConfig(**(kw | changes))


def cli(*args: str, launcher: list[str] | None = None) -> list[str]:
    return [*(launcher or [sys.executable, "-m", "train"]), *args]


def fit_args(tensors: Path, out: Path, epochs: int = 3, *extra: str) -> list[str]:
    return [
        "fit",
        "--data",
        f"tensors={tensors}",
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--seed",
        "5",
        "--threads",
        "1",
        "--arch-kwargs",
        json.dumps(SMALL),
        "--quiet",
        *extra,
    ]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------


def test_learns_under_loso(data: TensorSet, tmp_path: Path) -> None:
    metrics = run_fit(data, small_config(epochs=6), tmp_path / "run")
    assert metrics["protocol"] == "loso" and metrics["folds"] == 4 and metrics["n"] == len(data)
    assert metrics["accuracy"] > 0.7, metrics  # chance is 1/3
    assert metrics["uf1"] > 0.6, metrics


def test_loso_folds_never_share_subjects(data: TensorSet) -> None:
    folds = make_folds("loso", data.subjects)
    assert len(folds) == len(SUBJECTS)
    tested = []
    for fold in folds:
        train = {data.subjects[i] for i in fold.train}
        test = {data.subjects[i] for i in fold.test}
        assert len(test) == 1 and not train & test
        assert len(fold.train) + len(fold.test) == len(data)
        tested += list(fold.test)
    assert sorted(tested) == list(range(len(data)))  # every clip tested exactly once


def test_deterministic_same_seed_and_seed_matters(tmp_path: Path) -> None:
    small = blob_set(per_class=2)
    cfg = small_config(epochs=2)
    a = run_fit(small, cfg, tmp_path / "a")
    b = run_fit(small, cfg, tmp_path / "b")
    assert a == b
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()
    c = run_fit(small, small_config(epochs=2, seed=4), tmp_path / "c")
    assert (tmp_path / "a" / "predictions.csv").read_text() != (tmp_path / "c" / "predictions.csv").read_text()
    del c


def test_run_dir_layout_and_atomic_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = blob_set(per_class=2)
    cfg = small_config(epochs=2, release=True)
    run = tmp_path / "run"
    import train.card

    def crash(*args, **kwargs):
        raise RuntimeError("killed while writing the card")

    monkeypatch.setattr(train.card, "render_card", crash)
    with pytest.raises(RuntimeError):
        run_fit(small, cfg, run)
    assert not (run / "release").exists()  # the half-made model never appears under release/
    assert (run / "metrics.json").exists()
    monkeypatch.undo()

    metrics = run_fit(small, cfg, run, resume=True)
    for name in (
        "release/model.safetensors",
        "release/config.json",
        "release/README.md",
        "metrics.json",
        "run.json",
        "figures/curves.png",
        "figures/confusion.png",
        "predictions.csv",
    ):
        assert (run / name).is_file(), name
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    assert json.loads((run / "metrics.json").read_text()) == metrics
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["config"]["seed"] == 3 and record["data"]["synthetic"] is True
    assert record["versions"]["torch"] == torch.__version__
    model = load_model(run / "release")
    assert model.spec == small.spec
    calibration = metrics["calibration"]  # fitted on the pooled held-out logits, stored for load_model
    assert calibration["n"] == len(small) and 0 <= calibration["ece_after"] <= 1 and 0 <= calibration["ece_before"] <= 1
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-9  # T minimises NLL; ECE may move either way
    assert json.loads((run / "release" / "config.json").read_text())["temperature"] == calibration["temperature"]
    assert model.temperature == calibration["temperature"]
    assert "### Calibration" in (run / "release" / "README.md").read_text()
    assert model(small.inputs[0][:2]).shape == (2, 3)
    rows = (run / "predictions.csv").read_text().splitlines()
    assert rows[0].split(",")[:5] == ["clip", "subject", "fold", "true", "pred"] and len(rows) == len(small) + 1
    with pytest.raises(TrainingError, match="--resume"):
        run_fit(small, cfg, run)


def test_resume_after_sigkill_matches_uninterrupted(tensors_file: Path, tmp_path: Path) -> None:
    """One kill point of ``bench/crash.py`` (which runs six): SIGKILL at a random moment soon after the
    first checkpoint, resume, and the run is the uninterrupted one, with no stray file left."""
    import random

    from bench.crash import stray_files

    full, killed = tmp_path / "full", tmp_path / "killed"
    proc = subprocess.Popen(
        cli(*fit_args(tensors_file, killed)), env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 600  # a generous limit on the wait for the first checkpoint (the event)
    while time.monotonic() < deadline and proc.poll() is None:
        if list((killed / "checkpoints").glob("fold-*.json")):  # first epoch checkpoint (or finished fold)
            break
        time.sleep(0.01)
    time.sleep(random.Random().uniform(0.0, 0.3))  # anywhere in the next moments of training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (killed / "metrics.json").exists()  # really interrupted mid-run
    assert list((killed / "checkpoints").glob("*.json"))

    resumed = subprocess.run(
        cli(*fit_args(tensors_file, killed), "--resume"),
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert fit.main(fit_args(tensors_file, full)[1:]) == 0  # same code path and threads, in this process
    assert (killed / "metrics.json").read_text() == (full / "metrics.json").read_text()
    assert (killed / "predictions.csv").read_text() == (full / "predictions.csv").read_text()
    record = json.loads((killed / "run.json").read_text())
    assert record["resumes"] == 1 and record["args"]["epochs"] == 3 and record["args"]["resume"] is True
    from safetensors.torch import load_file

    a, b = load_file(str(killed / "release/model.safetensors")), load_file(str(full / "release/model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert stray_files(killed) == []


def test_ddp_two_processes(tensors_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "train"]
    proc = subprocess.run(
        cli(*fit_args(tensors_file, out, 2), launcher=torchrun),
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 36 and metrics["folds"] == 4
    record = json.loads((out / "run.json").read_text())
    assert record["ddp"] == {"world_size": 2, "weights_identical_across_ranks": True}
    assert (out / "release" / "model.safetensors").is_file()


def test_cli_user_errors_are_one_line(tensors_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from train.__main__ import main as train_main

    cases = [
        (["fit", "--data", "nonsense", "--out", str(tmp_path / "x")], "KIND=PATH"),
        (["fit", "--data", f"tensors={tmp_path / 'missing.safetensors'}", "--out", str(tmp_path / "x")], "not found"),
        (["fit", "--data", f"tensors={tensors_file}", "--out", str(tmp_path / "x"), "--arch-kwargs", "[1"], "JSON"),
        (["fit", "--data", f"tensors={tensors_file}", "--out", str(tmp_path / "x"), "--frames", "30"], "frames"),
        (["fit", "--data", f"tensors={tensors_file}", "--out", str(tmp_path / "x"), "--epochs", "0"], "epochs"),
        (["bogus"], "unknown subcommand"),
        (["cache", "--data", f"casme2={tmp_path / 'nowhere'}"], "not found"),
    ]
    for argv, needle in cases:
        assert train_main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_paper_split_warns_and_marks_leak(
    tensors_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = fit_args(
        tensors_file, tmp_path / "paper", 1, "--protocol", "paper-split", "--preset", "paper", "--no-release"
    )
    assert fit.main(argv[1:]) == 0
    assert "leak" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "paper" / "metrics.json").read_text())
    assert metrics["protocol"] == "paper-split" and metrics["identity_leak"] is True and metrics["folds"] == 1
    record = json.loads((tmp_path / "paper" / "run.json").read_text())
    assert record["config"]["preset"] | {"epochs": 100} == PRESETS["paper"].to_dict()


def test_tensor_set_file_round_trip(data: TensorSet, tmp_path: Path) -> None:
    loaded, meta = load_tensor_set(
        save_tensor_set(data, tmp_path / "t.safetensors", dataset_name="blobs", synthetic=True)
    )
    assert torch.equal(loaded.inputs[0], data.inputs[0]) and torch.equal(loaded.labels, data.labels)
    assert loaded.subjects == data.subjects and loaded.clips == data.clips and loaded.spec == data.spec
    assert meta["synthetic"] is True and meta["dataset_name"] == "blobs"


def test_augment_moves_whole_clips_only() -> None:
    x = torch.arange(2 * 1 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 1, 3, 8, 8)
    always_flip = replace(PRESETS["default"], hflip=1.0, max_shift=0)
    flipped = augment((x,), always_flip, torch.Generator().manual_seed(0))[0]
    assert torch.equal(flipped, x.flip(-1))
    still = x[:, :, :1].expand(2, 1, 3, 8, 8).contiguous()  # a clip without motion stays without motion
    moved = augment((still,), PRESETS["default"], torch.Generator().manual_seed(1))[0]
    assert moved.shape == still.shape and torch.equal(moved[:, :, 0], moved[:, :, 2])


@pytest.mark.parametrize(
    ("arch", "kwargs"),
    [
        ("fusenet-intermediate", {"filters": 2, "widths": [8, 4]}),
        ("fusenet-late", {"filters": 2, "widths": [8, 4]}),
        ("twostream", {"filters": 2, "hidden": 8}),
    ],
)
def test_every_architecture_runs_through_the_loop(arch: str, kwargs: dict, tmp_path: Path) -> None:
    face = blob_set(per_class=1, size=32)
    regions = default_regions(arch)
    if len(regions) == 2:  # eyes + mouth: reuse the face clip as both crops (32x32)
        spec = face.spec.replace(regions=regions, region_size=32)
        face = TensorSet(
            inputs=(face.inputs[0], face.inputs[0].flip(-2)),
            labels=face.labels,
            subjects=face.subjects,
            clips=face.clips,
            spec=spec,
        )
    metrics = run_fit(face, small_config(epochs=1, arch=arch, arch_kwargs=kwargs, release=True), tmp_path / arch)
    assert metrics["n"] == len(face) and metrics["arch"] == arch
    assert load_model(tmp_path / arch / "release").arch == arch


def test_training_draws_one_jittered_window_per_clip_and_epoch(data: TensorSet, tmp_path: Path) -> None:
    from train.loop import batch_inputs, draw_windows

    draws = [draw_windows(len(data), 5, 7, epoch) for epoch in range(4)]
    assert all(torch.equal(d, draw_windows(len(data), 5, 7, e)) for e, d in enumerate(draws))  # resumable
    assert not torch.equal(draws[0], draws[1]) and set(torch.cat(draws).tolist()) == set(range(5))
    # window k of a clip: the centred clip shifted by k - 2 frames (offset 0 = index 2 = the centred input)
    windows = torch.stack([data.inputs[0].roll(k - 2, dims=2) for k in range(5)], dim=1)
    offsets = torch.linspace(-0.18, 0.18, 5).repeat(len(data), 1)
    jittered = dataclasses.replace(data, jitter=(windows,), offsets=offsets)
    idx = torch.tensor([0, 3, 7])
    batch = batch_inputs(jittered, idx, draws[0])[0]
    for row, n in enumerate(idx.tolist()):
        assert torch.equal(batch[row], windows[n, draws[0][n]])
    assert torch.equal(batch_inputs(data, idx, None)[0], data.inputs[0][idx])
    a = run_fit(jittered, small_config(epochs=2), tmp_path / "jittered")
    b = run_fit(data, small_config(epochs=2), tmp_path / "centred")
    assert a["train_windows_per_clip"] == 5 and b["train_windows_per_clip"] == 1
    predictions = [(tmp_path / run / "predictions.csv").read_text() for run in ("jittered", "centred")]
    assert predictions[0] != predictions[1]  # the loop trained on the drawn windows, not the centred ones


def test_cross_generator_protocol_trains_on_one_set_and_tests_on_the_other(tmp_path: Path) -> None:
    from train import synth

    sets = {}
    for seed in (1, 2):  # two generator draws: same four people, different clips
        sets[seed] = tmp_path / f"synth{seed}"
        config = synth.SynthConfig(clips=6, seconds=(0.8, 1.0), size=(320, 240), seed=seed)
        synth.generate(config, sets[seed], progress=False)
    out = tmp_path / "cross"
    argv = [
        "--data", f"synthetic={sets[1]}", "--test-data", f"synthetic={sets[2]}", "--protocol", "cross-generator",
        "--out", str(out), "--epochs", "1", "--jitter", "3", "--threads", "1", "--arch-kwargs", json.dumps(SMALL),
        "--cache-dir", str(tmp_path / "cache"), "--quiet", "--no-release",
    ]  # fmt: skip
    assert fit.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "cross-generator" and metrics["test_data"] == f"synthetic={sets[2]}"
    assert metrics["n"] == metrics["test_clips"] and metrics["folds"] == metrics["subjects"] >= 2
    assert metrics["train_windows_per_clip"] == 3
    rows = (out / "predictions.csv").read_text().splitlines()[1:]
    assert len(rows) == metrics["n"] and all(row.startswith("synthetic/") for row in rows)
    held = {fold["name"].removeprefix("cross:"): fold["test_subjects"] for fold in metrics["per_fold"]}
    assert all(subjects == [person] for person, subjects in held.items())
    assert fit.main([*argv[:4], "--out", str(tmp_path / "bad"), "--quiet"]) == 2  # --test-data without the protocol


# ---------------------------------------------------------------------------------------------
# crashes, damaged state and failures (issue 10)


class _Killed(BaseException):
    """Stands for a SIGKILL at one exact point in-process: nothing after it runs, no handler sees it."""


def test_power_cut_leftovers_are_swept_and_a_damaged_checkpoint_restarts_its_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed after a fold's last epoch checkpoint: its tensors file is then emptied (a power cut before
    the data reached the disk), an older epoch and a temporary are left beside it. The resumed run warns,
    restarts that one job, ends with the uninterrupted run's numbers and leaves only done records."""
    from train.checkpoints import Checkpoints

    small = blob_set(per_class=1, size=32)
    cfg = small_config(epochs=2)
    reference = run_fit(small, cfg, tmp_path / "reference")
    run = tmp_path / "run"

    def killed(*args, **kwargs):
        raise _Killed

    monkeypatch.setattr(Checkpoints, "save_done", killed)
    with pytest.raises(_Killed):
        run_fit(small, cfg, run)
    monkeypatch.undo()
    ckpt = run / "checkpoints"
    (tensors,) = ckpt.glob("*-e0002.safetensors")
    tensors.write_bytes(b"")
    (ckpt / tensors.name.replace("e0002", "e0001")).write_bytes(b"stale epoch")
    (ckpt / ".tmp-fold-s1.json.abc").write_bytes(b"{")
    (run / ".tmp-release.xyz").mkdir()

    assert run_fit(small, cfg, run, resume=True) == reference
    assert "damaged" in capsys.readouterr().err
    left = sorted(p.name for p in ckpt.iterdir())
    assert len(left) == len(SUBJECTS) and all(name.endswith(".done.json") for name in left), left
    assert not [p for p in run.rglob(".tmp-*")]


def test_training_failures_are_one_line_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved set whose labels do not fit its classes fails inside torch: one line, exit 1. Absurd
    --arch-kwargs are refused by the model bounds before anything is allocated: a user error, exit 2."""
    small = blob_set(per_class=1, size=32)
    bad = replace(small, labels=small.labels + 5)  # class 5..7 of 3
    path = save_tensor_set(bad, tmp_path / "bad.safetensors", dataset_name="bad", synthetic=True)
    assert fit.main(fit_args(path, tmp_path / "bad", 1)[1:]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: training failed") and len(err.splitlines()) == 1, err
    good = save_tensor_set(small, tmp_path / "good.safetensors", dataset_name="good", synthetic=True)
    argv = fit_args(good, tmp_path / "huge", 1)[1:]
    argv[argv.index("--arch-kwargs") + 1] = json.dumps({"hidden": 100_000_000})
    started = time.monotonic()
    assert fit.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "hidden=100000000 is out of bounds" in err and len(err.splitlines()) == 1, err
    assert time.monotonic() - started < 10 and not (tmp_path / "huge").exists()


def _pool_workers(pid: int) -> list[int]:
    """Child processes of ``pid`` that run its own command line: the forked workers of its process pool.

    A child that is still ``pid``'s command line 50 ms later: a subprocess (multiprocessing's resource tracker,
    ffmpeg) also shares it between its fork and its exec, and killing that one breaks no pool."""
    from bench.crash import child_processes

    def same_command(children: list[int]) -> list[int]:
        found = []
        for child in children:
            try:
                if Path(f"/proc/{child}/cmdline").read_bytes() == cmdline:
                    found.append(child)
            except OSError:
                pass
        return found

    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    candidates = same_command(child_processes(pid))
    if not candidates:
        return []
    time.sleep(0.05)
    return same_command(candidates)


def two_clip_set(folder: Path) -> Path:
    """A synthetic-layout set of two tiny clips (a frame folder and an MPEG-4 file), no annotation flaws."""
    from tests.dataset_trees import write_frames, write_video

    write_frames(folder / "sub01" / "clip_0001", [f"img{n}.jpg" for n in range(1, 13)])
    write_video(folder / "sub02" / "clip_0002.mp4")
    (folder / "annotations.csv").write_text(
        "subject,clip,onset,apex,offset,label,aus,fps\n"
        "sub01,clip_0001,2,4,6,negative,AU4,30\n"
        "sub02,clip_0002,1,3,5,happiness,AU6+AU12,30\n"
    )
    return folder


def test_a_preprocessing_worker_that_dies_is_one_line(tmp_path: Path) -> None:
    """A preprocessing worker of ``--workers 2`` SIGKILLed, as the kernel's OOM killer does, breaks the
    real process pool: ``train fit`` prints one ``error:`` line that says what happened and exits 1."""
    data = two_clip_set(tmp_path / "synthetic")
    command = cli("fit", "--data", f"synthetic={data}", "--out", str(tmp_path / "run"), "--quiet",
                  "--workers", "2", "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    proc = subprocess.Popen(command, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        workers = _pool_workers(proc.pid)
        time.sleep(0.001)
    assert workers, "no preprocessing worker was seen"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a preprocessing worker died"), err
    assert "BrokenProcessPool" in lines[0]


def test_a_damaged_cache_entry_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Preprocessing-cache entries cut short (a full disk, a copied cache): safetensors refuses them, and
    ``train fit`` says which kind of file to delete in one ``error:`` line, exit 1."""
    from train.cache import cache_key
    from train.datasets import load_dataset

    data = two_clip_set(tmp_path / "synthetic")
    cache = tmp_path / "cache"
    cache.mkdir()
    records, _ = load_dataset(f"synthetic={data}")
    spec = default_spec("stcnn", frames=18)  # as load_data makes it for --arch stcnn
    for record in records:
        (cache / f"{cache_key(record, spec, jitter=1)}.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    argv = ["--data", f"synthetic={data}", "--out", str(tmp_path / "run"), "--quiet", "--jitter", "1",
            "--cache-dir", str(cache)]  # fmt: skip
    assert fit.main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a tensors file"), lines
    assert "SafetensorError" in lines[0] and not (tmp_path / "run").exists()
