"""Hub plumbing shared by every architecture: safetensors-only save/load and a registry.

``PyTorchModelHubMixin`` builds ``config.json`` from ``__init__`` arguments; we add the
architecture name to it so :func:`load_model` can pick the class from the config alone, and we
refuse pickle checkpoints (the mixin would otherwise fall back to ``pytorch_model.bin``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
from safetensors import SafetensorError
from safetensors.torch import load_model as load_safetensors_model
from safetensors.torch import save_model as save_safetensors_model
from torch import nn

from ..errors import ModelError
from ..spec import InputSpec
from .bounds import check_config

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
REGISTRY: dict[str, type[MicroExpModel]] = {}


def register(*names: str):
    """Class decorator: make the class loadable by each architecture name in ``config.json``."""

    def decorate(cls: type[MicroExpModel]) -> type[MicroExpModel]:
        for name in names:
            REGISTRY[name] = cls
        return cls

    return decorate


class MicroExpModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="microexp",
    tags=["micro-expression", "video-classification", "3d-cnn", "microexp"],
    repo_url="https://github.com/microexp/microexp",
    license="mit",
    pipeline_tag="video-classification",
):
    """Base class: an ``nn.Module`` whose ``forward`` takes one tensor per region of its spec."""

    arch: str  # registry name, written to config.json
    spec: InputSpec

    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        save_safetensors_model(self, str(save_directory / WEIGHTS_NAME), metadata={"format": "pt"})
        config = dict(self._hub_mixin_config or {})
        config = {k: _jsonable(v) for k, v in config.items()}
        config.update(arch=self.arch, input_spec=self.spec.to_dict())  # the whole contract, defaults included
        (save_directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs: Any,
    ) -> MicroExpModel:
        check_config(cls, model_kwargs, f"{model_id} config.json")  # before allocating anything it sizes
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.isfile(weights):
                raise ModelError(f"{model_id} has no {WEIGHTS_NAME}; MicroExp loads safetensors weights only")
        else:
            try:
                weights = hf_hub_download(
                    repo_id=model_id,
                    filename=WEIGHTS_NAME,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    token=token,
                    local_files_only=local_files_only,
                )
            except EntryNotFoundError as exc:  # never fall back to pickle
                raise ModelError(f"{model_id} has no {WEIGHTS_NAME}; MicroExp loads safetensors weights only") from exc
        try:
            load_safetensors_model(model, weights, strict=strict, device=map_location)
        except (SafetensorError, RuntimeError, OSError) as exc:  # truncated, corrupt or other-shaped weights
            detail = "; ".join(line.strip() for line in str(exc).splitlines())[:400]
            raise ModelError(f"{model_id}: {WEIGHTS_NAME} does not load into its config.json model: {detail}") from exc
        model.eval()
        return model

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """Random inputs of the right shapes, for tests, benchmarks and tracing."""
        return tuple(torch.randn(batch, *shape) for shape in self.spec.input_shapes())


def _jsonable(value: Any) -> Any:
    if isinstance(value, InputSpec):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def read_config(model_id: str | os.PathLike[str], revision: str | None = None, **hub_kwargs: Any) -> dict[str, Any]:
    """Read ``config.json`` from a local directory or a Hub repo (downloading it if needed)."""
    model_id = str(model_id)
    try:
        if os.path.isdir(model_id):
            path = os.path.join(model_id, CONFIG_NAME)
        else:
            path = hf_hub_download(repo_id=model_id, filename=CONFIG_NAME, revision=revision, **hub_kwargs)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, HfHubHTTPError, ValueError) as exc:
        raise ModelError(f"cannot read {CONFIG_NAME} of {model_id!r}: {exc}") from exc


def load_model(model_id: str | os.PathLike[str], revision: str | None = None, **hub_kwargs: Any) -> MicroExpModel:
    """Load any MicroExp model from a ``save_pretrained`` directory or a Hub repo id."""
    config = read_config(model_id, revision=revision, **hub_kwargs)
    arch = config.get("arch")
    if arch not in REGISTRY:
        raise ModelError(f"{model_id!s}: unknown architecture {arch!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[arch].from_pretrained(str(model_id), revision=revision, **hub_kwargs)
