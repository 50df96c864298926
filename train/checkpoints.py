"""Resumable training state: safetensors for tensors, a JSON sidecar for everything else (never pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from microexp.atomic import save_tensors, write_json


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
        name = f"{self._safe(job)}-e{epoch:04d}.safetensors"
        save_tensors(self.dir / name, tensors)
        sidecar = self.dir / f"{self._safe(job)}.json"
        previous = json.loads(sidecar.read_text()).get("tensors") if sidecar.exists() else None
        write_json(
            sidecar,
            {
                "job": job,
                "epoch": epoch,
                "tensors": name,
                "curves": curves,
                "param_groups": opt["param_groups"],
                "optim_scalars": scalars,
            },
        )
        if previous and previous != name:
            (self.dir / previous).unlink(missing_ok=True)

    def load_epoch(self, job: str, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict] | None:
        """Restore model and optimiser in place; returns (epochs done, curves) or ``None``."""
        sidecar = self.dir / f"{self._safe(job)}.json"
        if not sidecar.exists():
            return None
        meta = json.loads(sidecar.read_text())
        tensors = load_file(str(self.dir / meta["tensors"]))
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
        sidecar = self.dir / f"{self._safe(job)}.json"
        if sidecar.exists():
            tensors = json.loads(sidecar.read_text()).get("tensors")
            sidecar.unlink()
            if tensors:
                (self.dir / tensors).unlink(missing_ok=True)

    def load_done(self, job: str) -> dict[str, Any] | None:
        path = self.dir / f"{self._safe(job)}.done.json"
        return json.loads(path.read_text()) if path.exists() else None


__all__ = ["Checkpoints"]
