"""train.checkpoints: the write order that makes a power cut safe, and the clean-up after a kill."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from microexp import atomic
from train.checkpoints import Checkpoints


def _model_and_optimizer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_tensors_reach_the_disk_before_the_sidecar_names_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Order of the real syscalls: tensors fsynced, renamed into place and their folder fsynced, all
    before the sidecar that points at them is renamed; then the older epoch goes."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    names: dict[int, str] = {}

    def opened(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        names[fd] = Path(path).name
        return fd

    def fsync(fd):
        events.append(("fsync", names.get(fd, "file")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", Path(dst).name))
        return real_replace(src, dst)

    ckpt = Checkpoints(tmp_path, writer=True)
    model, optimizer = _model_and_optimizer()
    ckpt.save_epoch("fold-a", model, optimizer, 1, {"loss": [1.0]})
    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    monkeypatch.setattr(atomic.os, "open", opened)
    ckpt.save_epoch("fold-a", model, optimizer, 2, {"loss": [1.0, 0.5]})
    monkeypatch.undo()

    tensors = events.index(("replace", "fold-a-e0002.safetensors"))
    sidecar = events.index(("replace", "fold-a.json"))
    assert events[tensors - 1][0] == "fsync"  # the data file itself, before its rename
    assert ("fsync", "checkpoints") in events[tensors + 1 : sidecar]  # the rename made durable first
    assert sorted(p.name for p in ckpt.dir.iterdir()) == ["fold-a-e0002.safetensors", "fold-a.json"]


def test_sweep_removes_what_a_kill_left_and_keeps_what_resume_needs(tmp_path: Path) -> None:
    ckpt = Checkpoints(tmp_path, writer=True)
    model, optimizer = _model_and_optimizer()
    ckpt.save_epoch("fold-a", model, optimizer, 3, {"loss": [1.0, 0.5, 0.2]})
    ckpt.save_epoch("fold-b", model, optimizer, 1, {"loss": [1.0]})
    ckpt.save_done("fold-c", {"fold": "c"})
    leftovers = {
        "fold-a-e0002.safetensors": b"killed before the old epoch was removed",
        "fold-c-e0004.safetensors": b"killed between done.json and the clean-up",
        "fold-c.json": json.dumps({"tensors": "fold-c-e0004.safetensors"}).encode(),
        ".tmp-fold-b-e0002.safetensors.x.safetensors": b"half written",
        ".tmpFh8K5N": b"safetensors' own temporary, killed inside save_file",
    }
    for name, data in leftovers.items():
        (ckpt.dir / name).write_bytes(data)
    ckpt.sweep()
    assert sorted(p.name for p in ckpt.dir.iterdir()) == [
        "fold-a-e0003.safetensors", "fold-a.json", "fold-b-e0001.safetensors", "fold-b.json", "fold-c.done.json",
    ]
    fresh, fresh_opt = _model_and_optimizer()
    epoch, curves = ckpt.load_epoch("fold-a", fresh, fresh_opt)
    assert epoch == 3 and curves["loss"] == [1.0, 0.5, 0.2]
