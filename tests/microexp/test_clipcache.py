"""microexp.clipcache: the same clip is decoded and tracked once per session, whatever model or method follows;
one session never sees another's clips, and the memory held is bounded."""

import numpy as np
import pytest
import torch

from microexp.clipcache import ClipCache, array_bytes, file_digest
from microexp.errors import NotAVideoError
from microexp.models import MicroExpSTCNN
from microexp.pipeline import Predictor
from microexp.spec import InputSpec


@pytest.fixture(scope="module")
def predictors(landmarker):
    spec = InputSpec(frames=18, window_seconds=0.6)
    return {n: Predictor(MicroExpSTCNN(input_spec=spec, filters=4, hidden=8), landmarker=landmarker, name=n)
            for n in ("a", "b")}


@pytest.fixture
def calls(predictors):
    return []


@pytest.fixture
def make_cache(predictors, calls):
    def predictor(name):
        calls.append(name)
        return predictors[name]

    return lambda **kw: ClipCache(predictor, **kw)


def test_clip_cache_reuses_track_then_prediction_and_evicts(make_cache, calls, face_clips, tmp_path):
    cache = make_cache(per_session=1)
    clip = next(iter(face_clips.values()))
    copy = tmp_path / "same-bytes-other-path.mp4"
    copy.write_bytes(clip.read_bytes())
    assert file_digest(clip) == file_digest(copy)

    first, r1 = cache.predict(clip, "a")
    again, r2 = cache.predict(copy, "a")
    other, r3 = cache.predict(clip, "b")
    assert (r1, r2, r3) == ("none", "prediction", "clip")
    assert calls == ["a", "b"]  # the cached Prediction needs no predictor
    assert other.track is first.track and set(again.timings_ms.values()) == {0.0}

    others = [p for p in face_clips.values() if file_digest(p) != file_digest(clip)]
    cache.predict(others[0], "a")  # one clip per session: evicts the first clip
    assert cache.predict(clip, "a")[1] == "none"


def test_sessions_do_not_share_clips_and_a_closed_session_is_forgotten(make_cache, face_clips):
    cache = make_cache(per_session=2)
    clip, other = list(face_clips.values())[:2]
    assert cache.predict(clip, "a", session="alice")[1] == "none"
    # Bob sends the same bytes: nothing of Alice's work is reused, or reported as reused
    assert cache.predict(clip, "a", session="bob")[1] == "none"
    assert cache.predict(clip, "a", session="bob")[1] == "prediction"
    # Bob's second clip does not evict Alice's
    cache.predict(other, "a", session="bob")
    held = cache.nbytes
    assert cache.predict(clip, "a", session="alice")[1] == "prediction"
    cache.forget("alice")
    assert cache.nbytes < held
    assert cache.predict(clip, "a", session="alice")[1] == "none"


def test_total_memory_is_bounded_across_sessions(make_cache, face_clips):
    clip, other = list(face_clips.values())[:2]
    probe = make_cache()
    pred, _ = probe.predict(clip, "a")
    one = probe.nbytes
    # the frames are most of an entry, and an entry is counted in full
    assert pred.clip.frames.nbytes < one < 3 * pred.clip.frames.nbytes
    cache = make_cache(per_session=2, max_bytes=int(1.5 * one))
    cache.predict(clip, "a", session="alice")
    cache.predict(other, "a", session="bob")  # over the bound: Alice's clip goes, the newest stays
    assert cache.nbytes <= cache.max_bytes
    assert cache.predict(other, "a", session="bob")[1] == "prediction"
    assert cache.predict(clip, "a", session="alice")[1] == "none"
    tiny = make_cache(max_bytes=one // 2)  # a clip larger than the whole bound is not kept
    tiny.predict(clip, "a")
    assert tiny.nbytes == 0 and tiny.predict(clip, "a")[1] == "none"


def test_a_deleted_file_is_a_typed_error(make_cache, tmp_path):
    with pytest.raises(NotAVideoError, match="gone.mp4"):
        make_cache().predict(tmp_path / "gone.mp4", "a")


def test_array_bytes_counts_shared_memory_once():
    a = np.zeros((10, 100), np.uint8)
    t = torch.zeros(50, dtype=torch.float32)
    assert array_bytes({"x": a, "views": [a[:5], a[5:]], "t": (t, t[10:])}) == 1000 + 200
