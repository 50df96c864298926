"""Probe generator: the mesh warp moves the intended landmarks by the intended amount (checked with
real MediaPipe on the rendered frames), nothing moves outside onset..offset, determinism, and the
written dataset loads through the synthetic loader."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from microexp.video import load_clip
from train import probe
from train.datasets import load_dataset
from train.probe import aus

STILL = probe.ProbeSettings(nuisances=False)
SMALL = probe.ProbeSettings(size=(192, 160), fps=(25, 30), seconds=(1.0, 1.2))
CORNERS = (61, 291)
BROWS = (105, 334, 66, 296, 107, 336)


@pytest.fixture(scope="module")
def obama(photos):
    return next(p for p in photos if p.name == "obama_2012_official")


def _measured_shift(landmarker, clip):
    """Landmark motion neutral -> apex as MediaPipe sees it in the rendered frames, pixels."""
    before = landmarker.detect(clip.frames[0])[0][:, :2]
    after = landmarker.detect(clip.frames[clip.apex])[0][:, :2]
    return after - before


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_au12_pulls_the_lip_corners_by_the_intended_amount(landmarker, obama):
    clip = probe.make_probe_clip(obama.rgb, obama.landmarks, "positive", np.random.default_rng(5), STILL,
                                 recipe="AU12", amplitude=0.09)  # fmt: skip
    measured = _measured_shift(landmarker, clip)
    _, _, iod = aus.face_frame(clip.landmarks)
    assert np.linalg.norm(clip.shift, axis=1).max() == pytest.approx(0.09 * iod, rel=1e-6)
    for i in CORNERS:
        intended = clip.shift[i]
        assert np.linalg.norm(intended) > 0.05 * iod  # a corner is (near) the most moved point
        assert 0.5 < np.linalg.norm(measured[i]) / np.linalg.norm(intended) < 1.5
        assert _cos(measured[i], intended) > 0.85
        assert intended[1] < 0  # upwards in the image
    corner = np.linalg.norm(measured[list(CORNERS)], axis=1).mean()
    assert np.linalg.norm(measured[list(BROWS)], axis=1).max() < 0.3 * corner


def test_au1_au2_raise_the_brows_and_leave_the_mouth(landmarker, obama):
    clip = probe.make_probe_clip(obama.rgb, obama.landmarks, "surprise", np.random.default_rng(6), STILL,
                                 recipe="AU1+AU2", amplitude=0.09)  # fmt: skip
    measured = _measured_shift(landmarker, clip)
    brows = measured[list(BROWS)]
    assert (brows[:, 1] < 0).all()  # every brow point rises
    assert np.linalg.norm(brows, axis=1).mean() > 0.5 * np.linalg.norm(clip.shift[list(BROWS)], axis=1).mean()
    assert np.linalg.norm(measured[list(CORNERS)], axis=1).max() < 0.3 * np.linalg.norm(brows, axis=1).mean()


@pytest.mark.parametrize("label", probe.LABELS)
def test_the_face_is_still_outside_onset_offset(obama, label):
    clip = probe.make_probe_clip(obama.rgb, obama.landmarks, label, np.random.default_rng(11), STILL)
    n = len(clip.frames)
    outside = [*range(0, clip.onset + 1), *range(clip.offset, n)]
    assert all(np.array_equal(clip.frames[i], clip.frames[0]) for i in outside)
    assert not np.array_equal(clip.frames[clip.apex], clip.frames[0])
    assert clip.onset < clip.apex < clip.offset < n - 1
    assert clip.profile[clip.apex] == 1.0 and clip.profile[outside].max() == 0.0
    assert 0.2 - 1.5 / clip.fps <= (clip.offset - clip.onset) / clip.fps <= 0.45 + 1.5 / clip.fps
    assert 25 <= clip.fps <= 60
    assert any(clip.recipe == r for r, _ in probe.RECIPES[label])


def test_nuisances_move_the_still_frames(obama):
    clip = probe.make_probe_clip(obama.rgb, obama.landmarks, "negative", np.random.default_rng(2))
    assert not np.array_equal(clip.frames[0], clip.frames[clip.onset])


def test_unknown_label_or_action_unit_is_refused(obama):
    with pytest.raises(ValueError, match="unknown label"):
        probe.make_probe_clip(obama.rgb, obama.landmarks, "happiness", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown action units"):
        aus.parse_aus("AU99")


def test_same_seed_same_bytes_and_the_layout_loads(tmp_path, photos):
    config = probe.ProbeConfig(clips=5, seed=4, settings=SMALL)
    a = probe.generate_probe(config, tmp_path / "a", photos=photos, progress=False).parent
    b = probe.generate_probe(config, tmp_path / "b", photos=photos, progress=False).parent
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    c = probe.generate_probe(probe.ProbeConfig(clips=5, seed=5, settings=SMALL), tmp_path / "c", photos=photos,
                             progress=False).parent  # fmt: skip
    assert (a / "annotations.csv").read_bytes() != (c / "annotations.csv").read_bytes()

    rows = list(csv.DictReader((a / "annotations.csv").open()))
    records, report = load_dataset(f"synthetic={a}")
    assert not report.issues and len(records) == len(rows) == 5
    persons = {r["person"] for r in rows}
    assert len(persons) == 4 and len({r["subject"] for r in rows}) == 4  # one subject per person
    meta = json.loads((a / "probe_config.json").read_text())
    assert meta["probe"] is True and meta["generator"] == "train.probe"
    for row, rec in zip(rows, records, strict=True):
        assert rec.subject == f"synthetic/{row['subject']}" and rec.clip == row["clip"]
        assert (rec.onset, rec.apex, rec.offset) == tuple(int(row[k]) - 1 for k in ("onset", "apex", "offset"))
        assert rec.label3 == row["label"] and rec.fps == float(row["fps"])
        assert len(load_clip(rec.video).frames) == int(row["frames"])
        assert meta["clips"][f"{row['subject']}/{row['clip']}"]["probe"] is True


def test_cli_refuses_a_non_empty_folder(tmp_path, capsys):
    from train.__main__ import main as train_main

    (tmp_path / "keep.txt").write_text("x")
    assert train_main(["probe", "--out", str(tmp_path), "--clips", "1", "--quiet"]) == 1
    assert "not empty" in capsys.readouterr().err
