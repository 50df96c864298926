"""Predictor end to end on real clips, and every kind of bad input raising its documented error."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from microexp import errors
from microexp.face import FaceLandmarker, FaceSettings
from microexp.models import MicroExpFuseNet, MicroExpSTCNN
from microexp.pipeline import Predictor, preprocess_clip
from microexp.spec import InputSpec
from microexp.video import clip_from_frames, load_clip
from microexp.windows import make_windows
from train.synth.media import face_frames

# Every bad input kind -> the error a user gets (through the Predictor here, the CLI in test_cli.py).
BAD_INPUTS = {
    "empty": errors.EmptyFileError,
    "text": errors.NotAVideoError,
    "truncated": errors.NotAVideoError,
    "audio": errors.NoVideoStreamError,
    "still_jpg": errors.TooFewFramesError,
    "still_png": errors.TooFewFramesError,
    "one_frame": errors.TooFewFramesError,
}


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as lm:
        yield lm


@pytest.fixture(scope="module")
def predictor(tmp_path_factory, landmarker):
    folder = tmp_path_factory.mktemp("stcnn18")
    torch.manual_seed(0)
    MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6)).save_pretrained(folder)
    return Predictor.from_pretrained(folder, landmarker=landmarker)


def test_predict_face_clip(predictor, face_mp4):
    result = predictor.predict(face_mp4)
    assert result.labels == ("negative", "positive", "surprise")
    assert len(result.windows) == 13  # 3 s, 0.6 s windows every 0.2 s, plus the tail
    for r in result.windows:
        assert r.skipped is None and r.coverage == 1.0
        assert r.probs.shape == (3,) and r.probs.sum() == pytest.approx(1.0, abs=1e-5)
    motions = [r.motion for r in result.windows]
    assert all(m > 0 for m in motions) and result.best_window == int(np.argmax(motions))
    # a still face with drift and noise: nothing spotted, so no class (the models know no "neutral")
    assert result.intervals == () and result.spot.intervals == ()
    assert result.prediction is None and result.probs is None
    assert all(not r.centred and r.inputs[0].shape == (1, 1, 18, 64, 64) for r in result.windows)
    assert set(result.timings_ms) >= {"decode", "landmarks", "align", "model", "total"}
    assert result.inputs[0].shape == (13, 1, 18, 64, 64) and len(result.aligned) == 13
    # the JSON summary is serialisable and carries what the CLI prints
    data = json.loads(json.dumps(result.to_json()))
    assert {"labels", "intervals", "windows", "prediction", "best_window", "timings_ms", "probs", "notices",
            "model"} <= set(data)
    assert data["intervals"] == [] and data["prediction"] is None
    assert data["windows"][0]["start"] == 0.0 and data["windows"][0]["end"] == pytest.approx(0.6)
    # batched inference gives what one window at a time gives
    with torch.inference_mode():
        one = torch.softmax(predictor.model(result.inputs[0][4:5]), 1)[0].numpy()
    np.testing.assert_allclose(result.windows[4].probs, one, atol=1e-5)


def test_landmarker_is_reused(predictor, face_clips):
    before = predictor.landmarker
    predictor.predict(face_clips["mp4"])
    assert predictor.landmarker is before


def test_fusenet_on_regions_and_in_memory_clip(landmarker):
    spec = InputSpec(frames=18, window_seconds=0.6, regions=("eyes", "mouth"))
    predictor = Predictor(MicroExpFuseNet(spec).eval(), landmarker=landmarker)
    clip = clip_from_frames(face_frames("obama_2012_official.jpg", n=30), fps=30.0)
    result = predictor.predict(clip)
    assert [x.shape for x in result.inputs] == [(len(result.aligned), 1, 18, 32, 32)] * 2
    assert result.clip is clip


def test_short_clip_is_resampled_with_notice(predictor):
    clip = clip_from_frames(face_frames("grace_hopper.jpg", n=10), fps=30.0)  # 0.3 s
    result = predictor.predict(clip)
    assert len(result.windows) == 1 and any("shorter" in n for n in result.notices)


def test_windows_without_enough_face_are_reported_not_guessed(predictor):
    frames = face_frames("grace_hopper.jpg", n=90)
    frames[30:75] = frames[0, :1, :1]  # face gone for 1.5 s: a flat frame
    result = predictor.predict(clip_from_frames(frames, fps=30.0))
    skipped = [r for r in result.windows if r.skipped]
    kept = [r for r in result.windows if r.probs is not None]
    assert skipped and kept
    assert all(r.coverage < 0.6 and r.probs is None for r in skipped)
    assert all(r.coverage >= 0.6 for r in kept)
    assert result.windows[result.best_window].probs is not None
    assert any("skipped" in n for n in result.notices)
    assert len(result.aligned) == len(kept) == result.inputs[0].shape[0]


def test_preprocess_clip_is_the_training_path(predictor, face_clips):
    clip = load_clip(face_clips["mp4"])
    track = predictor.landmarker.track(clip.frames, clip.timestamps)
    windows, _ = make_windows(clip.timestamps, predictor.spec)
    aligned = preprocess_clip(clip, track, predictor.spec, windows)
    assert [a.window.index for a in aligned] == [w.index for w in windows]


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_file_kinds(predictor, bad_media, kind):
    with pytest.raises(BAD_INPUTS[kind]) as info:
        predictor.predict(bad_media[kind])
    assert str(info.value)


def test_no_face(predictor, no_face_mp4):
    with pytest.raises(errors.NoFaceError, match="no face"):
        predictor.predict(no_face_mp4)


def test_two_faces(predictor, two_faces_mp4):
    with pytest.raises(errors.MultipleFacesError, match="several faces"):
        predictor.predict(two_faces_mp4)


def test_two_faces_largest_policy(predictor, two_faces_mp4):
    with FaceLandmarker(settings=FaceSettings(on_multiple="largest")) as lm:
        result = Predictor(predictor.model, landmarker=lm).predict(two_faces_mp4)
    assert any("several faces" in n for n in result.notices)


def test_ten_minute_video(predictor, long_mp4):
    with pytest.raises(errors.VideoTooLongError, match="trim"):
        predictor.predict(long_mp4)


def test_portrait_rotated_video(predictor, rotated_mp4):
    result = predictor.predict(rotated_mp4)
    h, w = result.clip.frames.shape[1:3]
    assert h > w and result.clip.rotation == 90  # upright portrait
    assert result.track.detected.mean() > 0.9
    assert all(r.probs is not None for r in result.windows)


def test_missing_model_dir():
    with pytest.raises(errors.ModelError, match="does not exist"):
        Predictor.from_pretrained("/nonexistent/model/dir")


@pytest.mark.parametrize("photo", ["biden_official.jpg", "astronaut_eileen_collins.png"])
def test_24_fps_clips_of_other_people(predictor, tmp_path, photo):
    from train.synth.media import face_clip

    result = predictor.predict(face_clip(tmp_path / "c.mp4", photo=photo, seconds=1.0, fps=24.0))
    assert result.clip.fps == pytest.approx(24.0, rel=1e-3)
    assert result.track.detected.all() and all(r.probs is not None for r in result.windows)


def test_inference_landmarker_gives_the_same_inputs(predictor):
    """No blendshapes and two landmarkers side by side (the Predictor's own) change no model input at full
    rate; its default landmark stride 2 keeps every keyframe's landmarks and the clip's prediction."""
    from pathlib import Path

    from microexp.pipeline import INFERENCE_LANDMARK_STRIDE

    example = Path(__file__).resolve().parents[2] / "examples" / "positive_au6-au12_grace_hopper.mp4"
    clip = load_clip(example)
    reference = predictor.predict(clip)  # the module's landmarker: FaceLandmarker() defaults
    with Predictor(predictor.model, landmark_stride=1) as fast:
        assert fast.landmarker.settings.workers == min(2, os.cpu_count() or 1)
        assert not fast.landmarker.settings.blendshapes
        result = fast.predict(clip)
        strided = Predictor(predictor.model, landmarker=fast.landmarker).predict(clip)
        assert fast.landmarker.settings.landmark_stride == INFERENCE_LANDMARK_STRIDE == 2
    assert result.track.blendshapes.shape == (len(clip), 0) and result.track.blendshape_names == ()
    assert reference.track.blendshapes.shape == (len(clip), 52)
    np.testing.assert_array_equal(result.track.landmarks, reference.track.landmarks)
    for a, b in zip(result.inputs, reference.inputs):
        assert torch.equal(a, b)
    assert result.prediction == reference.prediction
    keys = np.arange(0, len(clip), 2)
    np.testing.assert_array_equal(strided.track.landmarks[keys], reference.track.landmarks[keys])
    between = strided.track.landmarks[1:-1:2] - reference.track.landmarks[1:-1:2]
    px = np.abs(between[..., :2])  # x, y in pixels; interpolation misses only motion between keyframes
    assert 0 < px.mean() < 0.5 and np.percentile(px, 99) < 2.0
    assert strided.prediction == reference.prediction


def test_chunked_landmarkers_match_one_landmarker(landmarker, face_mp4):
    clip = load_clip(face_mp4)
    one = landmarker.track(clip.frames, clip.timestamps)
    for stride in (1, 3):
        with FaceLandmarker(settings=FaceSettings(workers=3, blendshapes=False)) as chunked:
            many = chunked.track(clip.frames, clip.timestamps, landmark_stride=stride)
            assert len(chunked._videos) > 1  # really ran in pieces (31 keyframes at stride 3 make two)
        ref = one if stride == 1 else landmarker.track(clip.frames, clip.timestamps, landmark_stride=stride)
        np.testing.assert_array_equal(many.landmarks, ref.landmarks)
        np.testing.assert_array_equal(many.detected, ref.detected)


def test_a_known_track_skips_landmarks(predictor, face_clips):
    clip = load_clip(face_clips["mp4"])
    first = predictor.predict(clip)
    again = predictor.predict(clip, track=first.track)
    assert again.track is first.track and again.timings_ms["landmarks"] < 1.0
    for a, b in zip(again.inputs, first.inputs):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="track"):
        predictor.predict(face_clips["mp4"], track=first.track)  # a path: the track could belong to anything
    with pytest.raises(ValueError, match="track"):
        predictor.predict(clip_from_frames(clip.frames[:10], clip.fps), track=first.track)


def test_best_window_spots_the_expression_in_the_examples(predictor):
    """Each shipped example clip: one interval is spotted at the annotated apex, the prediction comes from a
    window centred on it, and the sliding window with the most facial motion holds the apex too."""
    import csv
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    rows = list(csv.DictReader((examples / "annotations.csv").open()))
    assert len(rows) == 3
    for row in rows:
        clip = next(examples.glob(f"{row['label']}_*.mp4"))
        result = predictor.predict(clip)
        apex = (int(row["apex"]) - 1) / float(row["fps"])
        assert len(result.intervals) == 1 and abs(result.intervals[0].interval.apex - apex) <= 0.1, clip.name
        best = result.windows[result.best_window]
        assert best.centred and abs(best.window.center - apex) <= 0.1, (clip.name, best.window, apex)
        assert result.prediction == result.intervals[0].label == result.labels[int(np.argmax(result.probs))]
        sliding = result.sliding
        moving = max(sliding, key=lambda r: r.motion).window
        assert moving.start <= apex <= moving.end, (clip.name, moving, apex)
        # and it is not an accident of the first or last window: the motion peak stands out
        motions = sorted(r.motion for r in sliding)
        assert motions[-1] > 1.2 * motions[len(motions) // 2]


def test_an_interval_can_be_labelled_by_the_mean_of_windows_around_its_apex(predictor):
    """With ``apex_spread``, the interval's probabilities are the mean of its windows at those offsets (each
    measured alone with a one-offset Predictor); the centred window stays the one shown and explained, and
    only the sliding and centred windows are listed. The default is the centred window alone."""
    from pathlib import Path

    from microexp.explain import explain_prediction
    from microexp.pipeline import APEX_SPREAD

    assert APEX_SPREAD == (0.0,)
    clip = load_clip(next((Path(__file__).resolve().parents[2] / "examples").glob("negative_*.mp4")))
    single = predictor.predict(clip)
    (only,) = single.intervals
    np.testing.assert_allclose(only.probs, single.windows[only.window].probs)
    spread = (-0.15, 0.0, 0.15)
    first = Predictor(predictor.model, landmarker=predictor.landmarker, apex_spread=spread).predict(
        clip, track=single.track
    )
    alone = []
    for f in spread:
        one = Predictor(predictor.model, landmarker=predictor.landmarker, apex_spread=(f,)).predict(
            clip, track=single.track
        )
        assert [r.interval for r in one.intervals] == [r.interval for r in single.intervals]
        alone.append(one.intervals[0].probs)
    mean = first.intervals[0].probs
    np.testing.assert_allclose(mean, np.mean(alone, axis=0), atol=1e-5)
    np.testing.assert_allclose(alone[1], only.probs, atol=1e-6)
    assert not np.allclose(alone[0], alone[-1])  # the shifted windows did see something else
    assert first.prediction == first.labels[int(np.argmax(mean))] and np.array_equal(first.probs, mean)
    assert first.apex_spread == spread and first.to_json()["apex_spread"] == list(spread)
    assert single.to_json()["apex_spread"] == [0.0]
    assert len(first.windows) == len(first.sliding) + len(first.intervals)
    assert len(first.aligned) == len(first.windows) == first.inputs[0].shape[0]
    assert first.windows[first.best_window].window.center == single.windows[single.best_window].window.center
    explained = explain_prediction(predictor.model, first, method="saliency")
    assert first.labels[explained.target] == first.prediction
    for bad in ((), (0.6,), (float("nan"),)):
        with pytest.raises(ValueError, match="apex_spread"):
            Predictor(predictor.model, landmarker=predictor.landmarker, apex_spread=bad)


def test_test_time_flip_averages_each_window_with_its_mirror(landmarker):
    """``mirror=True``: every window's probabilities are the mean of the model's on the window and on its mirror
    (u negated for a flow input, as training flips it); the windows, intervals and inputs stay the same. The
    default is off, and a model's ``mirror`` attribute (from its config.json) sets it."""
    from pathlib import Path

    from microexp.align import mirror_window
    from microexp.flow import mirror_factors
    from microexp.models import build_model

    torch.manual_seed(0)
    model = build_model("stcnn-flow").eval()
    clip = load_clip(next((Path(__file__).resolve().parents[2] / "examples").glob("negative_*.mp4")))
    plain = Predictor(model, landmarker=landmarker).predict(clip)
    assert Predictor(model, landmarker=landmarker).mirror is False
    flipped = Predictor(model, landmarker=landmarker, mirror=True).predict(clip, track=plain.track)
    assert [r.window.center for r in flipped.windows] == [r.window.center for r in plain.windows]
    assert [r.interval for r in flipped.intervals] == [r.interval for r in plain.intervals]
    (x,) = flipped.inputs
    with torch.inference_mode():
        one = torch.softmax(model(x), dim=1)
        other = torch.softmax(model(mirror_window(x, mirror_factors(model.spec))), dim=1)
    probs = np.stack([r.probs for r in flipped.windows])
    np.testing.assert_allclose(probs, ((one + other) / 2).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.stack([r.probs for r in plain.windows]), one.numpy(), atol=1e-5)
    assert not np.allclose(one.numpy(), other.numpy(), atol=1e-3)  # an untrained model: the mirror reads differently
    model.mirror = True
    assert Predictor(model, landmarker=landmarker).mirror is True
    assert Predictor(model, landmarker=landmarker, mirror=False).mirror is False  # an explicit choice wins


def test_clip_without_expression_gets_a_notice(predictor, face_mp4):
    """A still photo with drift and noise: nothing spotted, no label, and the user is told so."""
    from microexp.pipeline import NO_EXPRESSION

    result = predictor.predict(face_mp4)
    assert result.motion_contrast < 1.5
    assert result.prediction is None and NO_EXPRESSION in result.notices
    assert result.to_json()["motion_contrast"] == pytest.approx(result.motion_contrast, abs=1e-3)


def test_expression_clip_gets_no_such_notice(predictor):
    from pathlib import Path

    from microexp.pipeline import NO_EXPRESSION

    clip = next((Path(__file__).resolve().parents[2] / "examples").glob("positive_*.mp4"))
    result = predictor.predict(clip)
    assert result.motion_contrast >= 1.5
    assert result.prediction is not None and NO_EXPRESSION not in result.notices


def test_the_prediction_does_not_depend_on_where_the_expression_sits(landmarker, tmp_path):
    """The same smile placed early, in the middle or late in a clip: the spotter finds its apex each
    time, the analysed window is centred on it, so the model sees the same input and says the same."""
    from train.synth import make_clip
    from train.synth.photos import frame_face, load_faces

    torch.manual_seed(1)
    folder = tmp_path / "model"
    MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6, extra={"register": "image"})).save_pretrained(folder)
    predictor = Predictor.from_pretrained(folder, landmarker=landmarker)
    rgb, lm = frame_face(load_faces(landmarker=landmarker)[1])
    smile = make_clip(rgb, lm, "AU6+AU12", 0, amplitude=0.07, nuisances=False, seconds=1.2)
    change = smile.frames.astype(np.int16) - rgb.astype(np.int16)  # the expression alone
    n, spare = len(smile.frames), 30
    rng = np.random.default_rng(0)
    neutral = np.clip(rgb[None] + rng.normal(0, 1.5, (n + spare, *rgb.shape)), 0, 255)
    inputs, labels = [], []
    for pad in (0, 13, 30):
        frames = neutral.copy()
        frames[pad:pad + n] += change
        result = predictor.predict(clip_from_frames(np.clip(frames, 0, 255).astype(np.uint8), 30.0))
        assert len(result.intervals) == 1, pad
        assert abs(result.intervals[0].interval.apex - (pad + smile.apex) / 30.0) <= 2 / 30.0, pad
        best = result.windows[result.best_window]
        assert best.centred
        inputs.append(best.inputs[0].numpy())
        labels.append(result.prediction)
    corr = [float(np.corrcoef(inputs[0].ravel(), x.ravel())[0, 1]) for x in inputs[1:]]
    assert min(corr) > 0.7, corr  # the same window content up to sensor noise and a frame of apex error
    assert len(set(labels)) == 1, labels


def test_a_short_clip_is_an_excerpt_labelled_at_its_strongest_movement(landmarker, tmp_path):
    """A 2 s clip is taken as a dataset-style excerpt around one expression: a subtle smile that a
    recording's threshold would not report is labelled at its apex, and the user is told why; asked
    to spot it like a recording, the same clip gets no label."""
    from microexp.pipeline import EXCERPT_SECONDS, NO_EXPRESSION
    from microexp.spot import SpotSettings
    from train.synth import make_clip
    from train.synth.photos import frame_face, load_faces

    torch.manual_seed(2)
    folder = tmp_path / "model"
    MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6, extra={"register": "image"})).save_pretrained(folder)
    rgb, lm = frame_face(load_faces(landmarker=landmarker)[1])
    smile = make_clip(rgb, lm, "AU6+AU12", 0, amplitude=0.006, nuisances=False, seconds=1.2)  # 0.6 % IOD
    change = smile.frames.astype(np.int16) - rgb.astype(np.int16)
    n, pad = len(smile.frames), 12
    rng = np.random.default_rng(0)
    frames = np.clip(rgb[None] + rng.normal(0, 5.0, (n + 2 * pad, *rgb.shape)), 0, 255)
    frames[pad:pad + n] += change
    clip = clip_from_frames(np.clip(frames, 0, 255).astype(np.uint8), 30.0)
    assert clip.duration <= EXCERPT_SECONDS

    auto = Predictor.from_pretrained(folder, landmarker=landmarker).predict(clip)
    assert auto.excerpt and auto.to_json()["excerpt"] is True
    assert auto.prediction is not None and len(auto.intervals) == 1
    assert abs(auto.intervals[0].interval.apex - (pad + smile.apex) / 30.0) <= 3 / 30.0
    assert auto.windows[auto.best_window].centred
    needed = f"under the {SpotSettings().min_score:g}"
    assert any("excerpt" in n and needed in n for n in auto.notices) and NO_EXPRESSION not in auto.notices
    assert auto.intervals[0].interval.score < SpotSettings().min_score  # a recording would not report it

    recording = Predictor.from_pretrained(folder, landmarker=landmarker, excerpt=False).predict(clip, track=auto.track)
    assert not recording.excerpt and recording.intervals == ()
    assert recording.prediction is None and NO_EXPRESSION in recording.notices


def test_an_excerpt_whose_expression_is_held_to_its_end_is_labelled_on_its_rise(landmarker, tmp_path):
    """A 2 s excerpt in which a smile rises and stays until the clip ends: the spotter's filters reject the
    rise as "held" (a recording would report nothing), but an excerpt holds one expression, so its window is
    centred on that strongest peak, not on the sliding window with the most motion."""
    from microexp.spot import SpotSettings, candidates, signals
    from train.synth import make_clip
    from train.synth.photos import frame_face, load_faces

    torch.manual_seed(2)
    folder = tmp_path / "model"
    MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6, extra={"register": "image"})).save_pretrained(folder)
    rgb, lm = frame_face(load_faces(landmarker=landmarker)[1])
    smile = make_clip(rgb, lm, "AU6+AU12", 0, amplitude=0.06, nuisances=False, seconds=1.2)
    frames = np.repeat(rgb[None], 60, axis=0).astype(np.float64)
    start = 8  # the smile's first frames from frame 8, then its apex frame to the end
    rise = smile.frames[: smile.apex + 1]
    frames[start : start + len(rise)] = rise
    frames[start + len(rise) :] = smile.frames[smile.apex]
    frames += np.random.default_rng(0).normal(0, 3.0, frames.shape)
    clip = clip_from_frames(np.clip(frames, 0, 255).astype(np.uint8), 30.0)
    onset, apex = (start + smile.onset) / 30.0, (start + smile.apex) / 30.0

    result = Predictor.from_pretrained(folder, landmarker=landmarker).predict(clip)
    settings = SpotSettings(min_score=0.0, min_contrast=0.0)
    sig = signals(clip, result.track, settings)
    _, found = candidates(sig, np.asarray(clip.timestamps), result.track.valid, settings)
    assert found and all(c.rejected_by(settings) is not None for c in found)  # every peak filtered out
    assert result.excerpt and result.prediction is not None and len(result.intervals) == 1
    spotted = result.intervals[0].interval.apex
    assert onset - 1 / 30 <= spotted <= apex + 1 / 30, (result.intervals[0].interval, onset, apex)  # on the rise
    assert result.windows[result.best_window].centred


def test_a_still_excerpt_is_labelled_from_its_most_moving_window(predictor):
    clip = clip_from_frames(face_frames("grace_hopper.jpg", n=60), fps=30.0)  # 2 s, nothing happens
    result = predictor.predict(clip)
    assert result.excerpt and result.prediction is not None
    assert any("excerpt" in n for n in result.notices)
