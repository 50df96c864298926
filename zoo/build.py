"""``python -m zoo build``: train the default entries on synthetic data when they cannot be downloaded.

This is the offline, embedded default of the zoo: a fresh synthetic set is generated with
``python -m train synth`` and each entry is trained with ``python -m train fit`` (LOSO evaluation,
then a release model on all clips, trained on apex-jittered windows, with its probability temperature
fitted on the LOSO held-out predictions and stored in ``config.json``). Both run as subprocesses, so
the zoo never imports ``train``.
Each release directory (``model.safetensors``, ``config.json``, model card) is copied atomically to
``<zoo dir>/<name>`` with a ``zoo.json`` provenance record; its card says it is synthetic-trained.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from microexp.atomic import replace_dir, temporary_dir, write_json, write_text
from microexp.errors import ModelError

from .registry import ENTRIES, get_entry
from .resolve import clear_cache, is_model_dir, resolve, zoo_dir

SYNTHETIC_NOTE = (
    "> **Synthetic-trained.** Built offline by `python -m zoo build` on synthetic clips made from "
    "public-domain photographs; it demonstrates the pipeline and is not a model of real human "
    "micro-expressions.\n\n"
)


@dataclass(frozen=True)
class BuildSettings:
    """How much synthetic data and training a build spends.

    Attributes:
        clips: synthetic clips to generate (spread over the generator's subjects and classes).
        epochs: training epochs per fold and for the release model (None: the preset's).
        seed: seed of the synthetic set and of training.
        workers: preprocessing processes for ``train fit``.
        jitter: windows cached per clip around the apex (``train fit --jitter``): the models learn
            expressions anywhere in the window, as inference places it.
    """

    clips: int = 240
    epochs: int | None = None
    seed: int = 0
    workers: int = 1
    jitter: int = 5

    @classmethod
    def quick(cls) -> BuildSettings:
        """Minutes, not tens of minutes: enough to get a working (weak) demo."""
        return cls(clips=96, epochs=4)


def _run(cmd: list[str], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(cmd))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        log("  " + line)
    if proc.wait() != 0:
        raise ModelError(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n" + "\n".join(tail))


def install(release: Path, name: str, target_root: Path | None = None, extra: dict | None = None) -> Path:
    """Copy a ``save_pretrained`` directory to ``<zoo dir>/<name>`` atomically, marking it synthetic-trained."""
    release = Path(release)
    if not is_model_dir(release):
        raise ModelError(f"{release} is not a save_pretrained directory (needs config.json and model.safetensors)")
    entry = get_entry(name)
    root = Path(target_root) if target_root else zoo_dir()
    target = root / name
    tmp = temporary_dir(target)
    try:
        shutil.copytree(release, tmp, dirs_exist_ok=True)
        card = tmp / "README.md"
        text = card.read_text(encoding="utf-8") if card.exists() else f"# {entry.title}\n\n{entry.description}\n"
        if entry.synthetic and "synthetic" not in text.lower():
            text = SYNTHETIC_NOTE + text
        card.write_text(text, encoding="utf-8")  # inside tmp: the whole folder appears at once below
        record = {"entry": name, "arch": entry.arch, "synthetic": entry.synthetic,
                  "training_data": entry.training_data, "built_by": "python -m zoo build",
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
        write_json(tmp / "zoo.json", record)
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    clear_cache()
    return target


def missing_entries() -> list[str]:
    """Entries that resolve neither from the Hub (cache or network) nor from the local zoo."""
    out = []
    for name in ENTRIES:
        try:
            resolve(name)
        except ModelError:
            out.append(name)
    return out


def build(
    names: Sequence[str],
    settings: BuildSettings = BuildSettings(),
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Generate one synthetic set, train every named entry on it, install each release.

    Returns:
        The installed model directories, in the order of ``names``.
    """
    entries = [get_entry(n) for n in names]
    if not entries:
        log("nothing to build")
        return []
    work = Path(work_dir) if work_dir else zoo_dir() / ".build"
    data = work / f"synthetic-{settings.clips}-s{settings.seed}"
    py = sys.executable
    started = time.perf_counter()
    steps = len(entries) + 1
    if not (data / ".complete").exists():
        log(f"[1/{steps}] generating {settings.clips} synthetic clips in {data}")
        shutil.rmtree(data, ignore_errors=True)
        _run([py, "-m", "train", "synth", "--out", str(data), "--clips", str(settings.clips),
              "--seed", str(settings.seed)], log)
        write_text(data / ".complete", "ok\n")
    else:
        log(f"[1/{steps}] reusing synthetic clips in {data}")
    installed = []
    for k, entry in enumerate(entries, start=2):
        run_dir = work / "runs" / f"{entry.name}-{int(time.time())}"
        log(f"[{k}/{steps}] training {entry.name} ({entry.arch}) -> {run_dir}")
        cmd = [py, "-m", "train", "fit", "--arch", entry.arch, "--data", f"synthetic={data}",
               "--protocol", entry.protocol, "--preset", entry.recipe.preset, "--out", str(run_dir),
               "--frames", str(entry.input_spec["frames"]), "--seed", str(settings.seed),
               "--cache-dir", str(work / "cache"), "--workers", str(settings.workers), "--quiet",
               "--jitter", str(settings.jitter)]
        if settings.epochs:
            cmd += ["--epochs", str(settings.epochs)]
        if entry.arch_kwargs:
            cmd += ["--arch-kwargs", json.dumps(entry.arch_kwargs)]
        _run(cmd, log)
        target = install(run_dir / "release", entry.name,
                         extra={"run_dir": str(run_dir), "clips": settings.clips, "epochs": settings.epochs,
                                "jitter": settings.jitter})
        log(f"  installed {target}")
        installed.append(target)
    log(f"built {len(installed)} model(s) in {time.perf_counter() - started:.0f} s")
    return installed
