"""Synthetic micro-expression generator: timing, amplitude, where each recipe moves the face,
nuisances, determinism, the on-disk layout and its atomic writing."""

from __future__ import annotations

import av
import numpy as np
import pytest

from microexp.face import eye_centres, landmark_groups
from train import synth
from tests.fixtures.faces import box, pixel_diff, read_csv
from train.synth import writer

FAST = {"seconds": (0.8, 1.0), "size": (160, 120)}


@pytest.fixture(scope="module")
def face(photos):
    """Barack Obama's official portrait framed at 320x240, with its landmarks."""
    photo = next(p for p in photos if p.name == "obama_2012_official")
    return synth.frame_face(photo, (320, 240))


def test_photos_and_persons(photos):
    assert len(photos) == 5
    assert sorted({p.person for p in photos}) == ["barack_obama", "eileen_collins", "grace_hopper", "joe_biden"]
    assert all(p.landmarks.shape == (478, 3) for p in photos)


def test_every_face_photo_has_a_source_and_licence_row():
    files = sorted(p.name for p in synth.FACES_DIR.iterdir() if p.suffix.lower() in synth.PHOTO_SUFFIXES)
    assert sorted(synth.persons_from_sources(synth.FACES_DIR)) == files
    rows = synth.sources_table(synth.FACES_DIR)
    assert sorted(r["file"] for r in rows) == files
    for row in rows:
        source = next(v for k, v in row.items() if k.startswith("source"))
        assert "public domain" in row["licence"].lower() or "cc0" in row["licence"].lower(), row
        assert source.startswith("https://"), row


def test_every_action_unit_has_a_field_and_an_intensity(photos):
    assert set(synth.AU_FIELDS) == set(synth.AU_INTENSITY)
    geo = synth.Geometry(photos[0].landmarks)
    for au in synth.AU_FIELDS:
        d = synth.au_field(au, geo)
        assert d.shape == (478, 2) and np.abs(d).max() > 0.1, f"AU{au} barely moves the face"
    with pytest.raises(ValueError, match="AU3"):
        synth.au_field(3, geo)


def test_same_seed_same_clip_and_other_seed_differs(face):
    rgb, lm = face
    a = synth.make_clip(rgb, lm, "negative", 7)
    b = synth.make_clip(rgb, lm, "negative", 7)
    c = synth.make_clip(rgb, lm, "negative", 8)
    assert np.array_equal(a.frames, b.frames) and (a.onset, a.apex, a.offset, a.aus) == (
        b.onset,
        b.apex,
        b.offset,
        b.aus,
    )
    assert a.frames.shape != c.frames.shape or not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_onset_apex_offset_and_duration(face, fps):
    rgb, lm = face
    for seed in range(4):
        frames, onset, apex, offset = synth.make_clip(rgb, lm, "AU12", seed, fps=fps, seconds=1.2, nuisances=False)
        assert frames.shape == (round(1.2 * fps), 240, 320, 3) and frames.dtype == np.uint8
        assert 0 < onset < apex < offset < len(frames) - 1
        assert 0.2 - 1e-9 <= (offset - onset) / fps <= 0.5 + 1e-9
        # Nuisance-free: outside the micro-expression the frames are the photo itself.
        assert np.array_equal(frames[onset], rgb) and np.array_equal(frames[offset], rgb)
        assert pixel_diff(frames[apex], rgb).max() > 0


@pytest.mark.parametrize("expression", ["AU12", "AU1+AU2+AU5+AU26", "AU4+AU7", "AU9+AU10", "AU15+AU17"])
def test_amplitude_bound_measured_by_mediapipe(face, landmarker, expression):
    rgb, lm = face
    clip = synth.make_clip(rgb, lm, expression, 0, amplitude=0.07, nuisances=False)
    before = landmarker.detect(clip.frames[clip.onset])[0]
    after = landmarker.detect(clip.frames[clip.apex])[0]
    a, b = eye_centres(before)
    iod = float(np.linalg.norm(b - a))
    moved = np.linalg.norm(after[:, :2] - before[:, :2], axis=1).max() / iod
    assert 0.005 < moved <= 0.08
    # The warp's own ground truth respects the requested amplitude exactly.
    assert np.linalg.norm(clip.landmark_shift, axis=1).max() / iod == pytest.approx(0.07, rel=0.03)


def test_au12_changes_only_the_mouth_corners(face):
    rgb, lm = face
    clip = synth.make_clip(rgb, lm, "AU12", 1, amplitude=0.08, nuisances=False)
    d = pixel_diff(clip.frames[clip.apex], clip.frames[clip.onset])
    mouth = box(lm, ["lips"], 18)
    eyes = box(lm, ["right_eye", "left_eye", "right_brow", "left_brow"], 6)
    assert d[mouth].sum() > 0.8 * d.sum()
    assert d[eyes].sum() == 0
    # Within the mouth, the change sits at the corners, not at the middle of the lips.
    g = landmark_groups()
    lips = lm[list(g["lips"]), :2]
    x0, x1 = lips[:, 0].min(), lips[:, 0].max()
    cols = np.arange(d.shape[1])
    centre = (cols > x0 + 0.35 * (x1 - x0)) & (cols < x1 - 0.35 * (x1 - x0))
    corners = (np.abs(cols - x0) < 12) | (np.abs(cols - x1) < 12)
    rows = mouth[0]
    assert d[rows][:, corners].sum() > 3 * d[rows][:, centre].sum()


def test_surprise_raises_the_brows(face, landmarker):
    rgb, lm = face
    clip = synth.make_clip(rgb, lm, "AU1+AU2", 2, amplitude=0.08, nuisances=False)
    d = pixel_diff(clip.frames[clip.apex], clip.frames[clip.onset])
    brows = box(lm, ["right_brow", "left_brow"], 14)
    mouth = box(lm, ["lips"], 10)
    assert d[brows].sum() > 0.7 * d.sum() and d[mouth].sum() == 0
    before = landmarker.detect(clip.frames[clip.onset])[0]
    after = landmarker.detect(clip.frames[clip.apex])[0]
    g = landmark_groups()
    idx = list(g["right_brow"]) + list(g["left_brow"])
    assert (after[idx, 1] - before[idx, 1]).mean() < -0.5  # up in the image, in pixels


@pytest.mark.parametrize("label", synth.LABELS)
def test_nuisances_and_blinks_in_every_class(face, label):
    rgb, lm = face
    eyes = box(lm, ["right_eye", "left_eye"], 3)
    found = False
    for seed in range(12):
        clip = synth.make_clip(rgb, lm, label, seed)
        assert clip.label == label and clip.aus in synth.RECIPES[label]
        # Head drift, lighting and noise: even frames before the onset differ from the photo and each other.
        assert (
            pixel_diff(clip.frames[0], rgb).mean() > 0.5 and pixel_diff(clip.frames[0], clip.frames[clip.onset - 1]).mean() > 0.5
        )
        for start, end in clip.blinks:
            if end < clip.onset or start > clip.offset:
                peak = clip.frames[(start + end) // 2].astype(np.float64)
                base = clip.frames[start].astype(np.float64)
                eye_change = np.abs(peak - base)[eyes].mean()
                whole_change = np.abs(peak - base).mean()
                assert eye_change > 3 * whole_change
                found = True
        if found:
            break
    assert found, f"no blink outside the micro-expression in 12 {label} clips"


def test_recipes_parse_and_reject():
    assert synth.parse_recipe("AU6+AU12") == (6, 12) == synth.parse_recipe("6+12")
    with pytest.raises(ValueError, match="AU99"):
        synth.parse_recipe("AU99")
    assert all(synth.parse_recipe(r) for rs in synth.RECIPES.values() for r in rs)


def test_generate_layout_annotations_and_determinism(tmp_path, photos):
    config = synth.SynthConfig(clips=6, seed=3, **FAST)
    first = synth.generate(config, tmp_path / "a", progress=False, photos=photos)
    second = synth.generate(config, tmp_path / "b", progress=False, photos=photos)
    assert first == tmp_path / "a" / "annotations.csv"
    assert first.read_bytes() == second.read_bytes()
    rows = read_csv(first)
    assert len(rows) == 6 and list(rows[0]) == list(synth.COLUMNS)
    assert sorted(r["label"] for r in rows) == sorted(["negative", "positive", "surprise"] * 2)
    assert {r["subject"] for r in rows} == {"sub01", "sub02", "sub03", "sub04"}
    by_subject = {}
    for r in rows:
        by_subject.setdefault(r["subject"], set()).add(r["person"])
        n = int(r["frames"])
        assert 1 <= int(r["onset"]) < int(r["apex"]) < int(r["offset"]) <= n  # 1-based
        assert 0.2 <= (int(r["offset"]) - int(r["onset"])) / float(r["fps"]) <= 0.5
        assert 0.035 <= float(r["amplitude"]) <= 0.08 and r["aus"] in synth.RECIPES[r["label"]]
        folder = tmp_path / "a" / r["subject"] / r["clip"]
        files = sorted(folder.iterdir(), key=lambda p: int(p.stem[3:]))
        assert [p.name for p in files] == [f"img{i}.jpg" for i in range(1, n + 1)]
        twin = tmp_path / "b" / r["subject"] / r["clip"]
        assert all(p.read_bytes() == (twin / p.name).read_bytes() for p in files)
    assert all(len(persons) == 1 for persons in by_subject.values())  # honest default: subject = person
    assert len({next(iter(p)) for p in by_subject.values()}) == 4
    assert not list(tmp_path.glob(".*tmp-*"))


def test_generate_reads_back_through_the_dataset_loader(tmp_path, photos):
    loader = pytest.importorskip("train.datasets.synthetic")
    synth.generate(synth.SynthConfig(clips=3, **FAST), tmp_path / "d", progress=False, photos=photos)
    records, _ = loader.load_synthetic(tmp_path / "d")
    assert len(records) == 3 and all(r.onset < r.apex < r.offset for r in records)


def test_variants_multiply_subjects_but_keep_persons(tmp_path, photos):
    config = synth.SynthConfig(clips=8, subjects_per_person=2, **FAST)
    rows = read_csv(synth.generate(config, tmp_path / "v", progress=False, photos=photos))
    subjects = {r["subject"]: r["person"] for r in rows}
    assert len(subjects) == 8 and len(set(subjects.values())) == 4
    assert sorted(subjects) == [f"sub{i:02d}" for i in range(1, 9)]


def test_mp4_format(tmp_path, photos):
    config = synth.SynthConfig(clips=2, format="mp4", **FAST)
    rows = read_csv(synth.generate(config, tmp_path / "m", progress=False, photos=photos))
    for r in rows:
        path = tmp_path / "m" / r["subject"] / f"{r['clip']}.mp4"
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            assert stream.codec_context.name == "h264"
        assert len(frames) == int(r["frames"]) and frames[0].shape == (120, 160, 3)


def test_interrupted_run_leaves_no_annotations(tmp_path, photos, monkeypatch):
    real = writer.write_clip
    calls = []

    def dies_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_clip", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        synth.generate(synth.SynthConfig(clips=5, **FAST), tmp_path / "x", progress=False, photos=photos)
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_clobbered(tmp_path, photos):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        synth.generate(synth.SynthConfig(clips=1, **FAST), out, progress=False, photos=photos)
    synth.generate(synth.SynthConfig(clips=1, **FAST), out, progress=False, photos=photos, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "annotations.csv").is_file()


def test_config_validation():
    with pytest.raises(ValueError, match="labels"):
        synth.SynthConfig(labels=("happy",))
    with pytest.raises(ValueError, match="amplitude"):
        synth.SynthConfig(amplitude=(0.08, 0.03))
    with pytest.raises(ValueError, match="format"):
        synth.SynthConfig(format="gif")


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    code = synth.main(["--out", str(out), "--clips", "3", "--seconds", "0.8:1", "--size", "160x120",
                       "--amplitude", "0.05", "--quiet", "--labels", "positive,surprise"])  # fmt: skip
    assert code == 0 and "3 clips" in capsys.readouterr().out
    rows = read_csv(out / "annotations.csv")
    assert {r["label"] for r in rows} <= {"positive", "surprise"} and {r["amplitude"] for r in rows} == {"0.0500"}
    assert synth.main(["--out", str(out), "--clips", "1", "--quiet"]) == 1  # exists, not overwritten
    with pytest.raises(SystemExit):
        synth.main(["--out", str(out), "--amplitude", "big"])


# ----------------------------------------------------------------------------- per-clip variety (issue 16)


def _left_right(shift, geo):
    mag = np.linalg.norm(shift, axis=1)
    return mag[geo.side > 0].sum(), mag[geo.side < 0].sum()


@pytest.mark.parametrize("recipe", ["AU12", "AU1+AU2", "AU15+AU17"])
def test_asymmetry_makes_left_and_right_move_differently(face, recipe):
    _, lm = face
    geo = synth.Geometry(lm)
    ratios = []
    for seed in range(3):
        flat = synth.landmark_displacement(lm, recipe, 0.06, np.random.default_rng(seed))
        skew = synth.landmark_displacement(lm, recipe, 0.06, np.random.default_rng(seed), asymmetry=0.4)
        r0, l0 = _left_right(flat, geo)
        r1, l1 = _left_right(skew, geo)
        assert 0.8 < r0 / l0 < 1.25  # this face is near-symmetric: the recipes move both sides alike
        ratios.append(r1 / l1)
        # Still normalised: the largest landmark displacement is the amplitude.
        assert np.linalg.norm(skew, axis=1).max() == pytest.approx(0.06 * geo.frame.iod, rel=1e-6)
    assert max(abs(np.log(r)) for r in ratios) > np.log(1.4)  # one side at least 40 % more than the other


def test_occluders_are_partial_and_follow_their_kind(face):
    rgb, lm = face
    geo = synth.Geometry(lm)
    for kind in synth.OCCLUDERS:
        coverage = []
        for seed in range(12):
            occ = synth.draw_occluder(np.random.default_rng(seed), rgb, geo, (kind,))
            assert occ.kind == kind and occ.layer.shape == (240, 320, 4)
            assert 0.0 <= occ.alpha.min() and occ.alpha.max() <= 1.0
            coverage.append(synth.face_coverage(occ, geo))
        assert max(coverage) < 0.4, f"{kind} hides {max(coverage):.0%} of the face"
        assert min(coverage) > 0.0, f"{kind} missed the face"


def test_occluded_clip_differs_only_where_the_occluder_is(face):
    rgb, lm = face
    plain = synth.make_clip(rgb, lm, "AU12", 3, seconds=1.0, nuisances=False)
    hidden = synth.make_clip(rgb, lm, "AU12", 3, seconds=1.0, nuisances=False,
                             variety=synth.Variety(occlusion=1.0))  # fmt: skip
    assert hidden.style.occluder in synth.OCCLUDERS
    changed = pixel_diff(plain.frames[0], hidden.frames[0]) > 8
    assert 0.005 < changed.mean() < 0.3  # something is covered, most of the frame is not


def test_varied_timing_holds_the_apex_within_the_drawn_onset(face):
    rgb, lm = face
    variety = synth.Variety(onset_seconds=(0.04, 0.25), hold_seconds=(0.05, 0.1))
    fps = 100.0
    for seed in range(4):
        clip = synth.make_clip(rgb, lm, "positive", seed, fps=fps, seconds=1.0, nuisances=False, variety=variety)
        assert clip.onset < clip.apex < clip.offset
        # Apex = onset + rise + hold/2, with rise 40-250 ms and a 50-100 ms hold.
        assert 0.04 + 0.025 - 0.011 <= (clip.apex - clip.onset) / fps <= 0.25 + 0.05 + 0.011
        # The face holds still around the annotated apex (the plateau), and moves before it.
        assert pixel_diff(clip.frames[clip.apex], clip.frames[clip.apex + 1]).max() < 1e-9
        assert pixel_diff(clip.frames[clip.onset], clip.frames[clip.apex]).max() > 10


def test_varied_dataset_is_deterministic_and_records_each_clip(tmp_path, photos):
    config = synth.SynthConfig.varied(clips=4, seed=5, variety=synth.Variety.varied(fps=(25.0, 60.0)), **FAST)
    assert config.amplitude == synth.VARIED_AMPLITUDE
    first = synth.generate(config, tmp_path / "a", progress=False, photos=photos)
    second = synth.generate(config, tmp_path / "b", progress=False, photos=photos)
    assert first.read_bytes() == second.read_bytes()
    rows = read_csv(first)
    assert list(rows[0]) == list(synth.COLUMNS + synth.STYLE_COLUMNS)
    for r in rows:
        assert 25 <= float(r["fps"]) <= 60 and 0.02 <= float(r["amplitude"]) <= 0.10
        assert 60 <= int(r["quality"]) <= 95 and r["warp_kernel"] in synth.WARP_KERNELS
        assert 0.2 <= (int(r["offset"]) - int(r["onset"])) / float(r["fps"]) <= 0.5
        files = sorted((tmp_path / "a" / r["subject"] / r["clip"]).iterdir())
        assert len(files) == int(r["frames"])
        assert all(p.read_bytes() == (tmp_path / "b" / r["subject"] / r["clip"] / p.name).read_bytes() for p in files)
    assert len({r["fps"] for r in rows}) > 1
    # The loader reads the per-clip frame rate.
    records, _ = pytest.importorskip("train.datasets.synthetic").load_synthetic(tmp_path / "a")
    assert sorted(r.fps for r in records) == sorted(float(r["fps"]) for r in rows)


def test_default_variety_keeps_the_original_columns_and_validation():
    assert synth.SynthConfig().variety == synth.Variety()
    with pytest.raises(ValueError, match="asymmetry"):
        synth.Variety(asymmetry=1.5)
    with pytest.raises(ValueError, match="warp_kernels"):
        synth.Variety(warp_kernels=("cubic",))
    with pytest.raises(ValueError, match="whole number of frames"):
        synth.SynthConfig(me_seconds=(0.21, 0.23), variety=synth.Variety(fps=(25.0, 200.0)))


def test_cli_varied(tmp_path, capsys):
    out = tmp_path / "varied"
    code = synth.main(["--out", str(out), "--clips", "3", "--seconds", "0.8:1", "--size", "160x120", "--quiet",
                       "--varied", "--fps-range", "30:40", "--occlusion", "1"])  # fmt: skip
    assert code == 0
    rows = read_csv(out / "annotations.csv")
    assert all(30 <= float(r["fps"]) <= 40 and r["occluder"] in synth.OCCLUDERS for r in rows)
    assert all(0.02 <= float(r["amplitude"]) <= 0.10 for r in rows)


@pytest.mark.parametrize("kernel", synth.WARP_KERNELS)
def test_unfolded_fields_never_fold_at_the_largest_varied_amplitude(photos, kernel):
    """Lid tightening and lip raising at 10 % IOD fold a fine-grid field on some faces; unfolding smooths them."""
    for photo in photos:
        _, lm = synth.frame_face(photo, (320, 240))
        for recipe in ("AU4+AU7", "AU9+AU10", "AU15+AU17"):
            shift = synth.landmark_displacement(lm, recipe, 0.10, np.random.default_rng(0), ratio=(0.5, 1.5),
                                                asymmetry=0.35)  # fmt: skip
            field, step = synth.unfolded_field(lm, shift, (320, 240), step=3, kernel=kernel)
            assert synth.min_jacobian(field) >= 0.05, (photo.name, recipe, step)
            assert np.abs(field).max() > 0.05 * 0.5 * (320 / 4)  # still a real expression, not smoothed away


def test_shake_is_frame_to_frame_camera_jitter_drawn_only_when_asked():
    """`Variety.varied()` shakes the head path frame to frame (a hand-held camera); the default draws
    nothing for it, so the original generator's random stream and clips stay as they were."""
    from train.synth.nuisances import draw_nuisances, shake
    from train.synth.variety import Variety

    jitter = shake(np.random.default_rng(0), 3000, 30.0, 0.5)
    assert jitter.std() == pytest.approx(0.5, rel=1e-6)
    steps = np.diff(jitter, axis=0).std()
    assert 0.3 < steps < 1.0  # mostly gone by the next frame at 30 fps: shake, not drift
    plain = draw_nuisances(np.random.default_rng(4), 90, 30.0, True)
    same = draw_nuisances(np.random.default_rng(4), 90, 30.0, True, shake_px=(0.0, 0.0))
    shaken = draw_nuisances(np.random.default_rng(4), 90, 30.0, True, shake_px=(0.6, 0.6))
    np.testing.assert_array_equal(plain.shift, same.shift)
    residual = shaken.shift - plain.shift
    assert residual.std() == pytest.approx(0.6, rel=1e-6) and np.array_equal(shaken.gain, plain.gain)
    assert Variety.varied().shake_px[1] > 0 and Variety().shake_px == (0.0, 0.0)


def _mean_angle(shift, geo, side):
    """Mean direction (radians, image coordinates) of the displacements on one side of the face."""
    d = shift[geo.side == side].sum(0)
    return float(np.arctan2(d[1], d[0]))


def test_direction_jitter_turns_each_side_mirrored_and_keeps_the_amplitude(face):
    _, lm = face
    geo = synth.Geometry(lm)
    turns = []
    for seed in range(6):
        plain = synth.landmark_displacement(lm, "AU12", 0.06, np.random.default_rng(seed))
        turned = synth.landmark_displacement(lm, "AU12", 0.06, np.random.default_rng(seed), direction_degrees=30)
        right = _mean_angle(turned, geo, 1) - _mean_angle(plain, geo, 1)
        left = _mean_angle(turned, geo, -1) - _mean_angle(plain, geo, -1)
        assert right == pytest.approx(-left, abs=0.05)  # mirrored: a symmetric smile stays symmetric
        assert abs(right) <= np.radians(30) + 0.05
        turns.append(abs(right))
        assert np.linalg.norm(turned, axis=1).max() == pytest.approx(0.06 * geo.frame.iod, rel=1e-6)
    assert max(turns) > np.radians(8)  # it does turn


def test_magnitude_noise_is_smooth_and_varies_within_an_action_unit(face):
    _, lm = face
    geo = synth.Geometry(lm)
    gain = synth.aus.smooth_gain(geo, np.random.default_rng(0), 0.3)
    assert gain.shape == (478,) and (gain > 0).all()
    assert 0.1 < np.log(gain).std() < 0.6
    # neighbours (nearest landmark) get nearly the same gain: no jagged field for the warp
    d2 = ((geo.P[:, None] - geo.P[None]) ** 2).sum(-1) + np.eye(478) * 1e9
    log = np.log(gain)
    far = np.random.default_rng(9).permutation(478)
    assert np.abs(log - log[d2.argmin(1)]).mean() < 0.3 * np.abs(log - log[far]).mean()
    noisy = synth.landmark_displacement(lm, "AU1+AU2", 0.06, np.random.default_rng(1), magnitude_noise=0.3)
    plain = synth.landmark_displacement(lm, "AU1+AU2", 0.06, np.random.default_rng(1))
    moved = np.linalg.norm(plain, axis=1) > 0.1 * np.linalg.norm(plain, axis=1).max()
    ratio = np.linalg.norm(noisy[moved], axis=1) / np.linalg.norm(plain[moved], axis=1)
    assert ratio.std() / ratio.mean() > 0.05  # parts of one action unit move by different amounts


def test_au_variations_draw_nothing_when_off(face):
    """Direction and magnitude jitter off (the default) keep every earlier clip's random stream."""
    _, lm = face
    a = synth.landmark_displacement(lm, "AU6+AU12", 0.05, np.random.default_rng(4), asymmetry=0.2)
    b = synth.landmark_displacement(lm, "AU6+AU12", 0.05, np.random.default_rng(4), asymmetry=0.2,
                                    direction_degrees=0.0, magnitude_noise=0.0)  # fmt: skip
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="au_direction"):
        synth.Variety(au_direction=90)


def test_cli_passes_the_au_variations_to_the_variety():
    from train.synth.cli import _config, build_parser

    config = _config(build_parser().parse_args(["--out", "x", "--varied", "--au-direction", "25", "--au-noise", "0.3"]))
    assert (config.variety.au_direction, config.variety.au_noise) == (25.0, 0.3)
    assert _config(build_parser().parse_args(["--out", "x"])).variety.au_direction == 0.0
