"""Rendering: crop heatmaps land where the alignment says, overlays, H.264 video, crop montages."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch

from microexp import render
from microexp.explain import explain_prediction
from microexp.models import build_model
from microexp.pipeline import Predictor
from microexp.video import clip_from_frames
from train.synth.media import face_frames


def _similarity(scale: float, degrees: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


@pytest.mark.parametrize("scale,degrees", [(0.25, 0.0), (0.2, 15.0), (0.5, -30.0)])
def test_crop_heat_lands_on_the_source_pixel_it_came_from(scale, degrees):
    m = _similarity(scale, degrees, -20.0, 10.0)  # source -> crop
    heat = np.zeros((64, 64), np.float32)
    heat[40, 22] = 1.0  # crop (x=22, y=40)
    src = render.heatmap_to_source(render.smooth(heat, 1.5), m, (640, 360))
    y, x = np.unravel_index(np.argmax(src), src.shape)
    inv = cv2.invertAffineTransform(m)
    ex, ey = inv @ np.array([22.0, 40.0, 1.0])
    assert abs(x - ex) <= 2 / scale * 0.5 + 1 and abs(y - ey) <= 2 / scale * 0.5 + 1
    assert src[0, 0] == 0 and src.shape == (360, 640)


def test_overlay_keeps_cold_pixels_and_colours_hot_ones():
    frame = np.full((8, 8, 3), 100, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[2, 2] = 1.0
    out = render.overlay(frame, heat, alpha=0.6)
    assert (out[0, 0] == 100).all() and not (out[2, 2] == 100).all()


@pytest.fixture(scope="module")
def fusenet_prediction(landmarker):
    torch.manual_seed(0)
    model = build_model("fusenet-intermediate").eval()
    clip = clip_from_frames(face_frames("obama_2012_official.jpg", n=24, drift_px=2.0, seed=3), 30.0)
    return model, Predictor(model, landmarker=landmarker).predict(clip)


def test_source_heatmaps_cover_the_window_on_the_face(fusenet_prediction):
    model, pred = fusenet_prediction
    e = explain_prediction(model, pred, "saliency")
    idx, heat = render.source_heatmaps(pred, e)
    positions = pred.windows[pred.best_window].window.positions
    assert idx[0] == int(np.floor(positions[0])) and idx[-1] == min(int(np.ceil(positions[-1])), len(pred.clip) - 1)
    assert heat.shape == (len(idx), *pred.clip.frames.shape[1:3]) and 0 <= heat.min() and heat.max() <= 1
    # Eyes and mouth crops only: heat inside the face's landmark box, none in the frame's corners.
    lm = pred.track.landmarks[idx[0], :, :2]
    margin = 0.25 * (lm[:, 0].max() - lm[:, 0].min())  # the eyes crop reaches above the brows
    x0, y0 = (lm.min(axis=0) - margin).astype(int)
    x1, y1 = (lm.max(axis=0) + margin).astype(int)
    total = heat.sum()
    assert heat[:, max(y0, 0) : y1, max(x0, 0) : x1].sum() > 0.95 * total
    assert heat[:, :20, :20].sum() == 0


def test_overlay_video_is_browser_playable_h264(fusenet_prediction, tmp_path):
    model, pred = fusenet_prediction
    idx, heat = render.source_heatmaps(pred, explain_prediction(model, pred, "occlusion"))
    path = render.overlay_video(pred.clip.frames[idx], heat, 7.5, tmp_path / "overlay.mp4")
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in c.decode(stream)) == len(idx)


def test_crops_montage_shows_every_region(fusenet_prediction):
    model, pred = fusenet_prediction
    e = explain_prediction(model, pred, "saliency")
    plain = render.crops_montage(pred.aligned[0], columns=6, height=48)
    hot = render.crops_montage(pred.aligned[0], columns=6, height=48, heat=e.maps)
    assert plain.shape == hot.shape == (2 * 48, 6 * 48, 3) and plain.dtype == np.uint8
    assert not np.array_equal(plain, hot)
