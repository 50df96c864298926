"""``python -m microexp``: JSON output on a real clip; one clear stderr line and a non-zero exit for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from microexp.models import MicroExpSTCNN
from microexp.spec import InputSpec

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "microexp", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli_model")
    torch.manual_seed(0)
    MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6)).save_pretrained(folder)
    return folder


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and needle in lines[0].lower(), lines[0]
    assert "Traceback" not in proc.stderr


def test_predict_json(model_dir, face_mp4):
    proc = run("predict", face_mp4, "--model", model_dir, "--json", "--stride", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # MediaPipe's native logging is silenced
    data = json.loads(proc.stdout)
    assert data["labels"] == ["negative", "positive", "surprise"]
    assert [w["start"] for w in data["windows"]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.3667]
    for w in data["windows"]:
        assert w["end"] == pytest.approx(w["start"] + 0.6, abs=1e-3) and sum(w["probs"]) == pytest.approx(1, abs=1e-4)
    assert data["intervals"] == [] and data["prediction"] is None  # a still face: nothing spotted
    assert 0 <= data["best_window"] < len(data["windows"])
    assert {"decode", "landmarks", "align", "model", "total"} <= set(data["timings_ms"])


def test_predict_json_lists_spotted_intervals(model_dir):
    example = ROOT / "examples" / "surprise_au1-au2-au26_biden.mp4"  # apex at 0.70 s
    proc = run("predict", example, "--model", model_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    [interval] = data["intervals"]
    assert set(interval) == {"onset", "apex", "offset", "score", "label", "probs", "window"}
    assert interval["onset"] <= interval["apex"] <= interval["offset"] and abs(interval["apex"] - 0.7) <= 0.1
    assert interval["label"] == data["prediction"] in data["labels"]
    assert sum(interval["probs"]) == pytest.approx(1, abs=1e-4)
    window = data["windows"][interval["window"]]
    assert window["centred"] and data["best_window"] == interval["window"]
    assert (window["start"] + window["end"]) / 2 == pytest.approx(interval["apex"], abs=0.02)
    text = run("predict", example, "--model", model_dir)
    assert text.returncode == 0 and "interval (onset-apex-offset s)" in text.stdout
    assert text.stdout.splitlines()[0].startswith(data["prediction"])
    assert data["apex_spread"] == [0.0] and "windows around it" not in text.stdout
    # three windows around the apex, asked for on the command line: said in the JSON and in the text
    spread = run("predict", example, "--model", model_dir, "--json", "--apex-spread", "-0.15", "0", "0.15")
    assert spread.returncode == 0, spread.stderr
    assert json.loads(spread.stdout)["apex_spread"] == [-0.15, 0.0, 0.15]
    text = run("predict", example, "--model", model_dir, "--apex-spread", "-0.15", "0", "0.15")
    assert "labelled by the mean of 3 windows around it" in text.stdout.splitlines()[0]
    assert_one_line_error(run("predict", example, "--model", model_dir, "--apex-spread", "0.8"), "apex_spread")
    # the test-time flip, asked for: said in the JSON and the text; the default (no config.json `mirror`) is off
    assert data["mirror"] is False and "mirrored" not in text.stdout
    flipped = run("predict", example, "--model", model_dir, "--json", "--mirror", "yes")
    assert flipped.returncode == 0, flipped.stderr
    assert json.loads(flipped.stdout)["mirror"] is True
    text = run("predict", example, "--model", model_dir, "--mirror", "yes")
    assert "each window also read mirrored" in text.stdout.splitlines()[0]


def test_a_short_clip_is_an_excerpt_unless_told_otherwise(model_dir, tmp_path):
    """2 s of a still face: labelled as an excerpt by default; ``--excerpt no`` spots it like a recording."""
    from train.synth.media import face_clip

    short = face_clip(tmp_path / "short.mp4", photo="grace_hopper.jpg", seconds=2.0)
    auto, recording = (json.loads(run("predict", short, "--model", model_dir, "--json", *flag).stdout)
                       for flag in ((), ("--excerpt", "no")))  # fmt: skip
    assert auto["excerpt"] is True and auto["prediction"] in auto["labels"]
    assert any("excerpt" in n for n in auto["notices"])
    assert recording["excerpt"] is False and recording["prediction"] is None and recording["intervals"] == []


def test_predict_bf16_opt_in_agrees_with_fp32(model_dir, face_mp4):
    """bf16 where the CPU computes it natively; elsewhere (slower there) a warning and the fp32 numbers."""
    from microexp.models.fast import native_bf16

    outs = [run("predict", face_mp4, "--model", model_dir, "--json", *flag) for flag in ((), ("--bf16",))]
    assert all(p.returncode == 0 for p in outs), [p.stderr for p in outs]
    fp32, bf16 = (json.loads(p.stdout) for p in outs)
    assert bf16["prediction"] == fp32["prediction"] and bf16["best_window"] == fp32["best_window"]
    for a, b in zip(fp32["windows"], bf16["windows"], strict=True):
        assert b["probs"] == pytest.approx(a["probs"], abs=0.02)
        if native_bf16():
            assert b["probs"] != a["probs"]  # really ran in bf16
        else:
            assert b["probs"] == a["probs"]  # ran fp32
    if native_bf16():
        assert outs[1].stderr == ""
    else:  # never slower without saying so
        assert outs[1].stderr.startswith("warning: --bf16 ignored") and "fp32" in outs[1].stderr


def test_predict_text_output(model_dir, face_clips):
    proc = run("predict", face_clips["webm"], "--model", model_dir, "--landmark-stride", "3", "--excerpt", "no")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first == "none: no micro-expression found"  # a still face spotted as a recording: no class is given
    assert any(line.startswith("  0.00-  0.60 s") for line in proc.stdout.splitlines())  # the sliding windows


BAD = {
    "empty": "empty",
    "text": "not a video",
    "truncated": "not a video",
    "audio": "no video track",
    "still_jpg": "still image",
    "one_frame": "frame",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_files(model_dir, bad_media, kind):
    assert_one_line_error(run("predict", bad_media[kind], "--model", model_dir), BAD[kind])


def test_no_face(model_dir, no_face_mp4):
    assert_one_line_error(run("predict", no_face_mp4, "--model", model_dir), "no face")


def test_two_faces(model_dir, two_faces_mp4):
    assert_one_line_error(run("predict", two_faces_mp4, "--model", model_dir, "--json"), "several faces")


def test_ten_minutes(model_dir, long_mp4):
    assert_one_line_error(run("predict", long_mp4, "--model", model_dir), "limit")
    assert_one_line_error(run("predict", long_mp4, "--model", model_dir, "--max-seconds", "30"), "30 s limit")


def test_missing_file_and_model(model_dir, face_clips, tmp_path):
    assert_one_line_error(run("predict", tmp_path / "nope.mp4", "--model", model_dir), "not found")
    assert_one_line_error(run("predict", face_clips["mp4"], "--model", tmp_path / "nomodel"), "does not exist")


def test_portrait_rotated(model_dir, rotated_mp4):
    proc = run("predict", rotated_mp4, "--model", model_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["clip"]["size"] == [360, 640]


def test_fetch_face_model():
    proc = run("fetch-face-model")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_file() and proc.stdout.strip().endswith(".task")
