"""``microexp.device``: what ``auto``/``cpu``/``cuda`` and ``MICROEXP_DEVICE`` resolve to, the typed error
for a missing GPU, and the Predictor and ``python -m microexp predict`` taking the device from either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from microexp.device import ENV, DeviceError, amp_dtype, autocast, resolve_device
from microexp.errors import MicroExpError
from microexp.models import MicroExpSTCNN
from microexp.pipeline import Predictor
from microexp.spec import InputSpec

ROOT = Path(__file__).resolve().parents[2]
NO_GPU = not torch.cuda.is_available()
needs_no_gpu = pytest.mark.skipif(not NO_GPU, reason="checks the behaviour on a machine without a usable GPU")


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_cpu_and_auto_resolve_to_a_torch_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == expected and resolve_device(None) == expected  # default: auto


@needs_no_gpu
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_gpu_is_a_typed_error_not_a_silent_fallback(name):
    with pytest.raises(DeviceError, match="no CUDA GPU") as info:
        resolve_device(name)
    assert isinstance(info.value, MicroExpError)  # the CLI and the app print it as one line


@pytest.mark.parametrize("name", ["gpu", "cpu:0", "cuda:x", "mps", ""])  # an empty argument is not "unset"
def test_unknown_device_names_list_the_choices(name):
    with pytest.raises(DeviceError, match="choose from auto, cpu, cuda"):
        resolve_device(name)


def test_environment_variable_is_the_default(monkeypatch):
    monkeypatch.setenv(ENV, "cpu")
    assert resolve_device() == torch.device("cpu")
    monkeypatch.setenv(ENV, "tpu")
    with pytest.raises(DeviceError, match=ENV):  # the message says where the bad name came from
        resolve_device()
    assert resolve_device("cpu") == torch.device("cpu")  # an explicit argument wins


def test_cpu_keeps_fp32_no_autocast():
    cpu = torch.device("cpu")
    assert amp_dtype(cpu) is None
    with autocast(cpu):
        y = torch.nn.Linear(4, 2)(torch.ones(1, 4))
    assert y.dtype == torch.float32


def _model() -> MicroExpSTCNN:
    torch.manual_seed(0)
    return MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6), filters=4, hidden=8)


def test_predictor_device_from_argument_or_environment(monkeypatch):
    predictor = Predictor(_model(), device="cpu")
    assert predictor.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in predictor.model.parameters())
    monkeypatch.setenv(ENV, "bogus")  # the app builds Predictors without a device: the variable decides
    with pytest.raises(DeviceError, match=ENV):
        Predictor(_model())


@needs_no_gpu
def test_predictor_on_missing_gpu_raises_before_any_work(monkeypatch):
    with pytest.raises(DeviceError):
        Predictor(_model(), device="cuda")
    monkeypatch.setenv(ENV, "cuda")
    with pytest.raises(DeviceError):
        Predictor(_model())


def test_predictor_infer_on_cpu_returns_probabilities():
    predictor = Predictor(_model(), device="cpu")
    x = predictor.model.example_inputs(3)
    probs = predictor._infer(x)
    assert probs.shape == (3, 3) and abs(float(probs.sum()) - 3) < 1e-5
    with torch.inference_mode():
        expected = torch.softmax(predictor.model(*x), dim=1).numpy()
    assert (abs(probs - expected) < 1e-6).all()


def _cli(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "microexp", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("device_model")
    _model().save_pretrained(folder)
    return folder


def test_cli_predict_device_cpu(model_dir, face_mp4):
    proc = _cli("predict", face_mp4, "--model", model_dir, "--json", "--device", "cpu", env={ENV: "bogus"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # the flag wins over the variable
    assert all(sum(w["probs"]) == pytest.approx(1, abs=1e-4) for w in json.loads(proc.stdout)["windows"])


@needs_no_gpu
def test_cli_predict_cuda_without_gpu_is_one_line(model_dir, face_mp4):
    proc = _cli("predict", face_mp4, "--model", model_dir, "--device", "cuda")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "no CUDA GPU" in proc.stderr
