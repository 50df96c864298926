"""MicroExp Gradio Space: upload or record a clip, pick a zoo model, see what it predicts and where it looked.

Layout and formatting only: prediction is :class:`microexp.pipeline.Predictor`, explanations are
:mod:`microexp.explain`, drawing is :mod:`microexp.render`, models come from :mod:`zoo` (loaded once
and cached, so switching models is instant after the first use). The last few clips are kept by
content hash (:class:`microexp.clipcache.ClipCache`), so switching model or attribution method on the same clip reuses
its decoded frames and face track, and the same model on the same clip reuses its whole prediction.

API (gradio_client): ``Client(url).predict(handle_file("clip.mp4"), "stcnn-t18", "saliency",
api_name="/predict")`` returns (label, probabilities-over-time plot, importance plot, gallery,
overlay video, crops image, timings, note); ``api_name="/models"`` lists the zoo as JSON.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from gradio.data_classes import FileData

import zoo
from microexp import render
from microexp.clipcache import ClipCache
from microexp.errors import MicroExpError
from microexp.explain import DEFAULT_METHOD, METHOD_TITLES, explain_prediction, importance_curve
from microexp.face import FaceLandmarker
from microexp.pipeline import Predictor, inference_face_settings
from microexp.video import VideoLimits, write_video

LIMITS = VideoLimits(max_bytes=30 * 2**20, max_seconds=15.0, max_frames=900, max_side=640)
MAX_FILE_SIZE = "30mb"
GALLERY_FRAMES = 8
SLOW_MOTION = 4  # the overlay video plays the explained window this many times slower
EXAMPLES_DIR = Path(__file__).parent / "examples"
OUTPUT_DIR = Path(os.environ.get("MICROEXP_APP_OUTPUT", tempfile.gettempdir())) / "microexp-app"
CACHED_CLIPS = 2  # decoded clips kept; a 15 s clip at 640 px holds ~600 MB of frames


# ----------------------------------------------------------------------------- cached resources


@functools.lru_cache(maxsize=1)
def landmarker() -> FaceLandmarker:
    """One MediaPipe landmarker for the app (requests run one at a time: queue concurrency 1)."""
    return FaceLandmarker(settings=inference_face_settings())


@functools.lru_cache(maxsize=8)
def predictor(name: str) -> Predictor:
    return Predictor(zoo.load(name), landmarker=landmarker(), limits=LIMITS, name=name)


CLIPS = ClipCache(predictor, size=CACHED_CLIPS)


def model_choices() -> list[tuple[str, str]]:
    """(title, name) of every zoo entry whose weights resolve."""
    found = zoo.available(hub=True)
    return [(e.title, n) for n, e in zoo.ENTRIES.items() if not isinstance(found[n], Exception)]


def model_info(name: str | None) -> str:
    """Markdown: an entry's description and provenance."""
    if not name:
        return ""
    entry = zoo.get_entry(name)
    try:
        where = zoo.resolve(name)
        source = f"`{where.source}` ({where.path})"
    except MicroExpError as exc:
        source = str(exc)
    return (f"**{entry.title}** - {entry.description}  \n"
            f"Input: {entry.input_spec['frames']} frames over {entry.input_spec['window_seconds']} s, "
            f"regions {', '.join(entry.input_spec['regions'])}; classes {', '.join(entry.labels)}.  \n"
            f"Provenance: {entry.provenance}.  \nWeights loaded from {source}.")


def list_models() -> dict[str, dict]:
    """The available zoo entries with their provenance (the ``/models`` API)."""
    names = {name for _, name in model_choices()}
    return {n: {"title": e.title, "arch": e.arch, "synthetic": e.synthetic, "provenance": e.provenance}
            for n, e in zoo.ENTRIES.items() if n in names}


# ----------------------------------------------------------------------------- the one handler


def _plots(pred, explanation) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for w in pred.windows:
        if w.probs is None:
            continue
        centre = (w.window.start + w.window.end) / 2
        rows += [{"time_s": round(centre, 3), "probability": float(p), "class": c} for c, p in zip(pred.labels, w.probs)]
    times, importance = importance_curve(explanation, pred.clip.timestamps)
    curve = pd.DataFrame({"time_s": np.round(times, 3), "importance": importance})
    return pd.DataFrame(rows, columns=["time_s", "probability", "class"]), curve


def _prune_outputs(max_age_s: float = 3600.0) -> None:
    """Remove overlay videos older than ``max_age_s``: Gradio has copied them to its own cache by then."""
    cutoff = time.time() - max_age_s
    for old in OUTPUT_DIR.glob("overlay-*.mp4"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()


def analyse(video: str | None, model_name: str | None, method: str, progress=gr.Progress()):  # noqa: B008
    """Predict, explain the best window, and render everything the page shows."""
    if not video:
        raise gr.Error("Upload a clip or record one with the webcam first.")
    if not model_name:
        raise gr.Error("No model is available: run `python -m zoo build` and restart the app.")
    started = time.perf_counter()
    entry = zoo.get_entry(model_name)
    try:
        pred, reused = CLIPS.predict(video, model_name, progress=lambda f, stage: progress(0.8 * f, desc=stage))
        progress(0.85, desc=f"explaining ({METHOD_TITLES.get(method, method)})")
        t0 = time.perf_counter()
        explanation = explain_prediction(predictor(model_name).model, pred, method)
        t1 = time.perf_counter()
        progress(0.92, desc="rendering")
        indices, heat = render.source_heatmaps(pred, explanation)
        overlays = render.overlay_frames(pred.clip.frames[indices], heat)  # once: gallery and video
        # ultrafast: the overlay video is a short preview; x264's quality presets cost more than the rest of rendering
        _prune_outputs()
        video_path = write_video(OUTPUT_DIR / f"overlay-{uuid.uuid4().hex[:12]}.mp4", overlays,
                                 max(1.0, pred.clip.fps / SLOW_MOTION), preset="ultrafast")
        k = [i for i, w in enumerate(pred.windows) if w.probs is not None].index(pred.best_window)
        montage = np.concatenate([render.crops_montage(pred.aligned[k]),
                                  render.crops_montage(pred.aligned[k], heat=explanation.maps)], axis=0)
        picks = np.linspace(0, len(indices) - 1, min(GALLERY_FRAMES, len(indices))).round().astype(int)
        gallery = [(overlays[i], f"frame {indices[i]} | t={pred.clip.timestamps[indices[i]]:.2f} s") for i in picks]
        probs_df, curve_df = _plots(pred, explanation)
        t2 = time.perf_counter()
    except MicroExpError as exc:
        raise gr.Error(str(exc)) from None
    timings = {**{k: round(v, 1) for k, v in pred.timings_ms.items()},
               "explain": round(1000 * (t1 - t0), 1), "render": round(1000 * (t2 - t1), 1),
               "request": round(1000 * (time.perf_counter() - started), 1), "reused": reused}
    best = pred.windows[pred.best_window]
    note = (f"**Model: {entry.title}.** **Prediction: {pred.prediction}** in the window {best.window.start:.2f}-{best.window.end:.2f} s "
            f"(the one with the most facial motion of {sum(w.probs is not None for w in pred.windows)} analysed windows).  \n"
            f"**What this model was trained on:** {entry.training_data}. "
            + ("It is synthetic-trained: a demonstration, not a model of real human micro-expressions."
               if entry.synthetic else "")
            + "".join(f"  \nNote: {n}" for n in pred.notices))
    label = {c: float(p) for c, p in zip(pred.labels, pred.probs)}
    return label, probs_df, curve_df, gallery, str(video_path), montage, timings, note


# ----------------------------------------------------------------------------- layout


def _serve_h264_as_is(value: str | Path | None) -> FileData | None:
    """Postprocess of the overlay video: ours are always H.264 MP4 from :func:`microexp.video.write_video`,
    so the ffprobe run with which ``gr.Video`` checks every output for browser playback is skipped (its
    cost: bench/README.md). Set on the instance, not by subclassing: a ``gr.Video`` subclass makes Gradio write
    a generated ``app.pyi`` next to this file at import."""
    return None if value is None else FileData(path=str(value), orig_name=Path(value).name)


def _examples(model: str | None) -> list[list[str | None]]:
    """The shipped clips, each with ``model`` (the dropdown's default, None when no model is available)."""
    return [[str(p), model, DEFAULT_METHOD] for p in sorted(EXAMPLES_DIR.glob("*.mp4"))]


def build_demo() -> gr.Blocks:
    choices = model_choices()
    default = choices[0][1] if choices else None
    # delete_cache: uploads and rendered outputs older than an hour are removed every hour, so a
    # long-running Space does not fill its disk.
    with gr.Blocks(title="MicroExp: micro-expressions, explained", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# MicroExp: facial micro-expression recognition, explained\n"
            "The IJCNN 2019 3D-CNNs (STCNN, Intermediate/Late FuseNet) and a two-stream 3D-CNN classify short "
            "windows of your clip as **negative / positive / surprise** (MEGC 3-class), and Captum shows which "
            "pixels of which frames drove the decision.\n\n"
            "> **Every bundled model is trained on synthetic data only.** This is a demonstration of the pipeline, "
            "not a detector of real emotions; never use it to judge people.\n\n"
            f"**Limits:** one face, clips up to {LIMITS.max_seconds:.0f} s and {MAX_FILE_SIZE.upper()}, "
            f"frames downscaled to {LIMITS.max_side} px on the longer side; one request at a time."
        )
        if not choices:
            gr.Markdown(
                "### No model is available\nNo zoo entry resolves from the Hugging Face Hub or `zoo/local/`. "
                "Run `python -m zoo build` (trains the synthetic-trained defaults offline) and restart the app; "
                "`bash scripts/demo.sh` does both.",
                elem_id="no-models",
            )
        with gr.Row():
            with gr.Column(scale=1):
                # format=None and include_audio=True: Gradio hands the upload over untouched (no ffmpeg
                # re-encode); PyAV decodes any container, webcam WebM included.
                video = gr.Video(sources=["upload", "webcam"], format=None, include_audio=True,
                                 label="Clip (upload or webcam)", elem_id="clip")
                model = gr.Dropdown(choices=choices, value=default, label="Model", elem_id="model")
                info = gr.Markdown(model_info(default), elem_id="model-info")
                method = gr.Radio([(t, k) for k, t in METHOD_TITLES.items()], value=DEFAULT_METHOD,
                                  label="Attribution method", elem_id="method")
                run = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column(scale=1):
                label = gr.Label(num_top_classes=3, label="Class probabilities (best window)", elem_id="label")
                note = gr.Markdown(elem_id="note")
                probs_plot = gr.LinePlot(x="time_s", y="probability", color="class", y_lim=[0, 1],
                                         label="Probabilities over time (window centres)", elem_id="probs-plot")
                curve_plot = gr.LinePlot(x="time_s", y="importance", label="Per-frame importance (best window)",
                                         elem_id="importance-plot")
        with gr.Row():
            # JPEG: Gradio's default WebP encoding is many times slower (bench/README.md)
            gallery = gr.Gallery(label="Frames of the best window with the saliency heatmap", columns=4,
                                 height="auto", format="jpeg", elem_id="gallery")
        with gr.Row():
            overlay = gr.Video(label=f"Overlay video of the best window ({SLOW_MOTION}x slow motion)",
                               interactive=False, elem_id="overlay")
            overlay.postprocess = _serve_h264_as_is
            # JPEG again, for the same reason
            crops = gr.Image(label="Crops the model saw (top) and their attribution (bottom)", type="numpy",
                             interactive=False, format="jpeg", elem_id="crops")
        timings = gr.JSON(label="Per-stage timings (ms)", elem_id="timings")
        examples = _examples(default)
        if examples:
            gr.Examples(examples, inputs=[video, model, method], label="Example clips (synthetic)")

        model.change(model_info, inputs=model, outputs=info, api_name="model_info")
        run.click(analyse, inputs=[video, model, method],
                  outputs=[label, probs_plot, curve_plot, gallery, overlay, crops, timings, note], api_name="predict")
        models_api = gr.JSON(visible=False)
        gr.Button(visible=False).click(list_models, outputs=models_api, api_name="models")
    demo.queue(default_concurrency_limit=1, max_size=16)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE)  # host and port from GRADIO_SERVER_NAME / _PORT
