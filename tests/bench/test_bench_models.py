"""bench/models.py: every implementation timed round by round in one run, Keras included through its own
environment's server, ratios from that run only, and no silent fallback to a stored Keras result."""

from __future__ import annotations

import pytest
import torch

from bench import models as bench_models
from bench.common import median_timed


def test_round_robin_counts_each_timers_own_duration():
    calls = {"fast": 0, "slow": 0}

    def timer(name: str, seconds: float):
        def run() -> float:
            calls[name] += 1
            return seconds  # what the timer measured itself (the Keras server reports its own)

        return run

    medians = median_timed({"fast": timer("fast", 1 / 1024), "slow": timer("slow", 1 / 64)},
                                              repeats=3, min_seconds=5 / 64, warmup=1)  # fmt: skip
    assert calls == {"fast": 1 + 5, "slow": 1 + 5}  # same rounds for both; the slow one sets the time budget
    assert medians == {"fast": 1 / 1024, "slow": 1 / 64}


def test_table_ratios_are_speed_ups_against_keras_and_reference():
    results = {"workloads": {"stcnn-96": {
        "keras": {"infer_b1_ms": 10.0, "infer_b16_ms": 4.0, "train_clips_s": 10.0},
        "reference": {"infer_b1_ms": 40.0, "infer_b16_ms": 8.0, "train_clips_s": 5.0},
        "fast": {"infer_b1_ms": 5.0, "infer_b16_ms": 8.0, "train_clips_s": 20.0},
        "fast-int8": {"infer_b1_ms": 2.5, "infer_b16_ms": 2.0},
    }}}  # fmt: skip
    lines = bench_models.table(results).splitlines()[2:]
    rows = {cells[1]: cells for cells in (line.strip("| ").split(" | ") for line in lines)}
    assert rows["infer_b1_ms"][7:] == ["2.00x", "4.00x", "-", "8.00x"]  # fast, int8, bf16 vs keras; fast vs ref
    assert rows["infer_b16_ms"][7:] == ["0.50x", "2.00x", "-", "1.00x"]
    assert rows["train_clips_s"][7:] == ["2.00x", "-", "-", "4.00x"]  # clips/s: higher is better


def test_without_the_keras_environment_the_run_stops_unless_told(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert bench_models.main(["--keras-python", str(tmp_path / "no-python"), "--out", str(out)]) == 2
    assert "--no-keras" in capsys.readouterr().err and not out.exists()


def test_skipped_implementations_are_not_timed():
    speed = bench_models.measure("stcnn", 18, repeats=1, min_seconds=0.0, skip=("reference", "fast-bf16"))
    assert set(speed) == {"fast", "fast-int8"} and set(speed["fast"]) == {"infer_b1_ms", "infer_b16_ms", "train_clips_s"}


def test_machine_record_names_cpu_flags_threads():
    record = bench_models.machine()
    assert set(record["cpu_flags"]) == {"avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"}
    assert record["threads"] == torch.get_num_threads() and record["torch_capability"]


@pytest.mark.skipif(not bench_models.KERAS_PYTHON.exists(), reason="no Keras venv (bench/requirements-keras.txt)")
def test_keras_is_timed_in_the_same_run():
    keras = bench_models.KerasServer(bench_models.KERAS_PYTHON, threads=1)
    try:
        assert keras.ask(cmd="info")["backend"] == "tensorflow"
        speed = bench_models.measure("stcnn", 18, repeats=1, min_seconds=0.0, keras=keras)
    finally:
        keras.close()
    assert set(speed) == {"keras", "reference", "fast", "fast-int8", "fast-bf16"}
    assert set(speed["keras"]) == {"infer_b1_ms", "infer_b16_ms", "train_clips_s"}
    assert all(v > 0 for v in speed["keras"].values())
