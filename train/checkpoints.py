"""Resumable training state: safetensors for tensors, a JSON sidecar for everything else (never pickle).

A SIGKILL or a power cut can land anywhere, so every reader here trusts nothing it has not checked:
:meth:`Checkpoints.sweep` (run at the start of every run) removes what a killed writer left
(``.tmp-*`` temporaries, tensors no sidecar points at, the state of jobs already done), and a
sidecar whose tensors are missing or damaged is dropped with a warning: that job restarts from its
first epoch, which ends where the uninterrupted job would (every epoch is seeded).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from microexp.atomic import remove_stale_temporaries, save_tensors, write_json

_TENSORS = re.compile(r"^(?P<job>.+)-e\d{4,}\.safetensors$")


class Checkpoints:
    """Per-epoch state of the running job and the saved results of finished jobs.

    Files under ``RUN_DIR/checkpoints/``: ``<job>-e<epoch>.safetensors`` (model + optimiser
    tensors), ``<job>.json`` (points at the latest tensors file, written after it, so the pair is
    always consistent) and ``<job>.done.json`` (predictions and curves of a finished job).
    """

    def __init__(self, run_dir: Path, writer: bool) -> None:
        self.dir = Path(run_dir) / "checkpoints"
        self.writer = writer

    @staticmethod
    def _safe(job: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in job)

    def _sidecar(self, safe: str) -> Path:
        return self.dir / f"{safe}.json"

    def _pointed(self, sidecar: Path) -> str | None:
        """The tensors file a sidecar names; None when it is unreadable (then it is not trusted)."""
        try:
            name = json.loads(sidecar.read_text()).get("tensors")
        except (OSError, ValueError, AttributeError):
            return None
        return name if isinstance(name, str) else None

    def _remove_other_tensors(self, safe: str, keep: str | None) -> None:
        for path in self.dir.glob(f"{safe}-e*.safetensors"):
            match = _TENSORS.match(path.name)
            if match and match["job"] == safe and path.name != keep:
                path.unlink(missing_ok=True)

    def sweep(self) -> None:
        """Remove what a killed run left behind: temporaries, tensors no sidecar points at, and the
        epoch state of jobs that are already done (killed between ``.done.json`` and the clean-up)."""
        if not self.writer or not self.dir.is_dir():
            return
        remove_stale_temporaries(self.dir)
        for done in self.dir.glob("*.done.json"):
            self._sidecar(done.name.removesuffix(".done.json")).unlink(missing_ok=True)
        kept = {self._pointed(sidecar) for sidecar in self.dir.glob("*.json") if not sidecar.name.endswith(".done.json")}
        for path in self.dir.glob("*.safetensors"):
            if path.name not in kept:
                path.unlink(missing_ok=True)

    def save_epoch(
        self, job: str, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, curves: dict
    ) -> None:
        if not self.writer:
            return
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        opt = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, state in opt["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{pid}.{key}"] = value
                else:
                    scalars.setdefault(str(pid), {})[key] = value
        safe = self._safe(job)
        name = f"{safe}-e{epoch:04d}.safetensors"
        save_tensors(self.dir / name, tensors)  # fsynced and renamed before the sidecar names it
        write_json(
            self._sidecar(safe),
            {
                "job": job,
                "epoch": epoch,
                "tensors": name,
                "curves": curves,
                "param_groups": opt["param_groups"],
                "optim_scalars": scalars,
            },
        )
        self._remove_other_tensors(safe, keep=name)  # every older epoch, also one a kill left behind

    def load_epoch(self, job: str, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict] | None:
        """Restore model and optimiser in place; returns (epochs done, curves) or ``None``.

        ``None`` too when the saved state is damaged (warned on stderr): the job then starts over.
        """
        sidecar = self._sidecar(self._safe(job))
        if not sidecar.exists():
            return None
        try:
            meta = json.loads(sidecar.read_text())
            tensors = load_file(str(self.dir / meta["tensors"]))
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            print(
                f"warning: the checkpoint of {job} in {self.dir} is damaged ({type(exc).__name__}); "
                "that job starts again from its first epoch",
                file=sys.stderr,
            )
            return None
        model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        for pid, values in meta["optim_scalars"].items():
            state.setdefault(int(pid), {}).update(values)
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        return int(meta["epoch"]), meta["curves"]

    def save_done(self, job: str, result: dict[str, Any]) -> None:
        if not self.writer:
            return
        write_json(self.dir / f"{self._safe(job)}.done.json", result)
        self.discard(job)

    def discard(self, job: str) -> None:
        """Remove the epoch state of ``job`` (its sidecar, then its tensors)."""
        if not self.writer:
            return
        safe = self._safe(job)
        self._sidecar(safe).unlink(missing_ok=True)
        self._remove_other_tensors(safe, keep=None)

    def load_done(self, job: str) -> dict[str, Any] | None:
        path = self.dir / f"{self._safe(job)}.done.json"
        return json.loads(path.read_text()) if path.exists() else None


__all__ = ["Checkpoints"]
