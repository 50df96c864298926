"""Windows: duration, stride, time-uniform sampling (VFR-safe), short clips, centring on an apex."""

from __future__ import annotations

import numpy as np
import pytest

from microexp.spec import InputSpec
from microexp.windows import APEX_SPREAD, apex_offsets, make_windows, window_at
from train.synth.media import vfr_timestamps

SPEC = InputSpec(frames=18, window_seconds=0.6)


def _times(window, t):
    """Seconds at which a window samples its frames, from its fractional positions."""
    return np.interp(window.positions, np.arange(len(t)), t)


def test_windows_cover_the_clip_with_stride_and_tail():
    t = np.arange(90) / 30.0  # 3 s at 30 fps, last frame at 2.9667 s
    windows, notices = make_windows(t, SPEC)
    assert notices == ()
    starts = [w.start for w in windows]
    np.testing.assert_allclose(starts[:-1], np.arange(len(starts) - 1) * 0.2, atol=1e-9)
    assert windows[-1].end == pytest.approx(t[-1])  # the tail is analysed too
    for i, w in enumerate(windows):
        assert w.index == i
        assert w.end - w.start == pytest.approx(0.6)
        assert w.positions.shape == (18,)
        assert np.all(np.diff(w.positions) > 0)
        assert 0 <= w.positions[0] and w.positions[-1] <= 89
        np.testing.assert_allclose(_times(w, t), np.linspace(w.start, w.end, 18), atol=1e-9)


def test_explicit_stride_and_exact_fit():
    t = np.arange(61) / 30.0  # exactly 2.0 s
    windows, _ = make_windows(t, SPEC, stride_seconds=0.7)
    assert [round(w.start, 6) for w in windows] == [0.0, 0.7, 1.4]
    windows, _ = make_windows(t, SPEC, stride_seconds=0.6)
    assert [round(w.start, 6) for w in windows] == [0.0, 0.6, 1.2, 1.4]
    with pytest.raises(ValueError):
        make_windows(t, SPEC, stride_seconds=0)


def test_variable_frame_rate_samples_uniformly_in_time():
    t = vfr_timestamps(45)
    windows, _ = make_windows(t, SPEC)
    for w in windows:
        np.testing.assert_allclose(_times(w, t), np.linspace(w.start, w.end, 18), atol=1e-9)
        # irregular gaps: positions are not evenly spaced in frame index
    assert any(np.ptp(np.diff(w.positions)) > 0.05 for w in windows)


def test_short_clip_is_resampled_whole_with_notice():
    t = np.arange(10) / 30.0  # 0.3 s < 0.6 s window
    windows, notices = make_windows(t, SPEC)
    assert len(windows) == 1 and len(notices) == 1 and "shorter" in notices[0]
    w = windows[0]
    assert (w.start, w.end) == (0.0, pytest.approx(t[-1]))
    assert w.positions[0] == 0 and w.positions[-1] == pytest.approx(9)
    assert w.positions.shape == (18,)


def test_window_at_centres_and_clamps():
    t = np.arange(300) / 100.0
    w = window_at(t, SPEC, 1.5)
    assert (w.start, w.end) == (pytest.approx(1.2), pytest.approx(1.8))
    assert window_at(t, SPEC, 0.05).start == 0.0
    assert window_at(t, SPEC, 9.0).end == pytest.approx(t[-1])
    short = window_at(t[:20], SPEC, 0.1)
    assert short.start == 0 and short.end == pytest.approx(t[19])
    assert w.index == 0 and window_at(t, SPEC, 1.5, index=7).index == 7 and short.index == 0


def test_window_at_samples_a_sliding_window_exactly_when_centred_on_it():
    """A centred window on a spotted apex reads the same source positions as the sliding window with that
    centre, so classifying it is the same computation training and the sliding grid use."""
    t = np.arange(300) / 100.0
    sliding, _ = make_windows(t, SPEC)
    for w in sliding[1:-1]:
        np.testing.assert_allclose(window_at(t, SPEC, w.center).positions, w.positions, atol=1e-9)


def test_bad_timestamps_rejected():
    with pytest.raises(ValueError):
        make_windows(np.array([0.0, 0.1, 0.1]), SPEC)
    with pytest.raises(ValueError):
        make_windows(np.array([]), SPEC)


def test_apex_offsets_keep_every_window_on_the_apex():
    """Offsets are fractions of a window: within +-0.5 the shifted window still holds the apex; anything else,
    or a value that is not a list of numbers, is refused with the parameter's name."""
    assert APEX_SPREAD == (0.0,) and apex_offsets(APEX_SPREAD) == (0.0,)
    assert apex_offsets([-0.15, 0, 0.15]) == (-0.15, 0.0, 0.15) and apex_offsets((0.5, -0.5)) == (0.5, -0.5)
    for bad in ((), [], (0.6,), (-0.51,), (float("nan"),), (float("inf"),), 0.1, "0.1", (True,), ("0.1",), None):
        with pytest.raises(ValueError, match="apex_spread"):
            apex_offsets(bad)
