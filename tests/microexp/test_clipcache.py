"""microexp.clipcache: the same clip is decoded and tracked once, whatever model or method follows."""

from microexp.clipcache import ClipCache, file_digest
from microexp.models import MicroExpSTCNN
from microexp.pipeline import Predictor
from microexp.spec import InputSpec


def test_clip_cache_reuses_track_then_prediction_and_evicts(landmarker, face_clips, tmp_path):
    spec = InputSpec(frames=18, window_seconds=0.6)
    predictors = {n: Predictor(MicroExpSTCNN(input_spec=spec, filters=4, hidden=8), landmarker=landmarker, name=n)
                  for n in ("a", "b")}
    calls = []

    def predictor(name):
        calls.append(name)
        return predictors[name]

    cache = ClipCache(predictor, size=1)
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
    cache.predict(others[0], "a")  # size 1: evicts the first clip
    assert cache.predict(clip, "a")[1] == "none"
