"""``python -m train fit --device``: the run trains on the device asked (CPU here, exact fast path), a
missing GPU is a one-line user error, and the process group backend follows the device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from microexp.device import ENV
from train import fit
from train.config import FitConfig, TrainingError
from train.distributed import DistContext, init_distributed, process_group_backend, weights_digest
from train.fit import save_tensor_set
from tests.train.test_fit import blob_set, fit_args

NO_GPU = not torch.cuda.is_available()


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture(scope="module")
def tensors_file(tmp_path_factory) -> Path:
    small = blob_set(per_class=1, size=32)
    return save_tensor_set(small, tmp_path_factory.mktemp("t") / "b.safetensors", dataset_name="blobs", synthetic=True)


def test_backend_follows_the_device():
    assert process_group_backend(torch.device("cpu")) == "gloo"
    assert process_group_backend(torch.device("cuda", 1)) == "cpu:gloo,cuda:nccl"  # CPU stats still over gloo


def test_single_process_context_carries_the_device(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_distributed("cpu") == DistContext(device=torch.device("cpu"))
    monkeypatch.setenv(ENV, "cpu")
    assert init_distributed().device == torch.device("cpu")
    assert DistContext().device == torch.device("cpu")  # callers that build one by hand stay on CPU


def test_config_rejects_unknown_device_names():
    with pytest.raises(TrainingError, match="unknown device"):
        FitConfig(device="gpu")
    assert FitConfig(device="cuda:1").device == "cuda:1"  # availability is checked when the run starts


def test_fit_on_cpu_records_the_device_and_trains(tensors_file, tmp_path):
    out = tmp_path / "cpu"
    assert fit.main(fit_args(tensors_file, out, 1, "--device", "cpu", "--no-release")[1:]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["device"] == "cpu"
    assert json.loads((out / "metrics.json").read_text())["folds"] == 4


@pytest.mark.skipif(not NO_GPU, reason="checks the error on a machine without a usable GPU")
def test_fit_cuda_without_gpu_is_one_line(tensors_file, tmp_path, capsys, monkeypatch):
    assert fit.main(fit_args(tensors_file, tmp_path / "x", 1, "--device", "cuda")[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no CUDA GPU" in err and len(err.splitlines()) == 1
    monkeypatch.setenv(ENV, "cuda")
    assert fit.main(fit_args(tensors_file, tmp_path / "y", 1)[1:]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_weights_digest_reads_any_device():
    model = torch.nn.Linear(2, 2)
    assert weights_digest(model) == weights_digest(model.to("cpu"))
