"""Scenes: distractor motions around micro-expressions, long clips for spotting, short scene clips.

Events listed must be what was rendered (measured with real MediaPipe landmarks and on the pixels),
the placement rules must hold, and the two writers must round-trip, repeat by seed and be atomic.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from microexp.face import eye_centres
from microexp.video import load_clip
from tests.fixtures.faces import box, pixel_diff, read_csv
from train import synth
from train.datasets.synthetic import load_synthetic
from train.scenes import (
    COLUMNS,
    KINDS,
    LongConfig,
    SceneConfig,
    generate_long,
    generate_scenes,
    make_long_clip,
    make_scene_clip,
    plan_long,
)
from train.scenes import long as long_mod
from train.scenes.plan import Draft

SMALL = (240, 180)
# Nothing but what a test asks for: no talking, blinks, head motion, macro or micro, no nuisances.
QUIET = {
    "micro": (0, 0), "speech": 0.0, "blinks_per_minute": (0.0, 0.0), "head_per_minute": (0.0, 0.0), "macro": 0.0,
    "nuisances": False, "size": SMALL,
}  # fmt: skip


def _photo(photos, name):
    return next(p for p in photos if p.name == name)


# ------------------------------------------------------------------------------- what is rendered


@pytest.mark.parametrize("name", ["grace_hopper", "astronaut_eileen_collins"])
def test_speech_opens_the_mouth_measured_by_mediapipe(photos, landmarker, name):
    config = LongConfig(seconds=(6.0, 6.0), jaw=(0.1, 0.12), **{**QUIET, "speech": 1.0})
    clip = make_long_clip(_photo(photos, name), 3, config)
    speech = [e for e in clip.events if e.kind == "speech"]
    assert speech and {e.kind for e in clip.events} == {"speech"}
    track = landmarker.track(clip.frames, np.arange(len(clip.frames)) / clip.fps)
    lm = track.landmarks
    a, b = eye_centres(lm)
    gap = np.linalg.norm(lm[:, 14, :2] - lm[:, 13, :2], axis=-1) / np.linalg.norm(b - a, axis=-1)
    silent = np.ones(len(gap), bool)
    for e in speech:
        silent[e.onset : e.offset + 1] = False
    assert silent.sum() > 10
    # Inner lips part at every phrase's apex, by several % IOD on average (a phrase's loudest syllable
    # opens the jaw 40-100 % of 10-12 % IOD); between phrases they are as in the photo.
    apex_gap = gap[[e.apex for e in speech]]
    assert apex_gap.min() > gap[silent].max() + 0.005 and apex_gap.mean() > gap[silent].max() + 0.02, apex_gap
    rgb, _ = synth.frame_face(_photo(photos, name), SMALL)
    assert all(np.array_equal(clip.frames[i], rgb) for i in np.flatnonzero(silent))


def test_still_clip_has_no_events_and_no_motion(photos):
    photo = _photo(photos, "biden_official")
    clip = make_long_clip(photo, 0, LongConfig(seconds=(3.0, 3.0), **QUIET))
    rgb, _ = synth.frame_face(photo, SMALL)
    assert clip.events == () and len(clip.frames) == 90
    assert all(np.array_equal(f, rgb) for f in clip.frames)


def test_each_kind_moves_its_own_part_of_the_face_at_its_apex(photos):
    photo = _photo(photos, "grace_hopper")
    rgb, lm = synth.frame_face(photo, SMALL)
    eyes, mouth = box(lm, ["right_eye", "left_eye"], 3), box(lm, ["lips"], 3)
    brows = box(lm, ["right_brow", "left_brow"], 2)
    n, fps = 60, 30.0

    def render(add):
        from train.scenes.render import render_frames

        d = Draft(np.random.default_rng(1), n, fps, lm, SMALL)
        event = add(d)
        frames = np.stack(list(render_frames(rgb, lm, d.scene(), fps, np.random.default_rng(2), nuisances=False)))
        assert np.array_equal(frames[0], rgb) and np.array_equal(frames[-1], rgb)  # at rest outside the event
        return frames[event.apex], event

    blink, ev = render(lambda d: d.blink(10, double=True))
    assert ev.kind == "blink" and 0.1 * fps <= ev.offset - ev.onset <= 0.75 * fps
    assert pixel_diff(blink, rgb)[eyes].mean() > 5 * max(pixel_diff(blink, rgb)[mouth].mean(), 0.1)
    talk, ev = render(lambda d: d.speech(5, 50, 0.12)[0])
    assert pixel_diff(talk, rgb)[mouth].mean() > 5 * max(pixel_diff(talk, rgb)[brows].mean(), 0.1)
    head, ev = render(lambda d: d.head(10, 40))
    assert ev.aus.startswith("AU5") and pixel_diff(head, rgb).mean() > 3
    surprise, ev = render(lambda d: d.expression("macro", "surprise", 5, 20, 40, 55, 0.12))
    assert ev.label == "surprise" and pixel_diff(surprise, rgb)[brows].mean() > 3


# ------------------------------------------------------------------------------- placement rules


def test_long_plans_follow_the_rules(photos):
    rgb, lm = synth.frame_face(_photo(photos, "obama_2012_official"), (320, 240))
    config = LongConfig()
    fps = config.fps
    micro_in_speech = micro_total = nones = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = round(rng.uniform(*config.seconds) * fps)
        scene = plan_long(rng, n, fps, lm, (320, 240), config)
        events = scene.events
        assert all(e.kind in KINDS and 0 <= e.onset <= e.apex <= e.offset < n for e in events)
        assert [e.onset for e in events] == sorted(e.onset for e in events)
        micro = [e for e in events if e.kind == "micro"]
        macro = [e for e in events if e.kind == "macro"]
        speech = [e for e in events if e.kind == "speech"]
        assert len(micro) <= 3 and len(macro) <= 1
        nones += not micro
        for e in micro:
            assert config.me_seconds[0] - 1e-9 <= (e.offset - e.onset) / fps <= config.me_seconds[1] + 1e-9
            assert e.onset < e.apex < e.offset and e.label in synth.LABELS and e.aus
            others = [o for o in micro + macro if o is not e]
            assert all(e.offset < o.onset or o.offset < e.onset for o in others)  # never overlapping
            micro_total += 1
            micro_in_speech += any(e.onset <= s.offset and s.onset <= e.offset for s in speech)
        for e in macro:
            assert (e.apex - e.onset) / fps >= 0.5 - 1e-9 and (e.offset - e.onset) / fps >= 2.0 - 1e-9
        for e in (e for e in events if e.kind == "head"):
            assert 0.5 - 1e-9 <= (e.offset - e.onset) / fps <= 2.0 + 1e-9
        assert scene.closure.shape == (n,) and scene.pose.shape == (n, 6)
        # Talking moves the jaw 5-15 % IOD: far more than any micro-expression's 3.5-8 %.
        jaw = [layer for layer in scene.layers if layer.field is not None and layer.course.max() > 0.03]
        if speech:
            assert jaw and max(layer.course.max() for layer in jaw) <= config.jaw[1] + 1e-9
    assert 0.1 < nones / 30 < 0.5  # "none" clips exist, but are not most clips
    assert 0.1 < micro_in_speech / micro_total < 0.7  # some micro-expressions hide in speech, not all


# ------------------------------------------------------------------------------- writers


def test_long_layout_round_trips_and_repeats_by_seed(tmp_path, photos):
    config = LongConfig(clips=2, seed=4, seconds=(3.0, 4.0), size=(160, 120), micro=(1, 2), format="jpg")
    rows = read_csv(generate_long(config, tmp_path / "a", progress=False, photos=photos))
    assert tuple(rows[0]) == COLUMNS == ("subject", "person", "clip", "kind", "onset", "apex", "offset", "label",
                                         "aus", "fps")  # fmt: skip
    meta = json.loads((tmp_path / "a" / "long_config.json").read_text())
    assert meta["synthetic"] is True and meta["config"]["seconds"] == [3.0, 4.0]
    clips = {(r["subject"], r["clip"]) for r in rows if r["kind"] == "micro"}
    assert clips == {("sub01", "long_0001"), ("sub02", "long_0002")}
    for r in rows:
        frames = sorted((tmp_path / "a" / r["subject"] / r["clip"]).glob("img*.jpg"))
        assert 1 <= int(r["onset"]) <= int(r["apex"]) <= int(r["offset"]) <= len(frames)  # 1-based, inclusive
        assert (r["label"] in synth.LABELS) == (r["kind"] in ("micro", "macro")) and r["fps"] == "30"
    again = read_csv(generate_long(config, tmp_path / "b", progress=False, photos=photos))
    assert again == rows
    one = tmp_path / "a" / "sub01" / "long_0001" / "img5.jpg"
    assert one.read_bytes() == (tmp_path / "b" / "sub01" / "long_0001" / "img5.jpg").read_bytes()
    other = read_csv(generate_long(LongConfig(**{**config.__dict__, "seed": 5}), tmp_path / "c", progress=False,
                                    photos=photos))  # fmt: skip
    assert other != rows


def test_long_mp4_decodes_with_the_listed_frames(tmp_path, photos):
    config = LongConfig(clips=1, seconds=(3.0, 3.0), size=(160, 120), micro=(1, 1), format="mp4")
    rows = read_csv(generate_long(config, tmp_path / "m", progress=False, photos=photos))
    clip = load_clip(tmp_path / "m" / "sub01" / "long_0001.mp4")
    assert len(clip) == 90 and clip.frames.shape[1:] == (120, 160, 3) and abs(clip.fps - 30) < 0.01
    assert all(int(r["offset"]) <= len(clip) for r in rows)


def test_interrupted_long_run_leaves_nothing(tmp_path, photos, monkeypatch):
    real, calls = long_mod.write_clip, []

    def dies_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(long_mod, "write_clip", dies_on_second)
    config = LongConfig(clips=3, seconds=(2.0, 2.0), size=(160, 120), format="jpg")
    with pytest.raises(KeyboardInterrupt):
        generate_long(config, tmp_path / "x", progress=False, photos=photos)
    assert list(tmp_path.iterdir()) == []


def test_existing_long_output_is_kept_unless_overwritten(tmp_path, photos):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    config = LongConfig(clips=1, seconds=(2.0, 2.0), size=(160, 120), format="jpg")
    with pytest.raises(FileExistsError):
        generate_long(config, out, progress=False, photos=photos)
    generate_long(config, out, progress=False, photos=photos, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "intervals.csv").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_scene_clips_train_through_the_synthetic_loader(tmp_path, photos):
    config = SceneConfig(clips=3, seconds=(2.0, 2.5), size=(160, 120), speech=1.0, head=1.0)
    rows = read_csv(generate_scenes(config, tmp_path / "s", progress=False, photos=photos))
    records, report = load_synthetic(tmp_path / "s")
    assert len(records) == 3 and not report.issues
    assert sorted(r.label for r in records) == sorted(synth.LABELS)
    for r, rec in zip(rows, sorted(records, key=lambda x: x.clip), strict=True):
        assert (rec.onset, rec.apex, rec.offset) == (int(r["onset"]) - 1, int(r["apex"]) - 1, int(r["offset"]) - 1)
        assert "speech" in r["distractors"] and "head" in r["distractors"]
        assert 0.2 * 30 <= rec.offset - rec.onset <= 0.5 * 30 and rec.offset < int(r["frames"])


def test_scene_clip_is_deterministic(photos):
    photo = _photo(photos, "obama_speaking")
    config = SceneConfig(size=(160, 120), speech=1.0)
    a, b = make_scene_clip(photo, "positive", 9, config), make_scene_clip(photo, "positive", 9, config)
    assert np.array_equal(a.frames, b.frames) and a.events == b.events and a.micro.label == "positive"
    c = make_scene_clip(photo, "positive", 10, config)
    assert a.frames.shape != c.frames.shape or not np.array_equal(a.frames, c.frames)


def test_config_validation():
    with pytest.raises(ValueError, match="labels"):
        LongConfig(labels=("happy",))
    with pytest.raises(ValueError, match="micro"):
        LongConfig(micro=(3, 1))
    with pytest.raises(ValueError, match="speech"):
        LongConfig(speech=1.5)
    with pytest.raises(ValueError, match="format"):
        SceneConfig(format="gif")
    with pytest.raises(ValueError, match="seconds"):
        SceneConfig(seconds=(0.5, 0.6))


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    code = long_mod.main(["--out", str(out), "--clips", "1", "--seed", "2", "--seconds", "2", "3", "--size", "160",
                          "120", "--format", "jpg", "--quiet"])  # fmt: skip
    assert code == 0 and "1 long clips" in capsys.readouterr().out
    assert (out / "intervals.csv").is_file() and (out / "sub01" / "long_0001" / "img1.jpg").is_file()
    assert long_mod.main(["--out", str(out), "--clips", "1", "--quiet"]) == 1  # exists, not overwritten
    with pytest.raises(SystemExit):
        long_mod.main(["--out", str(out), "--seconds", "60", "10"])


# ------------------------------------------------------------------------------- hand-held shake


def _steps(frames: np.ndarray) -> np.ndarray:
    """(N-1, 2) frame-to-frame image shift (phase correlation, px)."""
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64) for f in frames]
    return np.array([cv2.phaseCorrelate(a, b)[0] for a, b in zip(grey[:-1], grey[1:])])


@pytest.mark.parametrize("step_px", [0.3, 1.0])
def test_hand_held_shake_moves_the_frame_by_the_asked_jitter(photos, step_px):
    """A still face filmed hand-held: the picture moves from frame to frame by the asked RMS step
    (measured on the pixels), wanders a few pixels over seconds (sway) and lists no event."""
    config = LongConfig(seconds=(4.0, 4.0), shake=1.0, shake_px=(step_px, step_px), **{**QUIET, "size": (320, 240)})
    clip = make_long_clip(_photo(photos, "grace_hopper"), 5, config)
    steps = _steps(clip.frames)
    rms = float(np.sqrt((steps**2).sum(1).mean()))
    assert clip.events == () and clip.shake_px == step_px
    assert 0.7 * step_px < rms < 1.3 * step_px, rms
    wander = np.abs(np.cumsum(steps, axis=0)).max()
    assert 2 * step_px < wander < 40 * step_px, wander


def test_hand_tremor_has_its_band_and_shake_off_draws_nothing(photos):
    """The jitter holds a tremor band (5-12 Hz) beside the slow sway; a config without shake draws
    nothing from the clip's generator, so sets made before the option are made again bit for bit."""
    from train.scenes.shake import hand_shake

    fps, n = 30.0, 3000
    pose = hand_shake(np.random.default_rng(0), n, fps, 1.0, 60.0)
    step = np.sqrt((np.diff(pose[:, 2:4], axis=0) ** 2).sum(1).mean())
    assert abs(step - 1.0) < 1e-6
    # Roll and zoom move a point one IOD (60 px) from the centre by 20-60 % and 10-30 % of that step.
    roll_px = np.sqrt(np.mean(np.diff(np.radians(pose[:, 0])) ** 2)) * 60.0
    zoom_px = np.sqrt(np.mean(np.diff(pose[:, 1]) ** 2)) * 60.0
    assert 0.2 - 1e-9 <= roll_px <= 0.6 + 1e-9 and 0.1 - 1e-9 <= zoom_px <= 0.3 + 1e-9, (roll_px, zoom_px)
    power = np.abs(np.fft.rfft(pose[:, 2] - pose[:, 2].mean())) ** 2
    f = np.fft.rfftfreq(n, 1 / fps)
    tremor, between = power[(f > 5) & (f < 12.5)].mean(), power[(f > 3) & (f < 4)].mean()
    assert power[(f > 0.1) & (f < 1)].mean() > tremor and tremor > 0.2 * between
    photo = _photo(photos, "biden_official")
    a = make_long_clip(photo, 7, LongConfig(seconds=(2.0, 2.0), size=SMALL))
    b = make_long_clip(photo, 7, LongConfig(seconds=(2.0, 2.0), size=SMALL, shake=0.0, shake_px=(3.0, 4.0)))
    assert np.array_equal(a.frames, b.frames) and a.events == b.events and a.shake_px == b.shake_px == 0.0


def test_shake_is_drawn_per_clip_and_listed(tmp_path, photos):
    config = LongConfig(clips=6, seed=2, seconds=(1.0, 1.0), size=(160, 120), micro=(0, 0), shake=0.5, format="jpg")
    generate_long(config, tmp_path / "a", progress=False, photos=photos)
    rows = read_csv(tmp_path / "a" / "shake.csv")
    px = [float(r["shake_px"]) for r in rows]
    assert len(rows) == 6 and any(p == 0 for p in px) and all(p == 0 or 0.2 <= p <= 1.0 for p in px)
    assert any(p > 0 for p in px)
    with pytest.raises(ValueError):
        LongConfig(shake=1.5)
