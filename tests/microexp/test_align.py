"""Alignment: canonical geometry, region crops from landmarks, stability under rigid drift, normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from microexp.align import (
    SourcePyramid,
    align_window,
    fit_similarity,
    invert,
    normalize,
    similarity_from_landmarks,
    to_tensors,
    warp_crop,
)
from microexp.face import FaceLandmarker, eye_centres, landmark_groups
from microexp.spec import InputSpec
from microexp.windows import make_windows, window_at
from train.synth.media import PHOTOS, face_frames

SPEC = InputSpec(frames=18, window_seconds=0.6, regions=("face",))
ALL = InputSpec(frames=18, window_seconds=0.6, regions=("face", "eyes", "mouth"))


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as lm:
        yield lm


@pytest.fixture(scope="module")
def drifting(landmarker):
    """2 s of Grace Hopper drifting +-4 px with sensor noise, and its face track."""
    frames = face_frames("grace_hopper.jpg", n=60, drift_px=4.0, noise=2.0, seed=3)
    t = np.arange(60) / 30.0
    return frames, t, landmarker.track(frames, t)


@pytest.fixture(scope="module")
def drifting_strided(landmarker, drifting):
    """The same clip with landmarks on every 3rd frame only (the fast mode), interpolated between."""
    frames, t, _ = drifting
    return frames, t, landmarker.track(frames, t, landmark_stride=3)


def _apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


def test_similarity_levels_eyes_at_canonical_positions(drifting):
    _, _, track = drifting
    lm = track.landmarks[0].astype(np.float64)
    # Rotate the face by 25 degrees and scale it: the transform must undo both.
    c, s = 1.3 * np.cos(np.radians(25)), 1.3 * np.sin(np.radians(25))
    turned = lm.copy()
    turned[:, :2] = lm[:, :2] @ np.array([[c, -s], [s, c]]).T + (40.0, -10.0)
    for landmarks in (lm, turned):
        m = similarity_from_landmarks(landmarks, SPEC)
        left, right = (_apply(m, e[None])[0] for e in eye_centres(landmarks))
        assert left[1] == pytest.approx(SPEC.eye_y * 64, abs=1e-6) and right[1] == pytest.approx(left[1], abs=1e-6)
        assert right[0] - left[0] == pytest.approx(SPEC.inter_ocular * 64, abs=1e-6)
        assert (left[0] + right[0]) / 2 == pytest.approx(31.5, abs=1e-6)
    np.testing.assert_allclose(invert(invert(m)), m, atol=1e-9)


def test_fit_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (50, 2))
    true = np.array([[0.9, -0.2, 5.0], [0.2, 0.9, -3.0]])
    np.testing.assert_allclose(fit_similarity(src, _apply(true, src)), true, atol=1e-9)


@pytest.mark.parametrize("photo", PHOTOS)
def test_crops_on_every_photo_contain_their_landmarks(landmarker, photo):
    frames = face_frames(photo, n=20, drift_px=1.0, noise=1.0)
    t = np.arange(20) / 30.0
    track = landmarker.track(frames, t)
    assert track.detected.all()
    window = make_windows(t, ALL)[0][0]
    aligned = align_window(frames, track, window, ALL)
    assert aligned.coverage == 1.0 and aligned.reference == 0
    groups = landmark_groups()
    ref = track.landmarks[aligned.reference]
    for region, size, idx in (
        ("face", 64, list(groups["oval"])),
        ("eyes", 32, list(groups["right_eye"] + groups["left_eye"] + groups["right_brow"] + groups["left_brow"])),
        ("mouth", 32, list(groups["lips"])),
    ):
        crop = aligned.crops[region]
        assert crop.shape == (18, size, size, 1) and crop.dtype == np.float32
        assert 0 <= crop.min() and crop.max() <= 255 and crop.std() > 5  # real image content
        assert aligned.frame_transforms[region].shape == (18, 2, 3)
        pts = _apply(aligned.transforms[region], ref[idx, :2].astype(np.float64))
        inside = ((pts >= -0.5) & (pts <= size - 0.5)).all(axis=1).mean()
        assert inside > (0.6 if region == "face" else 0.99), (region, inside)  # face: the oval's chin may leave the box
    # the eyes crop shows the eyes on the line the margin puts them on; the mouth is centred
    eye_pts = _apply(aligned.transforms["eyes"], np.stack(eye_centres(ref.astype(np.float64))))
    assert abs(eye_pts[0, 1] - eye_pts[1, 1]) < 0.5 and 0 < eye_pts[0, 0] < 16 < eye_pts[1, 0] < 32
    mouth = _apply(aligned.transforms["mouth"], ref[list(groups["lips"]), :2].astype(np.float64)).mean(0)
    np.testing.assert_allclose(mouth, (15.5, 15.5), atol=2.5)


@pytest.mark.parametrize("clip", ["drifting", "drifting_strided"])
def test_still_photo_with_rigid_drift_gives_nearly_constant_crops(request, clip):
    frames, t, track = request.getfixturevalue(clip)
    windows, _ = make_windows(t, ALL)
    jitter, drift = {r: [] for r in ALL.regions}, {r: [] for r in ALL.regions}
    for window in windows:
        stable = align_window(frames, track, window, ALL)
        plain = align_window(frames, track, window, ALL.replace(extra={"stabilize": False}))
        for region in ALL.regions:
            jitter[region].append(stable.crops[region].std(axis=0).mean())  # grey levels, per pixel over time
            drift[region].append(plain.crops[region].std(axis=0).mean())
    for region in ALL.regions:
        # grey levels 0-255; sensor noise alone gives about 0.25, the uncorrected drift about 4-5
        assert np.mean(jitter[region]) < 1.2 and max(jitter[region]) < 1.6, (region, jitter[region])
        assert np.mean(jitter[region]) < np.mean(drift[region]) / 3, (region, jitter[region], drift[region])


def test_grey_uses_rgb_weights_not_swapped():
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 200
    crop = warp_crop(red, np.array([[0.5, 0, 0], [0, 0.5, 0]]), 16)
    assert crop.shape == (16, 16, 3)
    grey = crop @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(grey, 0.299 * 200, atol=1e-3)


def test_normalize_modes():
    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 255, (18, 8, 8, 1)).astype(np.float32)
    x = normalize(crops, SPEC)
    assert x.shape == (1, 18, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-4)
    assert x.std() == pytest.approx(1.0, rel=1e-4)
    z = normalize(crops, SPEC.replace(normalization="zscore"))
    assert z.mean() == pytest.approx(0, abs=1e-4) and z.std() == pytest.approx(1, rel=1e-4)
    np.testing.assert_allclose(normalize(crops, SPEC.replace(normalization="unit")), crops.transpose(3, 0, 1, 2) / 255)
    d = normalize(crops, SPEC.replace(normalization="dataset", mean=100.0, std=50.0))
    np.testing.assert_allclose(d, (crops.transpose(3, 0, 1, 2) - 100) / 50, rtol=1e-6)


def test_to_tensors_batches_per_region(drifting):
    frames, t, track = drifting
    windows, _ = make_windows(t, ALL)
    aligned = [align_window(frames, track, w, ALL) for w in windows[:3]]
    face, eyes, mouth = to_tensors(aligned, ALL)
    assert face.shape == (3, 1, 18, 64, 64) and eyes.shape == mouth.shape == (3, 1, 18, 32, 32)
    assert face.dtype == eyes.dtype == mouth.dtype == np.float32 or str(face.dtype) == "torch.float32"
    rgb = ALL.replace(channels=3)
    assert to_tensors([align_window(frames, track, windows[0], rgb)], rgb)[0].shape == (1, 3, 18, 64, 64)


def test_strided_landmarks_interpolate_between_keyframes(drifting, drifting_strided):
    _, _, full = drifting
    _, _, fast = drifting_strided
    assert fast.landmarks.shape == full.landmarks.shape and fast.detected.all()
    np.testing.assert_array_equal(fast.landmarks[[0, 3, 6, 59]], fast.landmarks[[0, 3, 6, 59]])
    # between keyframes the interpolated pose stays within a pixel or so of the full-rate one
    err = np.abs(fast.landmarks[:, :, :2] - full.landmarks[:, :, :2]).mean(axis=(1, 2))
    assert err.max() < 1.5, err
    np.testing.assert_allclose(fast.landmarks[1], (2 * fast.landmarks[0] + fast.landmarks[3]) / 3, atol=1e-3)


PRESCALED = ALL.replace(extra={"resample": "prescaled"})


def test_prescaled_resampling_is_stable_and_close_to_supersampling(drifting):
    """The opt-in fast resampling keeps the drift-stability bound and stays within ~2 grey levels."""
    frames, t, track = drifting
    windows, _ = make_windows(t, ALL)
    pyramid = SourcePyramid(frames)  # shared by every window, as preprocess_clip does
    for window in windows:
        fast = align_window(frames, track, window, PRESCALED, pyramid)
        slow = align_window(frames, track, window, ALL)
        alone = align_window(frames, track, window, PRESCALED)  # its own pyramid: the same crops
        for region in ALL.regions:
            np.testing.assert_array_equal(fast.crops[region], alone.crops[region])
            np.testing.assert_array_equal(fast.frame_transforms[region], slow.frame_transforms[region])
            assert np.abs(fast.crops[region] - slow.crops[region]).mean() < 2.0, region
            jitter = fast.crops[region].std(axis=0).mean()
            assert jitter < 1.6, (region, jitter)  # the stability bound of the default resampling
    with pytest.raises(ValueError, match="resample"):
        align_window(frames, track, windows[0], ALL.replace(extra={"resample": "bicubic"}))


def test_default_resampling_is_the_supersampled_warp(drifting):
    """Models were trained on supersample-then-area crops; the default path must stay exactly that."""
    frames, t, track = drifting
    window = make_windows(t, SPEC)[0][0]
    aligned = align_window(frames, track, window, SPEC)
    assert window.positions[0] == 0.0  # the first model frame is source frame 0, no blending in time
    rgb = warp_crop(frames[0], aligned.frame_transforms["face"][0], 64)
    np.testing.assert_array_equal(aligned.crops["face"][0, ..., 0], rgb @ np.array([0.299, 0.587, 0.114], np.float32))


@pytest.fixture(scope="module")
def shaky(landmarker):
    """2 s of Grace Hopper drifting with frame-to-frame shake (sd 0.8 px, like a hand-held camera)."""
    frames = face_frames("grace_hopper.jpg", n=60, drift_px=3.0, noise=2.0, seed=3, shake_px=0.8)
    t = np.arange(60) / 30.0
    return frames, t, landmarker.track(frames, t)


def test_image_registration_removes_shake_that_landmarks_cannot_follow(shaky):
    """Landmark stabilisation is smooth in time, so shake stays in its crops; the image registration
    takes it out of every region, and its shifts are carried into the per-frame transforms."""
    frames, t, track = shaky
    windows, _ = make_windows(t, ALL)
    image, landmarks = ALL.replace(extra={"register": "image"}), ALL.replace(extra={"register": "landmarks"})
    for window in windows[::2]:
        registered = align_window(frames, track, window, image)
        plain = align_window(frames, track, window, landmarks)
        for region in ALL.regions:
            still = registered.crops[region].std(axis=0).mean()
            shaking = plain.crops[region].std(axis=0).mean()
            assert still < 2.0 and still < shaking / 2.5, (region, still, shaking)
    first = align_window(frames, track, windows[0], image)
    assert windows[0].positions[0] == 0.0  # model frame 0 is source frame 0: its crop is the warp of its transform
    for region in ALL.regions:
        rgb = warp_crop(frames[0], first.frame_transforms[region][0], ALL.size_of(region))
        np.testing.assert_allclose(first.crops[region][0, ..., 0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-3)
    with pytest.raises(ValueError, match="register"):
        align_window(frames, track, windows[0], ALL.replace(extra={"register": "optical"}))


def test_image_registration_keeps_a_micro_expression_under_shake(landmarker):
    """A brow raise under shake stands out of the crops' temporal change only once the shake is registered away."""
    from train.synth import make_clip
    from train.synth.photos import frame_face, load_faces

    rgb, lm = frame_face(load_faces(landmarker=landmarker)[0])
    rng = np.random.default_rng(1)
    energy = {}
    for name, amplitude in (("brows", 0.05), ("still", 1e-9)):
        clip = make_clip(rgb, lm, "AU1+AU2", 0, amplitude=amplitude, nuisances=False, seconds=1.2)
        shifts = rng.normal(0.0, 0.8, (len(clip.frames), 2))
        frames = np.stack([
            cv2.warpAffine(f, np.array([[1.0, 0, dx], [0, 1.0, dy]]), (f.shape[1], f.shape[0]), borderMode=cv2.BORDER_REPLICATE)
            for f, (dx, dy) in zip(clip.frames, shifts)
        ])  # fmt: skip
        t = np.arange(len(frames)) / 30.0
        track = landmarker.track(frames, t)
        for mode in ("image", "landmarks"):
            crops = align_window(frames, track, window_at(t, SPEC, clip.apex / 30.0), SPEC.replace(extra={"register": mode})).crops["face"]
            energy[name, mode] = float(np.abs(crops - crops.mean(axis=0)).mean())
    assert energy["brows", "image"] > 1.4 * energy["still", "image"], energy
    assert energy["brows", "landmarks"] < 1.2 * energy["still", "landmarks"], energy  # drowned in shake
