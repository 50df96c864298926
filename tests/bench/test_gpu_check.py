"""bench/gpu_check.py on a machine without a GPU: the same predict / explain / fit code on the CPU twice,
so every difference it reports must be exactly zero (a smoke test of the device plumbing)."""

from __future__ import annotations

import json

import pytest
import torch

from bench import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine run bench/gpu_check.py itself")
def test_gpu_check_runs_on_cpu_as_a_smoke_test(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--device", "auto", "--epochs", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["device"] == "cpu"
    assert result["predict"]["windows"] > 0 and result["predict"]["max_prob_diff"] == 0.0
    assert result["predict"]["same_prediction"] is True
    assert result["explain"]["max_map_diff_rel"] == 0.0
    assert result["fit"]["max_weight_diff"] == 0.0 and result["fit"]["loss_cpu"] == result["fit"]["loss_device"]
    assert "predict: model stage" in capsys.readouterr().out
