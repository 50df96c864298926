"""Blended identities: a morph is a face MediaPipe finds where the blend says, it is named after both
people, and a generated set with morphs keeps them as subjects of their own."""

from __future__ import annotations

import numpy as np
import pytest

from microexp.face import eye_centres
from tests.fixtures.faces import read_csv
from train import synth
from train.protocols import people_in
from train.synth.morph import morph, morph_photos


def _by_person(photos):
    first = {}
    for p in photos:
        first.setdefault(p.person, p)
    return first


def test_a_morph_is_a_face_whose_landmarks_are_the_blended_shape(photos, landmarker):
    people = _by_person(photos)
    a, b = people["grace_hopper"], people["joe_biden"]
    m = morph(a, b)
    assert m.person == "grace_hopper+joe_biden" and people_in(m.person) == {"grace_hopper", "joe_biden"}
    assert m.rgb.shape == a.rgb.shape and m.landmarks.shape == (478, 3)
    (found,) = landmarker.detect(m.rgb)
    left, right = eye_centres(m.landmarks[None, :, :2])
    iod = float(np.linalg.norm(right - left))
    error = np.linalg.norm(found[:, :2] - m.landmarks[:, :2], axis=1) / iod
    assert float(np.median(error)) < 0.04, float(np.median(error))
    # a new face: another shape than the first photo's, and other pixels inside the face
    assert np.linalg.norm(m.landmarks[:, :2] - a.landmarks[:, :2], axis=1).mean() / iod > 0.01
    (x0, y0), (x1, y1) = m.landmarks[:, :2].min(0).astype(int), m.landmarks[:, :2].max(0).astype(int)
    assert np.abs(m.rgb[y0:y1, x0:x1].astype(int) - a.rgb[y0:y1, x0:x1].astype(int)).mean() > 5
    with pytest.raises(ValueError, match="0 < t < 1"):
        morph(a, b, 1.0)


def test_morph_photos_one_per_pair_deterministic(photos):
    assert morph_photos(photos, 0) == ()
    two = morph_photos(photos, 2)
    assert [m.person for m in two] == ["barack_obama+eileen_collins", "barack_obama+grace_hopper"]
    assert np.array_equal(two[0].rgb, morph_photos(photos, 1)[0].rgb)
    assert len(morph_photos(photos, 99)) == 6  # four people: six pairs
    with pytest.raises(ValueError):
        morph_photos(photos, -1)


def test_generated_set_with_morphs_has_blended_subjects(tmp_path, photos):
    config = synth.SynthConfig(clips=6, morphs=2, seconds=(0.8, 1.0), size=(160, 120))
    rows = read_csv(synth.generate(config, tmp_path / "m", progress=False, photos=photos))
    subjects = {r["subject"]: r["person"] for r in rows}
    assert len(subjects) == 6 and sum("+" in p for p in subjects.values()) == 2
    with pytest.raises(ValueError, match="morphs"):
        synth.SynthConfig(morphs=-1)
