"""Micro-expression spotting: when, in a clip, does a brief facial movement happen (or none at all).

Runs on what the pipeline already has, the decoded frames and the tracked landmarks; there is no
second face pass. Steps:

1. Rigid head motion out: per frame, a least-squares affine map (turns and nods foreshorten the
   face) fitted on landmarks that expressions barely move (upper face outline, nose bridge) maps the frame onto one reference frame, whose eyes
   are levelled in a ``crop_size`` grey face crop. Its parameters are median-filtered
   over ``registration_seconds``: that follows head motion (a median keeps ramps and steps) but not
   the face mesh's brief jumps during blinks and expressions, which would shift the whole crop.
   Then each crop is aligned by image (ECC, rotation + translation) on the face's rigid cells to
   the mean of its neighbours in time: camera shake and landmark jitter move a face by a pixel or
   so from frame to frame, which looks like movement everywhere; the crops are then smoothed
   over ``smooth_seconds``. The rigid cells of the crop are few (mostly the nose), so this
   registration also follows part of a smile or a nose wrinkle: each region's score (step 2) is
   the larger of the landmark-registered and the image-registered crops' scores.
2. Region signals: the crop is cut into ``cell``-pixel cells, each assigned to the nearest landmark
   region (brows, eyes, cheeks, nose, mouth, lip corners); cells on the face outline are left out
   (background moves against the face when the head turns). Per cell the MEGC-style feature
   difference FD(t) = mean |G_t - (G_{t-k} + G_{t+k}) / 2| with k about half a micro-expression: a
   brief bump peaks at its apex; slow drift, lighting change and a held expression cancel. A region's
   signal is the mean of its two strongest cells less the common mode (the upper face's median cell
   above its usual level: a head movement moves every cell, an expression some), divided by its own
   robust noise level (median and MAD over the clip, with a floor), so a region that moves all clip
   long counts less.
   The lip corners are also scored on their landmarks: their height over the inner lips
   (:func:`corner_height`) barely changes with talking, which moves their pixels with every syllable,
   but a lip-corner pull or depressor changes it; the corners' score is the larger of the two.
3. Distractors: a blink (the eye aspect ratio dips briefly, as lids that meet do, not for as long as a
   lid tightener narrows the eye; or the eye cells move far more than the brows)
   silences the eyes around it, and the brows where they move less than ``blink_brow_ratio`` times
   the eyes (a brow raise during a blink is kept); speech (the mouth shape oscillating over about a
   second, clearly more than rigid landmark distances do, since landmarks jitter on compressed or
   hand-held video; in a train of openings, as syllables are, since one mouth-opening expression
   oscillates too; and the mouth's pixels moving more than the rigid face's in the image-registered
   crops; shapes measured in the head frame, :func:`head_frame`, so that a nod or turn does not
   change them) silences the mouth and judges lip corners and nose against their speech-time noise, the
   noise level passing smoothly (``speech_blend_seconds``) between quiet and talking; a bump whose region has not returned to its baseline
   ``return_seconds`` later is the edge of a held (macro-)expression and is dropped (where the clip
   cuts that span short, against the frames that exist: :func:`_return_ratio`), as is a bump
   wider than ``max_seconds`` at half height. A micro-expression is one brief movement of its
   region: a peak whose region reaches ``repeat_ratio`` of it again within ``repeat_seconds`` (beyond
   the movement's own ``max_seconds``) is one of many, as in speech the landmarks barely show (weak
   jaw movement, the start of a phrase) or the cheeks moving with the jaw, and is dropped. A mouth peak
   narrower than ``mouth_min_seconds`` at half height is a flicker (a syllable the speech mask missed, a
   jump of the face mesh in a blink), not a movement lasting 0.2 s or more; with ``cheek_lift`` a cheek peak
   inside speech needs the corner height to rise with it (the jaw moves the cheeks, a smile lifts the corners).
4. Peaks of the combined curve (the largest region score) above ``min_score`` become intervals
   (:func:`candidates` measures each filter on every peak, :meth:`Candidate.rejected_by` applies
   them); a peak where the head's rigid landmarks jerk (:func:`head_motion`) is the head's; a weak peak
   (under ``min_score + contrast_margin``) must also stand ``min_contrast`` times above the rest of the
   clip (a brow peak inside talking: above the brows' own score elsewhere; with ``busy_region``, a brow, cheek,
   nose or corner peak: above its own region's score elsewhere by that much, but not the corners at a blink). With
   ``lift_score``, inside speech the lip corners' landmark height gives a second opinion on a peak the combined
   score rejects as low, busy, held or repeated (:meth:`Candidate.lift_passes`). The apex is refined to the
   frame most displaced from the local baseline; onset and offset are
   where that movement itself falls under ``extent_fraction`` of its apex value (:func:`_extent`).

All thresholds were tuned on synthetic clips only (``bench/spot_dev.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion, gaussian_filter1d, maximum_filter1d, median_filter
from scipy.signal import find_peaks

from .align import ecc_warp, fit_similarity
from .face import FaceTrack, eye_centres, landmark_groups
from .video import Clip

# MediaPipe face-mesh indices not covered by its connection lists.
_NOSE_BRIDGE = (168, 6, 197, 195)
_CHEEKS = (50, 101, 118, 117, 123, 205, 187, 280, 330, 347, 346, 352, 425, 411)
_LIP_CORNERS = (61, 291, 57, 287, 43, 273, 106, 335)
_INNER_LIPS = (13, 14)  # upper and lower inner lip, centre
# Mouth shape while talking: inner-lip gap, outer-lip height, nose tip to chin (some speech barely
# parts the lips but moves the jaw). Not the mouth's width: a lip-corner pull (AU12) would count.
_MOUTH_SHAPE = (_INNER_LIPS, (0, 17), (1, 152))
# As many distances between points that speech does not move (nose bridge to tip, forehead to
# bridge, temple to temple): their oscillation is the landmarks' own jitter.
_RIGID_SHAPE = ((168, 1), (10, 168), (127, 356))
# Eye aspect ratio: (outer, inner, upper lid, lower lid) per eye.
_EYE_POINTS = ((33, 133, 159, 145), (362, 263, 386, 374))
_SPEECH_REGIONS = ("mouth", "corners", "nose")  # what the jaw moves while talking (cheeks barely: their clip-wide noise applies)
# busy_region: not the mouth and eyes, whose scores are zeroed in speech and blinks (their level elsewhere is low
# by construction); not the lip corners at a blink, where their landmark height jumps with the eye centres.
_OWN_LEVEL_REGIONS = ("brows", "cheeks", "nose", "corners")
_JUMP_AT_BLINK = ("corners",)
_STILL_IN_SPEECH = ("brows",)  # talking does not move them (the eyes: blinks and head jerks do)
_EYE_Y, _INTER_OCULAR = 0.38, 0.36  # canonical crop geometry, as fractions of its side (as InputSpec)

# A bump this many noise scales high that covers this share of the clip is left out of its noise (_noise).
_BUMP_LEVEL = 2.0
_BUMP_SHARE = 0.1

@dataclass(frozen=True)
class Interval:
    """One spotted (or annotated) expression, in seconds of clip time.

    Attributes:
        onset, apex, offset: start, peak and end.
        score: spotting confidence (peak height over the clip's noise level); higher is likelier.
    """

    onset: float
    apex: float
    offset: float
    score: float = 1.0

    @property
    def duration(self) -> float:
        return self.offset - self.onset


@dataclass(frozen=True)
class SpotResult:
    """What :func:`spot` found.

    Attributes:
        times: (N,) seconds of the clip's frames.
        score: (N,) per-frame micro-expression likelihood (noise units; the timeline curve).
        intervals: spotted micro-expressions in time order; () when none was found.
        notices: remarks for the user (speech or blinks discounted, too short to spot, ...).
        strongest: the highest peak of ``score`` over the threshold, whether or not a filter (held,
            repeated, head, wide, busy) rejected it; None when there is none. An excerpt known to hold one
            expression is labelled there when no peak passes the filters.
    """

    times: np.ndarray
    score: np.ndarray
    intervals: tuple[Interval, ...]
    notices: tuple[str, ...] = ()
    strongest: Interval | None = None

    @property
    def top(self) -> Interval | None:
        """The highest-scoring interval, or None."""
        return max(self.intervals, key=lambda i: i.score) if self.intervals else None


@dataclass(frozen=True)
class SpotSettings:
    """Spotting thresholds and durations (seconds; grey levels 0-255 for pixel differences).

    Attributes:
        crop_size: side of the grey face crop the signals are measured on (eyes ``0.36 * crop_size``
            apart).
        cell: side of one cell of that crop, in pixels.
        registration_seconds: median filter over the per-frame head-pose fit (longer than a blink).
        affine: register the head with a full affine map (follows turns and nods as foreshortening)
            rather than a similarity.
        refine: after the landmark registration, align every crop to its neighbours' mean by image
            (:func:`refine_crops`): camera shake and the face mesh's own jitter move a face by a
            pixel or so from frame to frame, which landmarks cannot follow and which looks like
            movement everywhere.
        refine_iterations: most ECC iterations per frame.
        smooth_seconds: Gaussian smoothing of the crops over time before differencing (sensor
            noise and compression flicker are independent from frame to frame, a movement is not).
        common_quantile: which quantile of the upper face's cells measures the common mode (a head
            movement moves every cell, an expression only some).
        common_mode: weight of the upper face's common-mode cell level (above its usual level) taken off
            every region's signal, so that a whole-face movement is not an expression.
        k_seconds: feature-difference half-span, about half a micro-expression.
        return_seconds: a micro-expression has returned to the baseline this long after (and
            before) its apex; a bump that has not is the edge of a held expression.
        max_return_ratio: largest change between ``return_seconds`` before and after the apex,
            over the bump's own size, for a micro-expression.
        max_seconds: longest micro-expression (width of the peak at half height).
        min_score: least peak height, in noise units, to report an interval.
        min_difference: least feature difference (grey levels) to report an interval.
        noise_floor: least noise level (grey levels) a region's signal is divided by, so a perfectly
            still clip does not turn sensor noise into peaks.
        blink_ratio: eye aspect ratio under this fraction of the clip's median is a blink.
        blink_dominance: a blink moves the eye cells at least this many times more than the brows.
        blink_score: least eye-region score of a blink.
        blink_margin: seconds around a blink where eye and brow signals are ignored.
        blink_seconds: widest dip of the eye aspect ratio (at half its depth) that is a blink; a lid
            tightener (AU7) narrows the eye for longer (:func:`_lid_closures`; 0: any dip).
        blink_brow_ratio: ... except where the brows score more than this many times the eyes: a
            blink moves the brows a little, a brow raise or frown during a blink more than the lids
            (0 silences the brows around every blink).
        speech_seconds: window over which mouth-opening oscillation is measured.
        speech_level: mouth-shape oscillation (RMS of the high-passed lip gap, mouth height and jaw
            drop, in inter-ocular distances) above which the person is taken to be talking.
        speech_contrast: ... and least ratio of that oscillation to the rigid distances' (landmark jitter).
        speech_cycles: ... and only inside a train of mouth openings (:func:`syllables`): talking
            opens and closes the mouth 2-8 times a second, an expression once.
        speech_prominence: least rise of one opening (sum of the mouth-shape distances, IOD).
        speech_jitter: ... and least ratio of that rise to the rigid distances' oscillation.
        speech_gap_seconds: longest time between two openings of one train.
        speech_reach_seconds: a train counts this far before and after itself (a phrase's first and
            last syllables, weak ones in between).
        speech_image_contrast: ... and only where the mouth's pixels oscillate this many times more than
            the rigid face's in the registered crops (:func:`mouth_pixels_move`; 0: not asked).
        head_frame: measure the mouth's shape (speech) and the eyes' aspect ratio (blinks) on landmarks
            mapped frame by frame onto the reference frame by their rigid points' affine fit
            (:func:`head_frame`), so that a head turn, nod or tilt does not change them.
        head_frame_seconds: Gaussian sigma over which that map's parameters are smoothed.
        speech_blend_seconds: the lower face's noise level passes from its quiet to its talking value
            over this Gaussian width (0: a hard switch, whose step makes peaks of its own at the edges
            of speech and cuts an expression there in two).
        min_gap_seconds: least distance between two spotted apexes.
        extent_fraction: onset and offset are where the movement falls under this fraction of its
            apex value.
        repeat_seconds: how far before and after a peak (beyond ``max_seconds`` from it) its region
            is looked at for repeated movement.
        repeat_ratio: a peak whose region scores more than this fraction of it there is repeated
            movement (speech), not a micro-expression.
        min_contrast, contrast_margin: a peak under ``min_score + contrast_margin`` must also be
            ``min_contrast`` times the combined score's 90th percentile elsewhere in the clip: a
            weak peak is an expression only when the rest of the clip is quiet.
        head_level, head_contrast: a peak where the head's rigid landmarks jerk (:func:`head_motion`)
            by more than ``head_level`` IOD and ``head_contrast`` times their clip median is the head
            movement's residue (the registration, smoothed over ``registration_seconds``, lags a
            fast nod or turn, and every cell moves), not an expression (0: not asked).
        corner_lift: also score the lip corners by their landmark height over the inner lips
            (:func:`corner_height`, band-passed like the cells, over its own quiet and talking noise);
            the corners' score is the larger of that and their cells'. Talking barely changes that
            height, a lip-corner pull or depressor does; a peak it makes is tested for return on it.
        lift_floor: least noise level (IOD) that height's band-pass is divided by.
        lift_min: least band-passed height change (IOD) that scores: landmark jitter on a hand-held
            still face reached 0.008.
        repeat_masked: a mouth peak near speech is also tested for repetition on its grey-level movement
            (:attr:`_Signals.raw`), which the speech mask does not silence: the mask's edges lag a phrase's
            first and last syllables, and a syllable there was compared with the silenced zeros. Off by
            default: it removed false positives on the tuning clips only, and cost true ones on test clips.
        busy_own: a weak brow peak inside talking may stand ``min_contrast`` above the brows' own score
            elsewhere instead of above the combined score's (which the talking lower face keeps high). Off
            by default: it helped on the tuning clips only, and added false positives on test clips.
        mouth_min_seconds: a mouth peak narrower than this at half height (the combined score's ``width``) is
            a flicker, not an expression: a syllable where the speech mask is off (a phrase's first or last
            one, or a gap in the mask) or a jump of the face mesh in a blink that carries the landmark
            registration, whose feature difference stays up for a frame or two, while a movement lasting
            0.2-0.5 s keeps it up for 0.1 s or more on our generator's clips (0: not asked). Off by default: at
            0.09 s it removed 6 of 19 false positives on the tuning clips and no true one, but on fresh probe
            clips, whose timing differs, two mouth expressions peaked for 0.07-0.086 s and were lost.
        steady_eyes: measure the corner height (:func:`corner_height`) in the clip's median inter-ocular distance
            and eye line instead of each frame's: in a blink the lids move the eye contour, whose mean (the eye
            centre) moved by 2-3 % IOD, and the height's scale with it. Off by default: found after this
            session's fresh test, not yet tested on clips nobody has seen (bench/README.md, ninth session).
        cheek_lift: a cheek peak inside speech counts only where the corner height's score (``corner_lift``)
            reaches this many noise units within ``k_seconds`` of it: talking moves the cheeks with the jaw,
            a cheek raise (AU6) in a smile lifts the lip corners too (0: not asked). Off by default, as
            ``steady_eyes``.
        lift_score: a second opinion from the corner height (``corner_lift``) inside speech: a peak there that the
            combined score calls "low", "busy", "held" or "repeated" is kept when the corner height alone, within
            ``k_seconds`` of it, scores this many noise units and passes those tests on itself (its own level
            elsewhere, its own return within ``lift_return`` and repetition; :meth:`Candidate.lift_passes`); 0: not
            asked. Talking barely moves that height, so a lip-corner pull or depressor inside speech that scores 5-7
            on it stands out of a height that stays near 0-2 elsewhere, while the combined score, which the talking
            lower face keeps high, and the cheeks' or corners' pixels, which talking changes between the two sides
            of a peak, reject it. Outside speech the corners' cells are not disturbed and the usual tests apply. Off
            by default: at 5.5 it found 11 more apexes in 240 talking tuning clips (our generator), but on a fresh
            draw of probe clips, which hold no talking, it changed nothing (bench/README.md, tenth session).
        lift_return: largest change of the corner height between ``return_seconds`` before and after a peak, over
            the bump's own size (either sign), for ``lift_score``'s path: the pixels' ``max_return_ratio`` allows
            for talking changing them; the height barely changes with talking, so a brief movement of it returns.
        busy_region: a weak peak that fails ``min_contrast`` against the combined score elsewhere is kept when it
            stands this many times above its own region's 90th percentile elsewhere (:attr:`Candidate.own_contrast`;
            0: not asked). The combined score is the largest of six regions' scores, so its 90th percentile is the
            top of six noises (3.3-5 noise units in quiet clips) while each region's own stays at 1-2.5: a brow raise
            of 9-10 units in a still, silent clip was "busy". For the brows, cheeks, nose and lip corners only: the
            mouth's and eyes' scores are zeroed in speech and blinks, so their own level is low by construction; and
            not for the lip corners at a blink, where the corner height jumps with the lids (the eye centres move).
            Off by default: at 5.5 it found 3 more apexes in 160 probe-shaped tuning clips (our generator) and 5 in
            240 talking ones, with no none-only clip lost of 204; on a fresh draw of probe clips it found none more
            in 60 and lost one of 40 none-only clips, a brow peak at a blink (bench/README.md, twelfth session).
    """

    crop_size: int = 96
    cell: int = 8
    registration_seconds: float = 0.4
    affine: bool = True
    refine: bool = True
    refine_iterations: int = 5
    smooth_seconds: float = 0.03
    common_mode: float = 5.0
    common_quantile: float = 0.25
    k_seconds: float = 0.2
    return_seconds: float = 0.4
    max_return_ratio: float = 0.8
    max_seconds: float = 0.5
    min_score: float = 7.0
    min_difference: float = 0.5
    noise_floor: float = 0.1
    blink_ratio: float = 0.9
    blink_dominance: float = 1.75
    blink_score: float = 12.0
    blink_margin: float = 0.3
    blink_brow_ratio: float = 1.5
    blink_seconds: float = 0.2
    speech_seconds: float = 1.0
    speech_level: float = 0.01
    speech_contrast: float = 1.2
    speech_blend_seconds: float = 0.1
    speech_cycles: bool = True
    speech_prominence: float = 0.01
    speech_jitter: float = 2.0
    speech_gap_seconds: float = 0.7
    speech_reach_seconds: float = 0.5
    speech_image_contrast: float = 1.0
    head_frame: bool = True
    head_frame_seconds: float = 0.1
    min_gap_seconds: float = 0.5
    extent_fraction: float = 0.15
    repeat_seconds: float = 1.0
    repeat_ratio: float = 0.5
    min_contrast: float = 3.0
    contrast_margin: float = 5.0
    head_level: float = 0.06
    head_contrast: float = 5.0
    corner_lift: bool = True
    lift_floor: float = 0.001
    lift_min: float = 0.01
    busy_own: bool = False
    repeat_masked: bool = False
    mouth_min_seconds: float = 0.0
    steady_eyes: bool = False
    cheek_lift: float = 0.0
    lift_score: float = 0.0
    lift_return: float = 0.4
    busy_region: float = 0.0

    def __post_init__(self) -> None:
        if self.crop_size % self.cell:
            raise ValueError("SpotSettings.crop_size must be a multiple of cell")


@cache
def _regions() -> dict[str, tuple[int, ...]]:
    """Landmark indices of each spotting region."""
    g = landmark_groups()
    return {
        "brows": tuple(sorted(set(g["right_brow"]) | set(g["left_brow"]))),
        "eyes": tuple(sorted(set(g["right_eye"]) | set(g["left_eye"]))),
        "cheeks": _CHEEKS,
        "nose": tuple(sorted(set(g["nose"]) - set(_NOSE_BRIDGE))),
        "mouth": tuple(sorted(set(g["lips"]) - set(_LIP_CORNERS))),
        "corners": _LIP_CORNERS,
    }


def _rigid_points(landmarks: np.ndarray) -> np.ndarray:
    """Upper face outline (above the upper lip) and nose bridge: what expressions barely move."""
    g = landmark_groups()
    lips_top = landmarks[list(g["lips"]), 1].min()
    oval = [i for i in g["oval"] if landmarks[i, 1] < lips_top]
    return np.array(sorted(set(oval) | set(_NOSE_BRIDGE)), dtype=np.int64)


def _head_points(landmarks: np.ndarray) -> np.ndarray:
    """Face outline above the eyes (forehead, temples) and nose bridge: the head frame's anchors. The
    outline lower down (cheeks, jaw line above the lips) follows the jaw in the face mesh when the person
    talks, so a fit on it took part of every opening out of the mouth's shape."""
    g = landmark_groups()
    level = eye_centres(landmarks)[0][1]
    oval = [i for i in g["oval"] if landmarks[i, 1] < level]
    return np.array(sorted(set(oval) | set(_NOSE_BRIDGE)), dtype=np.int64)


def _fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, ...) values with rows where ``valid`` is False filled linearly in time from the valid ones."""
    idx = np.flatnonzero(valid)
    if len(idx) == len(values):
        return values
    flat = values.reshape(len(values), -1)
    full = np.stack([np.interp(np.arange(len(values)), idx, flat[idx, c]) for c in range(flat.shape[1])], 1)
    return full.reshape(values.shape)


def _tracked_points(track: FaceTrack) -> np.ndarray:
    """(N, 478, 2) float64 landmark positions, frames without a face filled in time (:func:`_fill`)."""
    return _fill(track.landmarks[..., :2].astype(np.float64), track.valid)


def _reference(track: FaceTrack, lm: np.ndarray) -> np.ndarray | None:
    """The middle tracked frame's (478, 2) landmarks of ``lm``, the frame every other one is mapped onto
    (None when no frame holds a face)."""
    valid = np.flatnonzero(track.valid)
    return lm[valid[len(valid) // 2]] if len(valid) else None


def _fit_rigid(src: np.ndarray, dst: np.ndarray, affine: bool) -> np.ndarray:
    """(2, 3) least-squares map of (K, 2) ``src`` onto ``dst``: a full affine (a head turning or
    nodding foreshortens the face along one axis, which a similarity cannot follow) or a similarity."""
    if not affine:
        return fit_similarity(src, dst)
    design = np.hstack([src, np.ones((len(src), 1))])
    return np.linalg.lstsq(design, dst, rcond=None)[0].T


def registration(track: FaceTrack, fps: float, settings: SpotSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (N, 2, 3) source -> canonical-crop affines, head motion followed, and the reference landmarks.

    Returns:
        The affines, and the reference frame's (478, 2) landmarks in crop pixels.
    """
    lm = track.landmarks[..., :2].astype(np.float64)
    valid = np.flatnonzero(track.valid)
    ref = _reference(track, lm)
    left, right = eye_centres(ref)
    d = right - left
    size = settings.crop_size
    scale = _INTER_OCULAR * size / max(float(np.hypot(*d)), 1e-6)
    c, s = scale * np.cos(-np.arctan2(d[1], d[0])), scale * np.sin(-np.arctan2(d[1], d[0]))
    rot = np.array([[c, -s], [s, c]])
    base = np.eye(3)
    base[:2, :2] = rot
    base[:2, 2] = np.array([0.5 * size - 0.5, _EYE_Y * size]) - rot @ (0.5 * (left + right))
    rigid = _rigid_points(ref)
    params = np.zeros((len(lm), 6))  # the 2x3 frame -> reference map, row-major
    for j in valid:
        params[j] = _fit_rigid(lm[j][rigid], ref[rigid], settings.affine).ravel()
    params = _fill(params, track.valid)
    width = 2 * round(0.5 * settings.registration_seconds * fps) + 1
    params = median_filter(params, size=(width, 1), mode="nearest")
    params = gaussian_filter1d(params, max(0.05 * fps, 1e-3), axis=0, mode="nearest")
    per_frame = np.zeros((len(lm), 3, 3))
    per_frame[:, :2] = params.reshape(-1, 2, 3)
    per_frame[:, 2, 2] = 1.0
    return (base @ per_frame)[:, :2], ref @ base[:2, :2].T + base[:2, 2]


def head_frame(track: FaceTrack, fps: float, smooth_seconds: float = 0.1, affine: bool = True) -> np.ndarray:
    """(N, 478, 2) landmarks, each frame mapped onto the middle valid frame by the least-squares affine
    map of its head points (:func:`_head_points`: outline above the eyes, nose bridge).

    A head turn or nod foreshortens the face in the image: the mouth's height over the inter-ocular
    distance changes with the pose, which passed for speech (or hid it, when the rigid distances that
    measure landmark jitter changed too) and shifted the eye aspect ratio's baseline. In this frame
    the head's rigid movement (a weak-perspective view of it: shift, tilt, scale, foreshortening) is
    taken out and distances between landmarks measure the face's own movement. The map's parameters
    are smoothed over ``smooth_seconds`` (Gaussian sigma) only: the fit's own frame-to-frame jitter,
    extrapolated to the mouth, would otherwise oscillate like syllables; a head movement is slower.
    """
    lm = _tracked_points(track)
    ref = _reference(track, lm)
    if ref is None:
        return lm
    rigid = _head_points(ref)
    if affine:  # every frame's least-squares affine at once: normal equations of [x, y, 1] -> reference
        design = np.concatenate([lm[:, rigid], np.ones((len(lm), len(rigid), 1))], axis=2)  # (N, K, 3)
        gram = np.einsum("nki,nkj->nij", design, design) + 1e-9 * np.eye(3)
        params = np.linalg.solve(gram, np.einsum("nki,kj->nij", design, ref[rigid])).transpose(0, 2, 1)  # (N, 2, 3)
    else:
        params = np.stack([_fit_rigid(frame[rigid], ref[rigid], affine) for frame in lm])
    if smooth_seconds > 0:
        params = gaussian_filter1d(params, smooth_seconds * fps, axis=0, mode="nearest")
    return np.einsum("nkj,nij->nki", lm, params[:, :, :2]) + params[:, None, :, 2]


def head_motion(track: FaceTrack, fps: float, settings: SpotSettings) -> np.ndarray:
    """(N,) how much the head's rigid landmarks (:func:`_rigid_points`) depart from a steady course, in
    IOD: the same band-pass as the cells' feature difference (:func:`cell_differences`, half-span
    ``k_seconds``) on their image positions, averaged over the points.

    Smooth head motion (drift, a slow turn) is near 0, as the registration follows it; a nod or a
    quick turn, which the registration (median over ``registration_seconds``) cannot follow, peaks
    where it moves every cell of the crop.
    """
    lm = _tracked_points(track)
    ref = _reference(track, lm)
    if ref is None:
        return np.zeros(len(lm))
    left, right = eye_centres(ref)
    iod = max(float(np.linalg.norm(right - left)), 1e-6)
    points = gaussian_filter1d(lm[:, _rigid_points(ref)], max(0.03 * fps, 1e-3), axis=0, mode="nearest")
    band = _band(points, max(1, round(settings.k_seconds * fps)))
    return np.linalg.norm(band, axis=-1).mean(axis=1) / iod


def _landmarks(track: FaceTrack, fps: float, settings: SpotSettings) -> np.ndarray:
    """(N, 478, 2) landmarks for shape measurements: in the head frame (:func:`head_frame`) or as tracked."""
    if settings.head_frame:
        return head_frame(track, fps, settings.head_frame_seconds, settings.affine)
    return _tracked_points(track)


def face_crops(frames: np.ndarray, transforms: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) float32 grey face crops: area-downscaled by an integer factor, then warped."""
    out = np.empty((len(frames), size, size), np.float32)
    for i, (frame, m) in enumerate(zip(frames, transforms)):
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        f = int(max(1, np.floor(1.0 / max(float(np.sqrt(abs(np.linalg.det(m[:, :2])))), 1e-6))))
        if f > 1:
            h, w = grey.shape
            grey = cv2.resize(grey, (w // f, h // f), interpolation=cv2.INTER_AREA)
            # pixel u of the downscaled frame averages source pixels f*u .. f*u+f-1 (centre f*u + (f-1)/2)
            m = np.hstack([m[:, :2] * f, (m[:, 2] + m[:, :2] @ np.full(2, 0.5 * (f - 1)))[:, None]])
        out[i] = cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def rigid_mask(labels: np.ndarray, size: int, cell: int) -> np.ndarray:
    """(size, size) uint8 mask of the face's rigid parts in the crop: face cells that no expression
    region claims, and the nose. In the 96 px crop (brows near its top, outline cells left out)
    that is mostly the nose, which a smile or a nose wrinkle also moves a little."""
    g = size // cell
    rigid = np.isin(labels, [-1, list(_regions()).index("nose")]).reshape(g, g).astype(np.uint8)
    return np.kron(rigid, np.ones((cell, cell), np.uint8))


def refine_crops(crops: np.ndarray, mask: np.ndarray, sigma: float, iterations: int) -> np.ndarray:
    """(N, S, S) crops each aligned (rotation + translation, ECC on ``mask``) to the Gaussian mean of
    its neighbours over ``sigma`` frames: frame-to-frame shake goes, slow motion and brief local
    movement (outside the mask) stay. A frame whose fit fails is kept as it is."""
    if mask.sum() < 64:
        return crops
    reference = gaussian_filter1d(crops, max(sigma, 1e-3), axis=0, mode="nearest")
    size = crops.shape[2], crops.shape[1]
    out = np.empty_like(crops)
    for i, (crop, ref) in enumerate(zip(crops, reference)):
        warp = ecc_warp(ref, crop, cv2.MOTION_EUCLIDEAN, iterations, mask)
        if warp is None:  # no convergence: keep the landmark registration
            out[i] = crop
            continue
        out[i] = cv2.warpAffine(crop, warp, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


def cell_differences(crops: np.ndarray, k: int, cell: int) -> np.ndarray:
    """(N, cells) mean |G_t - (G_{t-k} + G_{t+k}) / 2| per cell of (N, S, S) crops, cells row-major."""
    n, size = len(crops), crops.shape[1]
    g = size // cell
    out = np.empty((n, g * g), np.float32)
    for lo in range(0, n, 256):  # in chunks: a 60 s clip's full-size temporaries would take ~1 GB
        t = np.arange(lo, min(lo + 256, n))
        before, after = crops[np.clip(t - k, 0, n - 1)], crops[np.clip(t + k, 0, n - 1)]
        d = np.abs(crops[t] - 0.5 * (before + after))
        out[t] = d.reshape(len(t), g, cell, g, cell).mean(axis=(2, 4)).reshape(len(t), g * g)
    return out


def cell_regions(points: np.ndarray, size: int, cell: int) -> np.ndarray:
    """(cells,) index into ``_regions()`` of each cell (nearest region landmark within one cell), -1
    for a face cell of no region, -2 for a cell less than half a cell inside the face outline (its
    pixels are partly background or hair, which move against the face when the head turns)."""
    g = size // cell
    cy, cx = np.mgrid[0:g, 0:g] * cell + 0.5 * cell - 0.5
    centres = np.stack([cx.ravel(), cy.ravel()], 1)
    label = np.full(len(centres), -1)
    best = np.full(len(centres), float(cell))
    for r, idx in enumerate(_regions().values()):
        dist = np.linalg.norm(centres[:, None, :] - points[list(idx)][None], axis=-1).min(axis=1)
        closer = dist < best
        label[closer], best[closer] = r, dist[closer]
    hull = cv2.convexHull(points[:, :2].astype(np.float32))
    inside = np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in centres])
    label[inside < 0.5 * cell] = -2
    return label


def _frame_rate(times: np.ndarray, fallback: float) -> float:
    """Mean frame rate of the frame times (seconds), ``fallback`` for one frame or no time span."""
    n = len(times)
    return (n - 1) / times[-1] if n > 1 and times[-1] > 0 else fallback


def _median_mad(signal: np.ndarray, floor: float) -> tuple[float, float]:
    if not len(signal):  # a part of the clip with no frames (all of it is speech, say)
        return 0.0, floor
    med = float(np.median(signal))
    return med, max(1.4826 * float(np.median(np.abs(signal - med))), floor)


def _noise(signal: np.ndarray, floor: float) -> tuple[float, float]:
    """Robust (baseline, scale) of a signal that is mostly noise: median and 1.4826 MAD.

    That holds while a movement fills a small part of the clip. In a short clip around one movement
    (a 1.5 s clip holds 0.8 s of a feature-difference bump), the bump inflates the MAD and scores
    itself down; so when the run of frames above baseline + 2 scales around the maximum (plus two
    frames each side) covers a tenth of the clip or more, the noise is measured without it.
    """
    med, scale = _median_mad(signal, floor)
    if not len(signal):
        return med, scale
    above = signal > med + _BUMP_LEVEL * scale
    peak = int(np.argmax(signal))
    if not above[peak]:
        return med, scale
    edges = np.flatnonzero(~above)
    lo = int(edges[edges < peak].max()) + 1 if (edges < peak).any() else 0
    hi = int(edges[edges > peak].min()) if (edges > peak).any() else len(signal)
    keep = np.ones(len(signal), bool)
    keep[max(lo - 2, 0) : hi + 2] = False
    if (~keep).mean() < _BUMP_SHARE or keep.sum() < max(10, 0.3 * len(signal)):
        return med, scale
    return _median_mad(signal[keep], floor)


def eye_aspect_ratio(points: np.ndarray) -> np.ndarray:
    """(N,) mean over both eyes of lid gap / eye width, from (N, 478, 2) landmarks."""
    ratios = []
    for outer, inner, upper, lower in _EYE_POINTS:
        width = np.linalg.norm(points[:, outer] - points[:, inner], axis=-1)
        ratios.append(np.linalg.norm(points[:, upper] - points[:, lower], axis=-1) / np.maximum(width, 1e-6))
    return np.mean(ratios, axis=0)


def corner_height(points: np.ndarray, fps: float, steady_eyes: bool = False) -> np.ndarray:
    """(N,) height of the lip corners over the centre of the inner lips, in IOD (towards the brows
    positive), from (N, 478, 2) head-frame landmarks (:func:`head_frame`), smoothed over 0.03 s.

    The corners sit between the two lips: opening the jaw lowers them half as far as the lower lip, so
    their height over the inner lips' midpoint barely changes while talking, whereas a lip-corner pull
    (AU12) raises them and a depressor (AU15) lowers them. Inside talking the corners' and cheeks'
    pixels move with every syllable, and such an expression scored 4-7 noise units there. With ``steady_eyes``
    the eye centres are their median over the clip (head-frame landmarks: the eyes stay put, only the lids move).
    """
    left, right = eye_centres(points)
    if steady_eyes:  # the lids move the eye contour's mean in a blink; in the head frame the eyes stay put
        left, right = (np.broadcast_to(np.median(e, axis=0), e.shape) for e in (left, right))
    iod = np.maximum(np.linalg.norm(right - left, axis=-1), 1e-6)
    axis = (right - left) / iod[:, None]
    up = np.stack([axis[:, 1], -axis[:, 0]], 1)  # perpendicular to the eye line, towards the brows
    centre = 0.5 * (points[:, _INNER_LIPS[0]] + points[:, _INNER_LIPS[1]])
    height = np.mean([((points[:, i] - centre) * up).sum(axis=1) for i in _LIP_CORNERS[:2]], axis=0) / iod
    return gaussian_filter1d(height, max(0.03 * fps, 1e-3), mode="nearest")


def _band(x: np.ndarray, k: int) -> np.ndarray:
    """|x_t - (x_t-k + x_t+k) / 2| along the first axis (the cells' feature difference, :func:`cell_differences`)."""
    n = len(x)
    t = np.arange(n)
    return np.abs(x - 0.5 * (x[np.clip(t - k, 0, n - 1)] + x[np.clip(t + k, 0, n - 1)]))


def speech_mask(
    track: FaceTrack,
    fps: float,
    settings: SpotSettings,
    crops: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
) -> np.ndarray:
    """(N,) bool: frames where the mouth opens and closes as in speech (``landmarks``: the (N, 478, 2)
    shape landmarks, :func:`_landmarks`, when already computed).

    The mouth's shape (:data:`_MOUTH_SHAPE`, in inter-ocular distances) is high-passed (minus its
    0.25 s running mean) so that a mouth held open is not speech; its running RMS over
    ``speech_seconds`` is then compared with ``speech_level``.
    """
    lm = _landmarks(track, fps, settings) if landmarks is None else landmarks
    left, right = eye_centres(lm)
    iod = np.maximum(np.linalg.norm(right - left, axis=-1), 1e-6)

    def fast(pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
        shape = np.stack([np.linalg.norm(lm[:, a] - lm[:, b], axis=-1) / iod for a, b in pairs], 1)
        shape = gaussian_filter1d(shape, max(0.03 * fps, 1e-3), axis=0, mode="nearest")
        return shape - gaussian_filter1d(shape, max(0.25 * fps, 1.0), axis=0, mode="nearest")

    def oscillation(high: np.ndarray) -> np.ndarray:
        power = (high * high).sum(axis=1)
        return np.sqrt(gaussian_filter1d(power, max(0.5 * settings.speech_seconds * fps, 1.0), mode="nearest"))

    # Landmarks jitter on a compressed or shaky video: the mouth must oscillate clearly more than
    # the same number of rigid distances do, not only more than a fixed level.
    mouth = fast(_MOUTH_SHAPE)
    rms, jitter = oscillation(mouth), oscillation(fast(_RIGID_SHAPE))
    talking = (rms > settings.speech_level) & (rms > settings.speech_contrast * jitter)
    if settings.speech_cycles:
        talking &= syllables(mouth.sum(axis=1), jitter, fps, settings)
    if settings.speech_image_contrast and crops is not None and labels is not None:
        talking &= mouth_pixels_move(crops, labels, fps, settings)
    # A brief mouth movement (an expression) is no speech: keep only runs lasting speech_seconds.
    run = max(1, round(settings.speech_seconds * fps))
    return binary_dilation(binary_erosion(talking, np.ones(run, bool)), np.ones(run, bool))


def mouth_pixels_move(crops: np.ndarray, labels: np.ndarray, fps: float, settings: SpotSettings) -> np.ndarray:
    """(N,) bool: the mouth's pixels oscillate ``speech_image_contrast`` times more than the rigid face's
    (face cells of no region above the mouth, and the nose) in the registered crops.

    Landmarks jitter with shake and head motion; the crops are registered by image (ECC), so what
    is left there on the rigid face is registration error, and the mouth must clearly exceed it.
    """
    g = settings.crop_size // settings.cell
    rows = np.arange(len(labels)) // g
    mouth = labels == list(_regions()).index("mouth")
    if len(labels) != g * g or crops.shape[1:] != (settings.crop_size, settings.crop_size) or not mouth.any():
        return np.ones(len(crops), bool)  # no crop grid to measure on: the landmarks decide alone
    rigid = ((labels == -1) & (rows < rows[mouth].min())) | (labels == list(_regions()).index("nose"))
    if not rigid.any():
        return np.ones(len(crops), bool)

    def rms(cells: np.ndarray) -> np.ndarray:
        px = crops[:, np.kron(cells.reshape(g, g), np.ones((settings.cell, settings.cell), bool))].astype(np.float64)
        high = px - gaussian_filter1d(px, max(0.25 * fps, 1.0), axis=0, mode="nearest")
        return np.sqrt(gaussian_filter1d((high * high).mean(axis=1), max(0.5 * settings.speech_seconds * fps, 1.0),
                                         mode="nearest"))  # fmt: skip

    return rms(mouth) > settings.speech_image_contrast * rms(rigid)


def syllables(opening: np.ndarray, jitter: np.ndarray, fps: float, settings: SpotSettings) -> np.ndarray:
    """(N,) bool: frames inside a train of mouth openings (syllables, 2-8 a second).

    ``opening`` is the high-passed mouth shape. Its peaks count as openings when they stand out by
    ``speech_prominence`` IOD and ``speech_jitter`` times the rigid distances' oscillation (landmark
    jitter, which camera shake raises). Talking repeats them: the span between two openings at most
    ``speech_gap_seconds`` apart, widened by ``speech_reach_seconds``, is a train. A mouth-opening expression
    (AU25/26, a lip press) is one opening, however large, and makes no train: without this its own
    RMS over a second passed for speech, silenced the mouth and scored the lip corners against its
    own movement.
    """
    peaks, props = find_peaks(opening, prominence=settings.speech_prominence)
    peaks = peaks[props["prominences"] > settings.speech_jitter * jitter[peaks]]
    train = np.zeros(len(opening), bool)
    gap = settings.speech_gap_seconds * fps
    for a, b in zip(peaks[:-1], peaks[1:]):
        if b - a <= gap:
            train[a : b + 1] = True
    half = max(1, round(settings.speech_reach_seconds * fps))
    return binary_dilation(train, np.ones(2 * half + 1, bool)) if train.any() else train


def _half_height_span(curve: np.ndarray, peak: int) -> tuple[int, int]:
    """First and last frame around ``peak`` where ``curve`` stays above half its peak value."""
    half = 0.5 * curve[peak]
    a = peak
    while a > 0 and curve[a - 1] > half:
        a -= 1
    b = peak
    while b < len(curve) - 1 and curve[b + 1] > half:
        b += 1
    return a, b


def _extent(patch: np.ndarray, apex: int, r: int, fraction: float) -> tuple[int, int]:
    """Onset and offset of the movement peaking at ``apex`` in the (N, ...) ``patch`` pixels.

    The feature difference is a band-pass: its half-height span is about half the movement. The
    movement itself is the patch's departure from a baseline drawn straight between ``r`` frames
    before and after the apex (drift and lighting cancel), projected on the apex's departure so
    that zero-mean sensor noise averages out: a course near 0 before, 1 at the apex, 0 after.
    Onset and offset are where that course falls under ``fraction``.
    """
    n = len(patch)
    lo, hi = max(apex - r, 0), min(apex + r, n - 1)
    if hi - lo < 2:
        return lo, hi
    t = np.arange(lo, hi + 1)
    w = ((t - lo) / (hi - lo)).reshape(-1, *([1] * (patch.ndim - 1)))
    departure = (patch[lo : hi + 1] - ((1 - w) * patch[lo] + w * patch[hi])).reshape(len(t), -1)
    top = departure[apex - lo]
    course = departure @ top / max(float(top @ top), 1e-9)
    course = gaussian_filter1d(course, 1.0, mode="nearest")
    below = course < fraction * course[apex - lo]
    a = apex - lo
    while a > 0 and not below[a - 1]:
        a -= 1
    b = apex - lo
    while b < len(t) - 1 and not below[b + 1]:
        b += 1
    return lo + a, lo + b


def _return_ratio(patch: np.ndarray, p: int, r: int) -> float:
    """How far the (N, ...) ``patch`` pixels are from having returned to their baseline on both sides of
    the peak ``p``: the change between ``r`` frames before and after it over the bump's size (a held
    expression's edge is a lasting change, a micro-expression returns).

    Where the clip cuts one side short (``p - r < 0`` or ``p + r >= N``), the clip's first (last) frame may
    lie inside the movement's rise (fall), not at its baseline: an apex 0.1 s from the clip's start had
    its before-frame at 40-90 % of the apex and was dropped as held. There the side that exists is the
    baseline, and the ratio is the clip-end frame's departure from it, projected on the largest
    departure between that end and the peak: under 1 when the movement rises from the clip's end to an
    apex, about 1 when the clip's end lies on a held expression's plateau (then the plateau is the
    largest departure; the peak, its release, lies between plateau and baseline).
    """
    n = len(patch)
    lo, hi = max(p - r, 0), min(p + r, n - 1)
    if (p - r < 0) == (p + r > n - 1):  # both sides whole (or both cut: nothing better to compare against)
        drift = float(np.abs(patch[hi] - patch[lo]).mean())
        bump = float(np.abs(patch[p] - 0.5 * (patch[lo] + patch[hi])).mean())
        return drift / max(bump, 1e-9)
    span = np.arange(0, p + 1) if p - r < 0 else np.arange(p, n)  # from the peak to the clip's cut end
    edge = 0 if p - r < 0 else n - 1
    departure = (patch[span] - patch[hi if p - r < 0 else lo]).reshape(len(span), -1).astype(np.float64)
    top = departure[int(np.argmax(np.abs(departure).mean(axis=1)))]  # the movement's largest departure
    return float(departure[edge - span[0]] @ top) / max(float(top @ top), 1e-9)


@dataclass(frozen=True)
class _Signals:
    """Intermediate per-clip signals of :func:`spot` (kept together for inspection and tests)."""

    crops: np.ndarray  # (N, S, S) grey face crops
    cells: np.ndarray  # (N, cells) feature difference per cell
    labels: np.ndarray  # (cells,) region index per cell, -1 none
    regions: dict[str, np.ndarray]  # region -> (N,) score in noise units, distractors silenced
    raw: dict[str, np.ndarray]  # region -> (N,) feature difference (grey levels)
    blinks: np.ndarray  # (N,) bool
    speech: np.ndarray  # (N,) bool
    head: np.ndarray | None = None  # (N,) rigid head jerk in IOD (head_motion); None: not measured
    corner_height: np.ndarray | None = None  # (N,) lip corners over the lips, IOD (corner_height); None: not used
    corner_lift: np.ndarray | None = None  # (N,) its band-pass in noise units (part of regions["corners"])


def _lid_closures(ear: np.ndarray, fps: float, settings: SpotSettings) -> np.ndarray:
    """(N,) bool: frames where the eye aspect ratio (over its clip median) is under ``blink_ratio`` in a
    dip brief enough for a blink.

    A blink closes the lids fully and briefly (the aspect ratio's dip is under 0.2 s wide at half its
    depth on every tuning blink); a lid tightener (AU7, with a frown in AU4+AU7) narrows the eye by a
    fraction for the whole expression, 0.2-0.3 s at half depth. A dip wider than ``blink_seconds`` is
    that, not a blink (0: every dip is a blink).
    """
    low = ear < settings.blink_ratio
    if not settings.blink_seconds or not low.any():
        return low
    out = np.zeros(len(ear), bool)
    starts = np.flatnonzero(np.diff(np.r_[0, low.astype(np.int8)]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[low.astype(np.int8), 0]) == -1)
    for a, b in zip(starts, ends):
        i = a + int(np.argmin(ear[a : b + 1]))
        lo, hi = _half_height_span(1.0 - ear, i)  # the dip's width at half its depth below the usual ratio 1
        if (hi - lo + 1) / fps <= settings.blink_seconds:
            out[a : b + 1] = True
    return out


def _scored(s: np.ndarray, speech: np.ndarray | None, fps: float, settings: SpotSettings, floor: float) -> np.ndarray:
    """(N,) signal ``s`` in noise units: over the clip's noise, or (``speech`` given and long enough) over
    its talking-time noise while talking and its quiet noise elsewhere, passing smoothly between them."""
    if speech is None or speech.sum() <= 10:
        base, scale = _noise(s, floor)
        return (s - base) / scale
    (b1, s1), (b0, s0) = (_noise(s[part], floor) for part in (speech, ~speech))
    w = speech.astype(np.float64)
    if settings.speech_blend_seconds:  # a hard switch makes peaks of its own at the edges of speech
        w = np.clip(gaussian_filter1d(w, settings.speech_blend_seconds * fps), 0, 1)
    return (s - (w * b1 + (1 - w) * b0)) / (w * s1 + (1 - w) * s0)


def _region_scores(
    cells: np.ndarray, labels: np.ndarray, speech: np.ndarray, fps: float, settings: SpotSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per region, from per-cell feature differences: the raw signal and its score in noise units."""
    # Common mode: a head movement the registration follows a frame late moves every cell a
    # little (edges everywhere), an expression only some. A low quantile of the upper face's cells
    # (mouth and lip corners left out: they move while talking) above its usual level is taken off
    # every region: the median would rise with a brow raise, which moves half the upper face.
    names = list(_regions())
    upper = np.isin(labels, [names.index(n) for n in names if n not in ("mouth", "corners")])
    q = settings.common_quantile
    common = np.quantile(cells[:, upper], q, axis=1) if upper.any() else np.zeros(len(cells))
    common = settings.common_mode * np.clip(common - np.median(common), 0.0, None)
    raw, z = {}, {}
    for r, name in enumerate(names):
        own = cells[:, labels == r]
        s = raw[name] = np.sort(own, axis=1)[:, -2:].mean(axis=1) - common  # its two strongest cells
        # Talking moves the lower face all the time: while talking, its own noise level applies there.
        z[name] = _scored(s, speech if name in _SPEECH_REGIONS else None, fps, settings, settings.noise_floor)
        z[name] = np.where(s >= settings.min_difference, z[name], np.minimum(z[name], 0.0))
    return raw, z


def signals(clip: Clip, track: FaceTrack, settings: SpotSettings = SpotSettings()) -> _Signals:
    """Region scores over time, blinks and speech of one clip (steps 1-3 of the module docstring).

    With ``settings.refine`` each region's score is the larger of the landmark-registered and the
    image-registered crops' scores: image registration takes camera shake out, but on a face whose
    rigid cells are few (the nose) it also follows part of a smile or a nose wrinkle, which the
    landmark registration keeps.
    """
    cells, crops, labels, fps = registered_cells(clip, track, settings)
    return combine(cells, crops, labels, track, fps, settings)


def registered_cells(
    clip: Clip, track: FaceTrack, settings: SpotSettings
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, float]:
    """Step 1 (the slow part): each registration's (N, cells) feature differences, the last
    registration's crops, the cells' region labels and the clip's frame rate."""
    times = np.asarray(clip.timestamps, dtype=np.float64)
    fps = _frame_rate(times, float(clip.fps))
    k = max(1, round(settings.k_seconds * fps))
    transforms, ref_points = registration(track, fps, settings)
    crops = face_crops(clip.frames, transforms, settings.crop_size)
    labels = cell_regions(ref_points, settings.crop_size, settings.cell)
    variants = [crops]
    if settings.refine:
        mask = rigid_mask(labels, settings.crop_size, settings.cell)
        variants.append(refine_crops(crops, mask, k, settings.refine_iterations))
    if settings.smooth_seconds > 0:
        variants = [gaussian_filter1d(c, settings.smooth_seconds * fps, axis=0, mode="nearest") for c in variants]
    return [cell_differences(c, k, settings.cell) for c in variants], variants[-1], labels, fps


def combine(
    cells: list[np.ndarray], crops: np.ndarray, labels: np.ndarray, track: FaceTrack, fps: float, settings: SpotSettings
) -> _Signals:
    """Steps 2-3 from each registration's (N, cells) feature differences: region scores (the larger
    of the registrations'), blinks and speech, distractors silenced."""
    points = _landmarks(track, fps, settings)
    speech = speech_mask(track, fps, settings, crops, labels, points)
    scored = [_region_scores(c, labels, speech, fps, settings) for c in cells]
    raw = scored[-1][0]
    z = {name: np.max([zs[name] for _, zs in scored], axis=0) for name in raw}
    height = lift = None
    if settings.corner_lift:  # the corners' landmark height over the lips, scored like the corners' cells
        height = corner_height(points, fps, settings.steady_eyes)
        band = _band(height, max(1, round(settings.k_seconds * fps)))
        lift = _scored(band, speech, fps, settings, settings.lift_floor)
        lift = np.where(band >= settings.lift_min, lift, np.minimum(lift, 0.0))  # as min_difference for the cells
        z["corners"] = np.maximum(z["corners"], lift)
    # A blink: the lids close (eye aspect ratio dips), or the eye cells move far more than the brows.
    ear = eye_aspect_ratio(points)
    closing = _lid_closures(ear / max(float(np.median(ear)), 1e-9), fps, settings) | (
        (z["eyes"] > settings.blink_score) & (z["eyes"] > settings.blink_dominance * np.maximum(z["brows"], 0))
    )
    margin = 2 * round(settings.blink_margin * fps) + 1
    blinks = maximum_filter1d(closing.astype(np.uint8), size=margin) > 0
    # A blink moves the brows a little; a brow raise or frown during a blink moves them more than the lids.
    own = z["brows"] > settings.blink_brow_ratio * np.maximum(z["eyes"], 0) if settings.blink_brow_ratio else False
    z["brows"] = np.where(blinks & ~own, 0.0, z["brows"])
    z["eyes"] = np.where(blinks, 0.0, z["eyes"])
    z["mouth"] = np.where(speech, 0.0, z["mouth"])
    return _Signals(crops, cells[-1], labels, z, raw, blinks, speech, head_motion(track, fps, settings), height, lift)


@dataclass(frozen=True)
class Candidate:
    """One peak of the combined score, with what each distractor filter measured on it (step 4).

    Attributes:
        peak: frame of the combined score's peak; onset, apex, offset: frames of the movement.
        region: the region that scored highest there; score: its height in noise units.
        second: the next region's score at the peak (an expression moves one or two regions, a
            head movement or a lighting change most of them).
        return_ratio: change between ``return_seconds`` before and after, over the bump's size.
        repeat_ratio: the region's own highest score near the peak (``repeat_seconds``), over the peak's.
        width: seconds at half height of the combined score.
        contrast: score over the combined score's 90th percentile elsewhere in the clip (beyond
            ``max_seconds`` from the peak): a clip that moves all along has many such peaks.
        speech, blink: whether the peak falls in speech or around a blink.
        head: the head's rigid jerk at the peak (:func:`head_motion`, IOD); head_ratio: that over its clip
            median.
        own_contrast: score over the peak region's own 90th percentile elsewhere in the clip.
        lift: the corner height's highest score within ``k_seconds`` of the peak (0 without ``corner_lift``).
        lift_contrast, lift_return, lift_repeat: at the corner height's highest score within ``k_seconds`` of the
            peak (``lift``): that score over its own 90th percentile elsewhere in the clip, the height's return
            ratio, and the height's repeat ratio (as ``contrast``, ``return_ratio``, ``repeat_ratio``).
    """

    peak: int
    onset: int
    apex: int
    offset: int
    region: str
    score: float
    second: float
    return_ratio: float
    repeat_ratio: float
    width: float
    contrast: float
    speech: bool
    blink: bool
    head: float = 0.0
    head_ratio: float = 0.0
    own_contrast: float = 0.0
    lift: float = 0.0
    lift_contrast: float = 0.0
    lift_return: float = 0.0
    lift_repeat: float = 0.0

    def rejected_by(self, settings: SpotSettings) -> str | None:
        """Which filter drops this peak ("low", "head", "held", "repeated", "wide", "flicker", "jaw", "busy"), or None
        when it is kept."""
        why = self._rejected_by(settings)
        if why in ("low", "busy", "held", "repeated") and self.lift_passes(settings):
            return None  # the corner height alone calls it an expression (talking barely moves that height)
        return why

    def lift_passes(self, settings: SpotSettings) -> bool:
        """Whether, inside speech, the corner height alone passes the score, busy, held and repeated tests
        (``lift_score``, ``lift_return``)."""
        if not settings.lift_score or not self.speech or self.lift < settings.lift_score:
            return False
        busy = self.lift < settings.min_score + settings.contrast_margin and self.lift_contrast < settings.min_contrast
        return not busy and abs(self.lift_return) <= settings.lift_return and self.lift_repeat <= settings.repeat_ratio

    def _rejected_by(self, settings: SpotSettings) -> str | None:
        if self.score < settings.min_score:
            return "low"
        if settings.head_level and self.head > settings.head_level and self.head_ratio > settings.head_contrast:
            return "head"  # the residue of a head movement the registration did not follow
        if self.return_ratio > settings.max_return_ratio:
            return "held"  # the edge of a held expression (or a lasting change), not a brief one
        if self.repeat_ratio > settings.repeat_ratio:
            return "repeated"  # the region keeps moving (speech, chewing): one of many movements
        if self.width > settings.max_seconds:
            return "wide"
        if self.region == "mouth" and self.width < settings.mouth_min_seconds:
            return "flicker"  # a syllable or a jump of the face mesh, not a movement lasting 0.2 s or more
        if self.region == "cheeks" and self.speech and self.lift < settings.cheek_lift:
            return "jaw"  # the cheeks moving with the jaw while talking; a smile's cheek raise lifts the corners
        still = settings.busy_own and self.speech and self.region in _STILL_IN_SPEECH
        contrast = max(self.contrast, self.own_contrast) if still else self.contrast
        if self.score < settings.min_score + settings.contrast_margin and contrast < settings.min_contrast:
            quiet = self.region in _OWN_LEVEL_REGIONS and not (self.blink and self.region in _JUMP_AT_BLINK)
            if settings.busy_region and quiet and self.own_contrast >= settings.busy_region:
                return None  # busy only against the other regions' noise: its own region is quiet elsewhere
            return "busy"  # a weak peak among many of its size: the clip's noise, not an expression
        return None


def _repeat_ratio(x: np.ndarray, p: int, gap: int, reach: int, k: int) -> float:
    """Largest value of ``x`` shortly before and after peak ``p`` (between ``gap`` and ``reach`` frames from
    it, not within ``k`` of the clip's ends) over its value at ``p``; 0 when there is no such frame."""
    n = len(x)
    near = np.r_[x[max(p - reach, k) : max(p - gap, k)], x[p + gap + 1 : min(p + reach + 1, n - k)]]
    return float(near.max()) / max(float(x[p]), 1e-9) if near.size else 0.0


def _level_elsewhere(x: np.ndarray, p: int, gap: int) -> float:
    """90th percentile of ``x`` more than ``gap`` frames from peak ``p`` (0 when the clip holds nothing else)."""
    rest = np.r_[x[: max(p - gap, 0)], x[p + gap + 1 :]]
    return float(np.quantile(rest, 0.9)) if rest.size else 0.0


def _lift_tests(
    lift: np.ndarray, height: np.ndarray | None, p: int, k: int, r: int, gap: int, reach: int
) -> tuple[float, float, float]:
    """At the corner height's highest score within ``k`` of peak ``p``: its contrast, return and repeat ratios
    (the tests :meth:`Candidate.rejected_by` applies to a peak, on the height alone; zeros without it)."""
    if height is None:
        return 0.0, 0.0, 0.0
    q = max(p - k, 0) + int(np.argmax(lift[max(p - k, 0) : p + k + 1]))
    contrast = float(lift[q]) / max(_level_elsewhere(lift, q, gap), 1.0)
    return contrast, _return_ratio(height[:, None], q, r), _repeat_ratio(lift, q, gap, reach, k)


def candidates(
    sig: _Signals, times: np.ndarray, valid: np.ndarray, settings: SpotSettings, min_score: float | None = None
) -> tuple[np.ndarray, list[Candidate]]:
    """The combined score (N,) and every peak of it above ``min_score`` (default: the settings'),
    with the filters' measurements; :func:`spot` keeps those no filter rejects."""
    n = len(times)
    fps = _frame_rate(times, 30.0)
    k = max(1, round(settings.k_seconds * fps))
    names = list(sig.regions)
    stack = np.stack([sig.regions[name] for name in names])
    score = np.clip(stack.max(axis=0), 0.0, None)
    score[~valid] = 0.0

    r = max(k + 1, round(settings.return_seconds * fps))
    reach = round(settings.repeat_seconds * fps)
    gap = round(settings.max_seconds * fps)  # a micro-expression and its feature-difference echoes
    height = settings.min_score if min_score is None else min_score
    if settings.lift_score and min_score is None:
        height = min(height, settings.lift_score)  # weaker peaks of the corner height (Candidate.rejected_by)
    # the corner height's own tests serve only lift_score (Candidate.lift_passes): not measured while it is off
    lift = np.clip(sig.corner_lift, 0.0, None) if settings.lift_score and sig.corner_lift is not None else None
    peaks, _ = find_peaks(score, height=height, distance=max(1, round(settings.min_gap_seconds * fps)))
    head = sig.head if sig.head is not None else np.zeros(n)
    head_level = max(float(np.median(head[valid])) if valid.any() else 0.0, 1e-9)
    out = []
    for p in peaks:
        order = np.argsort(stack[:, p])
        region = int(order[-1])
        cells = np.flatnonzero(sig.labels == region)
        cells = cells[np.argsort(sig.cells[p, cells])[-2:]]  # the cells that peaked
        gy, gx = np.divmod(cells, settings.crop_size // settings.cell)
        c = settings.cell
        patch = np.stack([sig.crops[:, y * c : (y + 1) * c, x * c : (x + 1) * c] for y, x in zip(gy, gx)], 1)
        lifted = sig.corner_lift is not None and names[region] == "corners" and sig.corner_lift[p] >= stack[region, p]
        # A peak the corners' landmark height makes is judged on that height: their pixels change with talking.
        return_ratio = _return_ratio(sig.corner_height[:, None] if lifted else patch, p, r)
        # The region's score shortly before and after the movement (not within k of the clip's ends,
        # where the feature difference is one-sided and echoes the movement).
        own = stack[region]
        repeat = _repeat_ratio(own, p, gap, reach, k)
        if settings.repeat_masked and names[region] == "mouth" and sig.speech[max(p - reach, 0) : p + reach + 1].any():
            # The mouth is silenced in speech (0 there): next to a phrase its grey levels are the reference.
            repeat = max(repeat, _repeat_ratio(sig.raw["mouth"], p, gap, reach, k))
        a, b = _half_height_span(score, p)
        level = _level_elsewhere(score, p, gap)
        own_level = _level_elsewhere(np.clip(own, 0, None), p, gap)
        # Apex: the frame of the bump most displaced from the local baseline (r before, r after).
        idx = np.arange(max(a - 1, 0), min(b + 2, n))
        base = 0.5 * (patch[np.clip(idx - r, 0, n - 1)] + patch[np.clip(idx + r, 0, n - 1)])
        apex = int(idx[int(np.argmax(np.abs(patch[idx] - base).mean(axis=(1, 2, 3))))])
        onset, offset = _extent(patch, apex, r, settings.extent_fraction)
        out.append(Candidate(
            int(p), onset, apex, offset, names[region], float(score[p]), float(max(stack[order[-2], p], 0.0)),
            return_ratio, repeat, float(times[b] - times[a]), float(score[p]) / max(level, 1.0),
            bool(sig.speech[p]), bool(sig.blinks[p]), head[p], head[p] / head_level,
            float(score[p]) / max(own_level, 1.0),
            float(sig.corner_lift[max(p - k, 0) : p + k + 1].max()) if sig.corner_lift is not None else 0.0,
            *(_lift_tests(lift, sig.corner_height, p, k, r, gap, reach) if lift is not None else (0.0, 0.0, 0.0)),
        ))  # fmt: skip
    return score, out


def spot(clip: Clip, track: FaceTrack, settings: SpotSettings = SpotSettings()) -> SpotResult:
    """Score ``clip`` over time for micro-expression likelihood and return the spotted intervals.

    Args:
        clip: the decoded clip.
        track: the face tracked through it (the pipeline's own; no second face pass).
        settings: thresholds and durations.

    Returns:
        A :class:`SpotResult`; ``intervals == ()`` means no micro-expression was found.
    """
    times = np.asarray(clip.timestamps, dtype=np.float64)
    n = len(times)
    fps = _frame_rate(times, float(clip.fps))
    k = max(1, round(settings.k_seconds * fps))
    if not track.valid.any():
        return SpotResult(times, np.zeros(n), (), ("no face to spot a micro-expression on",))
    if n < 2 * k + 3:
        return SpotResult(times, np.zeros(n), (), ("the clip is too short to spot a micro-expression in",))
    sig = signals(clip, track, settings)
    return decide(sig, times, track.valid, settings)


def decide(sig: _Signals, times: np.ndarray, valid: np.ndarray, settings: SpotSettings) -> SpotResult:
    """Step 4 on computed signals: the peaks no filter rejects become intervals."""
    score, found = candidates(sig, times, valid, settings)

    def interval(c: Candidate) -> Interval:
        return Interval(float(times[c.onset]), float(times[c.apex]), float(times[c.offset]), c.score)

    intervals = tuple(interval(c) for c in found if c.rejected_by(settings) is None)
    over = [c for c in found if c.score >= settings.min_score]  # lift_score may add weaker peaks to ``found``
    strongest = interval(max(over, key=lambda c: c.score)) if over else None
    notices = []
    if sig.speech.mean() > 0.2:
        notices.append("the person talks in this clip: mouth movement while talking is not counted as an expression")
    return SpotResult(times, score, intervals, tuple(notices), strongest)


__all__ = ["Candidate", "Interval", "SpotResult", "SpotSettings", "candidates", "combine", "decide", "signals", "spot"]
