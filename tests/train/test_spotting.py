"""Spotting evaluation: MEGC metrics on hand-made intervals (scores worked out by hand in the
comments), the long-video loaders on tiny trees in each documented layout, and the evaluation
path on a real face video through the real MediaPipe landmarker."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from microexp.errors import DatasetError
from tests import dataset_trees as trees
from train.spotting import (
    GTInterval,
    LongVideoRecord,
    Spotted,
    VideoOutcome,
    frame_iou,
    load_casme_sq_long,
    load_long_dataset,
    load_samm_long,
    load_synthetic_long,
    match_intervals,
    score_outcomes,
)
from train.spotting.evaluate import IntervalRecogniser, evaluate_records, frame_step, to_frame
from train.synth.media import encode, face_frames

try:  # the spotting stage's own types once it is merged; the formats.md API until then
    from microexp.spot import Interval, SpotResult
except ImportError:

    @dataclass(frozen=True)
    class Interval:
        onset: float
        apex: float
        offset: float
        score: float = 1.0

    @dataclass(frozen=True)
    class SpotResult:
        times: np.ndarray
        score: np.ndarray
        intervals: tuple[Interval, ...]
        notices: tuple[str, ...] = ()


def micro(onset, apex, offset, label=""):
    return GTInterval(onset, apex, offset, "micro", label)


# --- metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 9), (0, 9), 1.0),
        ((0, 9), (5, 14), 5 / 15),  # frames 5..9 shared, 0..14 in either
        ((0, 9), (2, 9), 8 / 10),
        ((0, 3), (4, 7), 0.0),  # touching, not overlapping
        ((3, 3), (3, 3), 1.0),  # one frame each
    ],
)
def test_frame_iou_counts_inclusive_frames(a, b, expected):
    assert frame_iou(a, b) == pytest.approx(expected)
    assert frame_iou(b, a) == pytest.approx(expected)


def test_each_ground_truth_is_matched_once_greedily_by_iou():
    truth = [micro(0, 5, 9)]
    # The lower-scored interval overlaps more (IoU 1.0 vs 0.9): matching is by IoU, not by score.
    spotted = [Spotted(1, 5, 9, score=0.9), Spotted(0, 5, 9, score=0.1)]
    assert match_intervals(spotted, truth) == [(1, 0, 1.0)]
    # IoU exactly 0.5 counts (frames 0..9 vs 0..4: 5 / 10).
    assert match_intervals([Spotted(0, 2, 4)], truth) == [(0, 0, 0.5)]
    assert match_intervals([Spotted(0, 2, 3)], truth) == []  # 4 / 10


def hand_set() -> list[VideoOutcome]:
    """Five videos; the expected scores are worked out in the tests below."""
    a = VideoOutcome(
        "s/a",
        (micro(10, 15, 19, "negative"), GTInterval(40, 50, 69, "macro", "positive"), GTInterval(80, 82, 84, "blink")),
        (
            Spotted(11, 15, 20, 0.9, "negative"),  # IoU 9/11 with the micro: TP
            Spotted(80, 82, 85, 0.5),  # on the blink: FP
            Spotted(45, 50, 60, 0.7, "positive"),  # IoU 16/30 with the macro: FP for micro, TP for all
        ),
    )
    b = VideoOutcome(
        "s/b",
        (micro(100, 104, 109, "positive"), micro(200, 205, 209, "surprise")),
        (
            Spotted(103, 104, 120, 0.8, "positive"),  # IoU 7/21: FP on a micro, but holds its apex
            Spotted(200, 205, 209, 0.6, "negative"),  # TP, wrong class
        ),
    )
    c = VideoOutcome("s/c", (GTInterval(0, 20, 50, "speech"),), ())  # no micro, nothing spotted
    d = VideoOutcome("s/d", (), (Spotted(5, 7, 10, 0.3),))  # no micro, a background FP
    e = VideoOutcome("s/e", (micro(0, 2, 5, "surprise"),), error="NoFaceError: no face")
    return [a, b, c, d, e]


def test_micro_scores_of_the_hand_set():
    s = score_outcomes(hand_set())
    # TP: a's micro, b's second micro. FP: blink, macro, b's first, d's. FN: b's first, e's.
    assert (s["tp"], s["fp"], s["fn"]) == (2, 4, 2)
    assert s["precision"] == pytest.approx(2 / 6)
    assert s["recall"] == pytest.approx(2 / 4)
    assert s["f1"] == pytest.approx(0.4)  # 2 * (1/3) * (1/2) / (1/3 + 1/2)
    assert s["apex_hit_rate"] == {"hits": 3, "total": 4, "rate": 0.75}  # e's apex is missed
    # The 3 apex hits: IoU 9/11 (length 10/10), 7/21 (18/10), 1 (10/10).
    assert s["apex_hits_localisation"] == {
        "median_iou": pytest.approx(9 / 11),
        "median_length_ratio": pytest.approx(1.0),
        "share_iou_at_threshold": pytest.approx(2 / 3),
    }
    assert s["none_rate"] == {"hits": 1, "total": 2, "rate": 0.5}  # c yes, d no; e failed
    assert s["fp_by_event"] == {"background": 1, "blink": 1, "macro": 1, "micro": 1}
    assert (s["videos"], s["failed"]) == (5, 1)
    # Recognition on the 2 TPs: negative->negative, surprise->negative. Per-class F1: negative
    # 2/3 (P 1/2, R 1), surprise 0; positive has no support and stays out: UF1 = 1/3.
    assert s["recognition"]["n"] == 2
    assert s["recognition"]["uf1"] == pytest.approx(1 / 3)
    assert s["strs"] == pytest.approx(0.4 / 3)


def test_all_kind_scores_macro_too():
    s = score_outcomes(hand_set(), kind="all")
    assert (s["tp"], s["fp"], s["fn"]) == (3, 3, 2)
    assert s["f1"] == pytest.approx(2 * 0.5 * 0.6 / 1.1)  # P 3/6, R 3/5
    # negative->negative, positive->positive, surprise->negative: F1s 2/3, 1, 0.
    assert s["recognition"]["uf1"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_no_labels_no_strs_and_no_spots_no_precision():
    outcomes = [VideoOutcome("s/x", (micro(0, 1, 2, "negative"),), (Spotted(0, 1, 2),))]
    s = score_outcomes(outcomes)
    assert s["f1"] == 1.0 and s["recognition"] is None and s["strs"] is None
    assert s["recognition_unlabelled_tp"] == 1
    s = score_outcomes([VideoOutcome("s/y", (micro(0, 1, 2),))])
    assert (s["tp"], s["fp"], s["fn"], s["precision"], s["f1"]) == (0, 0, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="kind"):
        score_outcomes(outcomes, kind="blink")


def test_seconds_to_frames_and_frame_step():
    assert to_frame(0.5, 30.0, 100) == 15
    assert to_frame(-0.1, 30.0, 100) == 0 and to_frame(9.0, 30.0, 100) == 99
    assert frame_step(200.0, 30.0) == 7  # 200 / 7 = 28.6 fps <= 30
    assert frame_step(30.0, 30.0) == 1 and frame_step(200.0, None) == 1


# --- loaders ---------------------------------------------------------------------------------

SYNTH_HEADER = ("subject", "person", "clip", "kind", "onset", "apex", "offset", "label", "aus", "fps")


def build_synthetic_long(base: Path) -> Path:
    """``sub01/long_0001.mp4`` (6 frames) with rows; ``sub01/long_0002/`` frames with one blink only;
    ``sub02/long_0003.mp4`` and ``sub02/long_0004/`` with no row (nothing happens; rates from the
    video and from ``long_config.json``); rows for ``sub02/long_0009`` (no file),
    a ``yawn`` kind on long_0003 (bad row, clip kept: not ground truth) and a micro with onset ``x``
    on ``sub02/long_0005.mp4`` (bad row: the clip is left out, its ground truth incomplete)."""
    root = base / "synthetic_long"
    trees.write_video(root / "sub01" / "long_0001.mp4", n_frames=6, fps=25)
    trees.write_frames(root / "sub01" / "long_0002", [f"img{n}.jpg" for n in range(1, 11)])
    trees.write_video(root / "sub02" / "long_0003.mp4", n_frames=6, fps=25)
    trees.write_frames(root / "sub02" / "long_0004", [f"img{n}.jpg" for n in range(1, 6)])
    trees.write_video(root / "sub02" / "long_0005.mp4", n_frames=6, fps=25)
    rows = [
        SYNTH_HEADER,
        ("sub01", "obama", "long_0001", "micro", 2, 3, 4, "negative", "AU4", 25),
        ("sub01", "obama", "long_0001", "macro", 1, "", 6, "positive", "AU12", 25),
        ("sub01", "obama", "long_0001", "speech", 1, 3, 6, "", "", 25),
        ("sub01", "obama", "long_0002", "blink", 4, 5, 6, "", "", 30),
        ("sub02", "hopper", "long_0009", "micro", 1, 2, 3, "surprise", "AU1+AU2", 25),
        ("sub02", "hopper", "long_0003", "yawn", 1, 2, 3, "", "", 25),
        ("sub02", "hopper", "long_0005", "micro", "x", 2, 3, "surprise", "", 25),
        ("sub02", "hopper", "long_0005", "blink", 1, 2, 3, "", "", 25),
    ]
    root.mkdir(parents=True, exist_ok=True)
    with (root / "intervals.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    (root / "long_config.json").write_text(json.dumps({"config": {"fps": 25}}))
    return root


def test_synthetic_long_loader(tmp_path):
    root = build_synthetic_long(tmp_path)
    records, report = load_synthetic_long(root)
    by_key = {r.key: r for r in records}
    assert sorted(by_key) == [
        "synthetic-long/sub01/long_0001",
        "synthetic-long/sub01/long_0002",
        "synthetic-long/sub02/long_0003",
        "synthetic-long/sub02/long_0004",
    ]
    first = by_key["synthetic-long/sub01/long_0001"]
    assert first.video == root / "sub01" / "long_0001.mp4" and first.fps == 25.0
    assert first.truth("micro") == (GTInterval(1, 2, 3, "micro", "negative", "AU4"),)
    # macro apex blank -> midpoint of frames 1..6 (1-based 3 -> 0-based 2)
    assert [(g.kind, g.onset, g.apex, g.offset) for g in first.truth("all")] == [("macro", 0, 2, 5), ("micro", 1, 2, 3)]
    assert {g.kind for g in first.intervals} == {"micro", "macro", "speech"}
    second = by_key["synthetic-long/sub01/long_0002"]
    assert second.video is None and len(second.frames) == 10 and second.fps == 30.0 and second.truth("all") == ()
    third = by_key["synthetic-long/sub02/long_0003"]
    assert third.intervals == () and third.fps == 25.0  # rate from the video container
    fourth = by_key["synthetic-long/sub02/long_0004"]
    assert fourth.intervals == () and fourth.fps == 25.0 and len(fourth.frames) == 5  # from long_config.json
    kinds = sorted((i.kind, i.clip) for i in report.issues)
    assert ("missing_on_disk", "long_0009") in kinds
    assert [i.clip for i in report.issues if i.kind == "bad_row"] == ["long_0003", "long_0005"]
    assert ("incomplete_truth", "long_0005") in kinds
    assert ("apex_filled", "long_0001") in kinds and ("no_events", "long_0003") in kinds
    assert report.n_records == 4


def test_synthetic_long_needs_its_csv_and_columns(tmp_path):
    with pytest.raises(DatasetError, match="intervals.csv"):
        load_synthetic_long(tmp_path)
    (tmp_path / "intervals.csv").write_text("subject,clip,onset\nsub01,a,1\n")
    with pytest.raises(DatasetError, match="lacks column"):
        load_synthetic_long(tmp_path)


SAMM_HEADER = ("Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes")  # fmt: skip


def build_samm_long(base: Path) -> Path:
    """``base/SAMM_LV/SAMM_longvideos/006_1/006_1_0001.jpg..0020`` and ``006_2/`` (10 frames, no
    row) plus the release xlsx: a ``Readme`` sheet first, then ``FACS_Movement_Only`` with 10
    preamble rows. Rows:
      6, 006_1_1, onset 3 apex 5 offset 8, Micro - 1/2     -> indices 2, 4, 7
      6, 006_1_2, onset 0 apex 12 offset 25, Macro         -> onset from apex, offset clipped to 20: 11, 11, 19
      6, 006_1_3, Type "Blink"                             -> bad row
      7, 007_3_1, Micro - 1/2                              -> no folder: missing on disk
      6, 006_3_1, Macro, onset 30 offset 40 (10 files)      -> out of range: 006_3 left out
    """
    root = base / "SAMM_LV"
    trees.write_frames(root / "SAMM_longvideos" / "006_1", [f"006_1_{n:04d}.jpg" for n in range(1, 21)], grey=True)
    trees.write_frames(root / "SAMM_longvideos" / "006_2", [f"006_2_{n:04d}.jpg" for n in range(1, 11)], grey=True)
    trees.write_frames(root / "SAMM_longvideos" / "006_3", [f"006_3_{n:04d}.jpg" for n in range(1, 11)], grey=True)
    preamble = [("SAMM Long Videos",), ("Release V2",)] + [()] * 8
    rows = [
        SAMM_HEADER,
        (6, "006_1_1", 1, 3, 5, 8, 6, "Micro - 1/2", "12", ""),
        (6, "006_1_2", 1, 0, 12, 25, 26, "Macro", "4+7", "offset past the end"),
        (6, "006_1_3", 1, 4, 5, 6, 3, "Blink", "45", ""),
        (7, "007_3_1", 2, 1, 2, 3, 3, "Micro - 1/2", "1+2", ""),
        (6, "006_3_1", 2, 30, 35, 40, 11, "Macro", "12", ""),
    ]
    trees.write_xlsx(root / "SAMM_LongVideos_V2_Release.xlsx",
                     {"Readme": [("see the paper",)], "FACS_Movement_Only": preamble + rows})  # fmt: skip
    return root


def test_samm_long_loader(tmp_path):
    root = build_samm_long(tmp_path)
    records, report = load_samm_long(root)
    assert [r.key for r in records] == ["samm-long/006/006_1", "samm-long/006/006_2"]
    first, second = records
    assert first.fps == 200.0 and len(first.frames) == 20 and first.video is None
    assert first.intervals == (GTInterval(2, 4, 7, "micro", "", "12"), GTInterval(11, 11, 19, "macro", "", "4+7"))
    assert second.intervals == ()
    kinds = {(i.kind, i.clip) for i in report.issues}
    assert {("onset_filled", "006_1_2"), ("offset_clipped", "006_1_2"), ("bad_row", "006_1_3"),
            ("missing_on_disk", "007_3_1"), ("no_events", "006_2"), ("out_of_range", "006_3_1"),
            ("incomplete_truth", "006_3")} <= kinds  # fmt: skip
    assert len(report.skipped) == 4


def test_casme_sq_long_groups_expressions_per_video(tmp_path):
    root = trees.build_casme_sq(tmp_path)
    records, report = load_casme_sq_long(root)
    by_name = {r.name: r for r in records}
    assert sorted(by_name) == ["15_0101disgustingteeth", "16_0401girlcrashing", "16_0508funnyinnovations"]
    disgust = by_name["15_0101disgustingteeth"]
    assert disgust.fps == 30.0 and disgust.subject == "casme-sq-long/s15" and len(disgust.frames) == 20
    # disgust1_2's offset 0 is mirrored around the apex (14 + 2 = 16 -> index 15)
    assert disgust.intervals == (
        GTInterval(2, 5, 8, "micro", "negative", "4+7"),
        GTInterval(11, 13, 15, "micro", "positive", "12"),
    )
    girl = by_name["16_0401girlcrashing"]
    assert [(g.kind, g.label) for g in girl.intervals] == [
        ("micro", ""),
        ("macro", "negative"),
    ]  # "others" has no class
    assert girl.truth("micro") == (GTInterval(1, 4, 7, "micro", "", "1"),)
    assert by_name["16_0508funnyinnovations"].intervals == ()
    kinds = {(i.kind, i.clip) for i in report.issues}
    assert {("missing_on_disk", "happy2_1"), ("bad_row", "weird9_1"), ("offset_filled", "disgust1_2")} <= kinds


def test_load_long_dataset_by_name(tmp_path):
    root = build_synthetic_long(tmp_path)
    records, _ = load_long_dataset(f"synthetic_long={root}")
    assert len(records) == 4
    with pytest.raises(DatasetError, match="unknown"):
        load_long_dataset(f"casme2={root}")
    with pytest.raises(DatasetError, match="NAME=DIR"):
        load_long_dataset("samm-long")


# --- evaluation on a real face video ----------------------------------------------------------


@pytest.fixture(scope="module")
def face_long(tmp_path_factory) -> Path:
    """``sub01/long_0001.mp4``: 2 s at 20 fps of one face, a micro row at frames 11..16 (1-based);
    ``sub01/long_0002/``: 20 frames with no row."""
    root = tmp_path_factory.mktemp("face_long")
    (root / "sub01").mkdir()
    encode(root / "sub01" / "long_0001.mp4", face_frames("grace_hopper.jpg", 40, 20.0, (320, 240)), fps=20.0)
    folder = root / "sub01" / "long_0002"
    folder.mkdir()
    for i, rgb in enumerate(face_frames("obama_2012_official.jpg", 20, 20.0, (320, 240))):
        Image.fromarray(rgb).save(folder / f"img{i + 1}.jpg", quality=92)
    with (root / "intervals.csv").open("w", newline="") as f:
        csv.writer(f).writerows(
            [SYNTH_HEADER, ("sub01", "hopper", "long_0001", "micro", 11, 13, 16, "surprise", "", 20)]
        )
    (root / "long_config.json").write_text(json.dumps({"fps": 20}))
    return root


def fixed_spotter(clip, track):
    """Spots 0.5-0.75 s (frames 10..15 at 20 fps) in the video, nothing in the frame folder; checks
    that it gets one track frame per clip frame (one face pass, by the evaluation)."""
    assert len(track) == len(clip) and track.valid.any()
    found = (Interval(0.5, 0.6, 0.75, 0.8),) if clip.source.endswith(".mp4") else ()
    return SpotResult(clip.timestamps, np.zeros(len(clip)), found)


def test_evaluation_on_real_face_video(face_long, tmp_path):
    from microexp.models import MicroExpSTCNN
    from microexp.pipeline import Predictor
    from microexp.spec import InputSpec

    records, _ = load_synthetic_long(face_long)
    torch.manual_seed(0)
    model_dir = tmp_path / "stcnn"
    MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6)).save_pretrained(model_dir)
    recogniser = IntervalRecogniser(Predictor.from_pretrained(model_dir))
    outcomes = evaluate_records(records, fixed_spotter, recogniser, progress=False)
    video, folder = outcomes
    assert video.error is None and folder.error is None
    assert video.seconds == pytest.approx(1.95)
    (s,) = video.spotted
    assert (s.onset, s.apex, s.offset) == (10, 12, 15)  # seconds x 20 fps
    assert s.label in recogniser.labels and len(s.probs) == 3 and sum(s.probs) == pytest.approx(1.0, abs=1e-4)
    assert folder.spotted == ()
    scores = score_outcomes(outcomes, labels=recogniser.labels)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 0, 0)
    assert scores["none_rate"]["rate"] == 1.0 and scores["apex_hit_rate"]["rate"] == 1.0
    assert scores["recognition"]["n"] == 1 and scores["strs"] == pytest.approx(float(s.label == "surprise"))


def test_a_video_without_face_is_an_error_outcome(tmp_path):
    from microexp.face import FaceLandmarker

    frames = np.full((12, 120, 160, 3), 90, np.uint8)
    encode(tmp_path / "blank.mp4", frames, fps=20.0)
    record = LongVideoRecord("synthetic-long", "synthetic-long/x", "blank", tmp_path / "blank.mp4", (), 20.0,
                             (micro(2, 3, 4),))  # fmt: skip
    with FaceLandmarker() as lm:
        (outcome,) = evaluate_records([record], fixed_spotter, landmarker=lm, progress=False)
    assert outcome.error.startswith("NoFaceError") and outcome.spotted == ()
    assert score_outcomes([outcome])["fn"] == 1


def test_spot_eval_cli(face_long, tmp_path, capsys):
    pytest.importorskip("microexp.spot", reason="the spotting stage is merged from another branch")
    from train.__main__ import main

    out = tmp_path / "spot.json"
    assert main(["spot-eval", "--data", f"synthetic-long={face_long}", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "precision / recall / F1" in printed and "none-rate" in printed
    result = json.loads(out.read_text())
    assert result["synthetic"] is True and result["scores"]["videos"] == 2
    assert [v["key"] for v in result["videos"]] == ["synthetic-long/sub01/long_0001", "synthetic-long/sub01/long_0002"]
    assert result["timing"]["spot_per_video_second"] is not None


def test_spot_eval_cli_bad_data(tmp_path, capsys):
    from train.__main__ import main

    assert main(["spot-eval", "--data", f"samm-long={tmp_path}", "--quiet"]) == 1
    assert "SAMM long-video folders" in capsys.readouterr().err


def test_frame_folders_are_read_at_the_capped_rate_in_recording_frames(tmp_path):
    from train.spotting.evaluate import load_record_clip

    files = tuple(trees.write_frames(tmp_path / "006_1", [f"006_1_{n:04d}.jpg" for n in range(1, 16)], grey=True))
    record = LongVideoRecord("samm-long", "samm-long/006", "006_1", None, files, 200.0)
    clip = load_record_clip(record, fps_cap=30.0)  # every 7th frame: 1, 8, 15
    assert clip.frames.shape == (3, 8, 8, 3) and clip.fps == pytest.approx(200 / 7)
    # clip time -> frame of the 200 fps recording, whatever rate the clip was decoded at
    assert [to_frame(t, record.fps, len(files)) for t in clip.timestamps] == [0, 7, 14]
    assert len(load_record_clip(record)) == 15
