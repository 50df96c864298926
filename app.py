"""MicroExp Gradio Space: upload or record a clip, pick a zoo model, see what it predicts and where it looked.

Layout and formatting only: prediction is :class:`microexp.pipeline.Predictor`, explanations are
:mod:`microexp.explain`, drawing is :mod:`microexp.render`, models come from :mod:`zoo` (loaded once
and cached, so switching models is instant after the first use). Each session's last clips are kept by
content hash (:class:`microexp.clipcache.ClipCache`), so switching model or attribution method on the same clip reuses
its decoded frames and face track, and the same model on the same clip reuses its whole prediction; one session
never sees another's clips. The face model is resolved and verified once, at start-up.

API (gradio_client): ``Client(url).predict(handle_file("clip.mp4"), "stcnn-t18", "saliency", "auto",
api_name="/predict")`` returns (label, timeline plot, importance plot, gallery, overlay video, crops
image, timings, note, interval choices); the fourth argument picks the spotted interval to explain
(``"auto"``, ``"1"``, ``"2"``, ...); ``api_name="/models"`` lists the zoo as JSON.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from gradio.data_classes import FileData
from gradio_client.utils import is_http_url_like

import zoo
from zoo.background import BackgroundBuild, start_if_missing
from microexp import render
from microexp.clipcache import ClipCache
from microexp.errors import FaceModelError, MicroExpError
from microexp.explain import DEFAULT_METHOD, METHOD_TITLES, explain_prediction, importance_curve
from microexp.face import FaceLandmarker, verify_face_model
from microexp.pipeline import Predictor, inference_face_settings
from microexp.video import VideoLimits, write_video

# Source frames up to 1920x1920 pixels (2560x1440 and portrait or landscape 1080p pass, 4K does not): decoding
# and downscaling cost grows with the source's pixels, and the one shared worker gets 640 px frames either way.
LIMITS = VideoLimits(max_bytes=30 * 2**20, max_seconds=15.0, max_frames=900, max_side=640, max_pixels=1920 * 1920,
                     max_decode_seconds=30.0)  # a Space has one worker: no clip may hold it longer
MAX_FILE_SIZE = "30mb"
GALLERY_FRAMES = 8
SLOW_MOTION = 4  # the overlay video plays the explained window this many times slower
EXAMPLES_DIR = Path(__file__).parent / "examples"
OUTPUT_DIR = Path(os.environ.get("MICROEXP_APP_OUTPUT", tempfile.gettempdir())) / "microexp-app"
# Clips kept per session, and bytes of arrays kept for all sessions together. Frames dominate, N x H x W x 3
# bytes: a 3 s 640x360 clip at 30 fps holds 62 MB, a 15 s one 311 MB, and 900 frames at 640x640 (the
# largest the limits let through) 1.1 GB, more than the bound, so such a clip is analysed but not kept.
CLIPS_PER_SESSION = 2
CACHE_BYTES = 768 * 2**20
STALE_UPLOAD = ("This clip is no longer on the server (uploads are removed after an hour). "
                "Upload or record it again.")
REMOTE_URL = "Links to remote files are not accepted: upload the file itself (up to {size})."


# ----------------------------------------------------------------------------- cached resources


def _resolve_face_model() -> Path | FaceModelError:
    """The verified face model, or why it is unavailable. Resolved once at start-up (fetching may take
    minutes) and the outcome kept: no request fetches, and a failure is not retried per request."""
    try:
        return verify_face_model()
    except FaceModelError as exc:
        return exc


FACE_MODEL = _resolve_face_model()


@functools.lru_cache(maxsize=1)
def landmarker() -> FaceLandmarker:
    """One MediaPipe landmarker for the app (requests run one at a time: queue concurrency 1)."""
    if isinstance(FACE_MODEL, FaceModelError):
        raise FaceModelError(str(FACE_MODEL))
    return FaceLandmarker(FACE_MODEL, settings=inference_face_settings())


@functools.lru_cache(maxsize=8)
def predictor(name: str) -> Predictor:
    return Predictor(zoo.load(name), landmarker=landmarker(), limits=LIMITS, name=name)


CLIPS = ClipCache(predictor, per_session=CLIPS_PER_SESSION, max_bytes=CACHE_BYTES)


def forget_session(request: gr.Request) -> None:
    """The tab was closed: drop its clips."""
    CLIPS.forget(request.session_hash)


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
            f"Labelling: {entry.labelling}.  \n"
            f"Provenance: {entry.provenance}.  \nWeights loaded from {source}.")


def list_models() -> dict[str, dict]:
    """The available zoo entries with their provenance (the ``/models`` API)."""
    names = {name for _, name in model_choices()}
    return {n: {"title": e.title, "arch": e.arch, "synthetic": e.synthetic, "provenance": e.provenance}
            for n, e in zoo.ENTRIES.items() if n in names}


# ----------------------------------------------------------------------------- the one handler

AUTO = "auto"  # the interval choice that explains the top spotted interval (or the most moving window)
AUTO_CHOICE = ("top interval (automatic)", AUTO)


def interval_choices(pred) -> list[tuple[str, str]]:
    """Dropdown entries: the automatic choice, then one per spotted interval."""
    out = [AUTO_CHOICE]
    for k, r in enumerate(pred.intervals, start=1):
        iv = r.interval
        out.append((f"{k}: {iv.onset:.2f}-{iv.offset:.2f} s, {r.label or 'not classified'} (score {iv.score:.1f})", str(k)))
    return out


def _chosen_window(pred, interval: str | None) -> tuple[int, str]:
    """Index of the window to explain, and a phrase saying what it is."""
    if interval and interval != AUTO and interval.isdigit() and 1 <= int(interval) <= len(pred.intervals):
        r = pred.intervals[int(interval) - 1]
        if r.probs is not None:
            return r.window, f"spotted interval {interval}"
    if pred.intervals and pred.prediction is not None:
        return pred.best_window, "the clip's strongest brief movement" if pred.excerpt else "the top spotted interval"
    return pred.best_window, "the window with the most facial motion (nothing was spotted)"


def _note(entry, pred, window_index: int, what: str) -> str:
    w = pred.windows[window_index]
    if pred.prediction is None:
        head = ("**No micro-expression found** in this clip: no brief facial movement stands out from blinks, "
                "speech and head motion, so no class is given.")
    elif not pred.intervals:
        head = (f"**Prediction: {pred.prediction}** for the window with the most facial motion "
                f"{w.window.start:.2f}-{w.window.end:.2f} s (the clip is too short, or no brief movement stood out).")
    elif pred.excerpt:
        iv = pred.intervals[0].interval
        head = (f"**Prediction: {pred.prediction}** for the clip's strongest brief movement, "
                f"{iv.onset:.2f}-{iv.offset:.2f} s (apex {iv.apex:.2f} s): a clip this short is taken as one "
                "expression's excerpt.")
    else:
        iv = pred.intervals[0].interval
        head = (f"**Prediction: {pred.prediction}** for the movement spotted at {iv.onset:.2f}-{iv.offset:.2f} s "
                f"(apex {iv.apex:.2f} s; {len(pred.intervals)} interval(s) spotted).")
    if pred.intervals and pred.prediction is not None and len(pred.apex_spread) > 1:
        head += (f" The label is the mean of {len(pred.apex_spread)} windows around the apex; the one explained "
                 "is the centred window.")
    synthetic = ("It is synthetic-trained: a demonstration, not a model of real human micro-expressions."
                 if entry.synthetic else "")
    return (f"**Model: {entry.title}.** {head}  \n"
            f"Explained: {what}, window {w.window.start:.2f}-{w.window.end:.2f} s"
            + (f" ({', '.join(f'{c} {p:.0%}' for c, p in zip(pred.labels, w.probs))})" if w.probs is not None else "")
            + f".  \n**What this model was trained on:** {entry.training_data}. {synthetic}"
            + "".join(f"  \nNote: {n}" for n in pred.notices))


def _prune_outputs(max_age_s: float = 3600.0) -> None:
    """Remove overlay videos older than ``max_age_s``: Gradio has copied them to its own cache by then."""
    cutoff = time.time() - max_age_s
    for old in OUTPUT_DIR.glob("overlay-*.mp4"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()


def analyse(video: str | None, model_name: str | None, method: str, interval: str | None = AUTO,
            request: gr.Request | None = None, progress=gr.Progress()):  # noqa: B008
    """Spot and classify, explain the chosen interval's window, and render everything the page shows."""
    if isinstance(FACE_MODEL, FaceModelError):
        raise gr.Error(f"The face model is unavailable on this server: {FACE_MODEL}")
    if not video:
        raise gr.Error("Upload a clip or record one with the webcam first.")
    if not model_name:
        if BUILD is not None and BUILD.progress().running:
            raise gr.Error("No model is ready yet: the zoo is being built (progress at the top of the page); "
                           "each model joins the picker as soon as it is trained.")
        raise gr.Error("No model is available: run `python -m zoo build` and restart the app.")
    if not Path(video).is_file():  # an idle tab still shows an upload that delete_cache has removed
        raise gr.Error(STALE_UPLOAD)
    # No session (a direct call): a fresh key, so nothing is shared with anyone
    session = getattr(request, "session_hash", None) or uuid.uuid4().hex
    started = time.perf_counter()
    entry = zoo.get_entry(model_name)
    try:
        pred, reused = CLIPS.predict(video, model_name, session=session,
                                     progress=lambda f, stage: progress(0.8 * f, desc=stage))
        index, what = _chosen_window(pred, interval)
        progress(0.85, desc=f"explaining ({METHOD_TITLES.get(method, method)})")
        t0 = time.perf_counter()
        explanation = explain_prediction(predictor(model_name).model, pred, method, window=index)
        t1 = time.perf_counter()
        progress(0.92, desc="rendering")
        _prune_outputs()
        art = render.window_artefacts(pred, explanation, index, OUTPUT_DIR / f"overlay-{uuid.uuid4().hex[:12]}.mp4",
                                      slow_motion=SLOW_MOTION, gallery_frames=GALLERY_FRAMES)
        times, importance = importance_curve(explanation, pred.clip.timestamps)
        timeline = render.timeline_figure(pred, index, (times, importance))
        curve = pd.DataFrame({"time_s": np.round(times, 3), "importance": importance})
        t2 = time.perf_counter()
    except MicroExpError as exc:
        raise gr.Error(str(exc)) from None
    timings = {**{k: round(v, 1) for k, v in pred.timings_ms.items()},
               "explain": round(1000 * (t1 - t0), 1), "render": round(1000 * (t2 - t1), 1),
               "request": round(1000 * (time.perf_counter() - started), 1), "reused": reused}
    if pred.prediction is None:
        label = "no micro-expression found"
    else:
        label = {c: float(p) for c, p in zip(pred.labels, pred.probs)}
    choices = interval_choices(pred)
    chosen = interval if interval in {v for _, v in choices} else AUTO
    return (label, timeline, curve, list(art.gallery), str(art.video), art.montage, timings,
            _note(entry, pred, index, what), gr.Dropdown(choices=choices, value=chosen))


# ----------------------------------------------------------------------------- layout


def _serve_h264_as_is(value: str | Path | None) -> FileData | None:
    """Postprocess of the overlay video: ours are always H.264 MP4 from :func:`microexp.video.write_video`,
    so the ffprobe run with which ``gr.Video`` checks every output for browser playback is skipped (its
    cost: bench/README.md). Set on the instance, not by subclassing: a ``gr.Video`` subclass makes Gradio write
    a generated ``app.pyi`` next to this file at import."""
    return None if value is None else FileData(path=str(value), orig_name=Path(value).name)


def _local_files_only(move):
    """Wrap a component's ``async_move_resource_to_block_cache`` so that an http(s) URL in a FileData is refused
    before Gradio downloads it (Gradio would read the whole body, with no size cap, before our checks run)."""
    async def local_only(url_or_file_path):
        if url_or_file_path is not None and is_http_url_like(str(url_or_file_path)):
            raise gr.Error(REMOTE_URL.format(size=MAX_FILE_SIZE.upper()))
        return await move(url_or_file_path)

    return local_only


def _examples(model: str | None) -> list[list[str | None]]:
    """The shipped clips, each with ``model`` (the dropdown's default, None when no model is available)."""
    return [[str(p), model, DEFAULT_METHOD] for p in sorted(EXAMPLES_DIR.glob("*.mp4"))]


# ----------------------------------------------------------------------------- background zoo build
# A fresh machine or an unpublished Space has no weights: the page serves at once while the missing
# entries train in a child process (zoo.background), and a timer adds each model as it is installed.


def build_status(build: BackgroundBuild, current: str | None):
    """Timer tick: the build's progress, the picker with every model that resolves now, and the timer
    itself (stopped once the build has ended)."""
    progress = build.progress()
    choices = model_choices()
    names = [n for _, n in choices]
    value = current if current in names else (names[0] if names else None)
    return progress.markdown(), gr.Dropdown(choices=choices, value=value), gr.Timer(active=progress.running)


def build_demo(build: BackgroundBuild | None = None) -> gr.Blocks:
    choices = model_choices()
    default = choices[0][1] if choices else None
    # delete_cache: uploads and rendered outputs older than an hour are removed every hour, so a
    # long-running Space does not fill its disk.
    with gr.Blocks(title="MicroExp: micro-expressions, explained", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# MicroExp: facial micro-expression recognition, explained\n"
            "The IJCNN 2019 3D-CNNs (STCNN, Intermediate/Late FuseNet), a two-stream 3D-CNN and STCNN on frames "
            "+ optical flow classify short windows of your clip as **negative / positive / surprise** (MEGC 3-class), "
            "and Captum shows which "
            "pixels of which frames drove the decision.\n\n"
            "> **Every bundled model is trained on synthetic data only.** This is a demonstration of the pipeline, "
            "not a detector of real emotions; never use it to judge people.\n\n"
            f"**Limits:** one face, clips up to {LIMITS.max_seconds:.0f} s and {MAX_FILE_SIZE.upper()}, "
            f"frames up to {math.isqrt(LIMITS.max_pixels)}² pixels (1440p), downscaled to {LIMITS.max_side} px "
            "on the longer side; "
            "one request at a time."
        )
        if build is not None:
            build_md = gr.Markdown(build.progress().markdown(), elem_id="zoo-build")
            build_timer = gr.Timer(5.0)
        elif not choices:
            gr.Markdown(
                "### No model is available\nNo zoo entry resolves from the Hugging Face Hub or `zoo/local/`. "
                "Run `python -m zoo build` (trains the synthetic-trained defaults offline) and restart the app; "
                "`bash scripts/demo.sh` does both.",
                elem_id="no-models",
            )
        if isinstance(FACE_MODEL, FaceModelError):
            gr.Markdown(f"### The face model is unavailable\n{FACE_MODEL}\n\nRestart the app once it is in place.",
                        elem_id="no-face-model")
        with gr.Row():
            with gr.Column(scale=1):
                # format=None and include_audio=True: Gradio hands the upload over untouched (no ffmpeg
                # re-encode); PyAV decodes any container, webcam WebM included.
                video = gr.Video(sources=["upload", "webcam"], format=None, include_audio=True,
                                 label="Clip (upload or webcam)", elem_id="clip")
                video.async_move_resource_to_block_cache = _local_files_only(video.async_move_resource_to_block_cache)
                model = gr.Dropdown(choices=choices, value=default, label="Model", elem_id="model")
                info = gr.Markdown(model_info(default), elem_id="model-info")
                method = gr.Radio([(t, k) for k, t in METHOD_TITLES.items()], value=DEFAULT_METHOD,
                                  label="Attribution method", elem_id="method")
                interval = gr.Dropdown(choices=[AUTO_CHOICE], value=AUTO,
                                       label="Spotted interval to explain", elem_id="interval")
                run = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column(scale=1):
                label = gr.Label(num_top_classes=3, label="Class probabilities (spotted interval)", elem_id="label")
                note = gr.Markdown(elem_id="note")
                timeline = gr.Plot(label="Timeline: spotted intervals (shaded), class probabilities of the sliding "
                                         "windows, spotting score; dotted box = explained window", elem_id="timeline")
                curve_plot = gr.LinePlot(x="time_s", y="importance", label="Per-frame importance (explained window)",
                                         elem_id="importance-plot")
        with gr.Row():
            # JPEG: Gradio's default WebP encoding is many times slower (bench/README.md)
            gallery = gr.Gallery(label="Frames of the explained window with the saliency heatmap", columns=4,
                                 height="auto", format="jpeg", elem_id="gallery")
        with gr.Row():
            overlay = gr.Video(label=f"Overlay video of the explained window ({SLOW_MOTION}x slow motion)",
                               interactive=False, elem_id="overlay")
            overlay.postprocess = _serve_h264_as_is
            # JPEG again, for the same reason
            crops = gr.Image(label="Crops the model saw (top) and their attribution (bottom)", type="numpy",
                             interactive=False, format="jpeg", elem_id="crops")
        timings = gr.JSON(label="Per-stage timings (ms)", elem_id="timings")
        examples = _examples(default)
        if examples:
            gr.Examples(examples, inputs=[video, model, method], label="Example clips (synthetic)")

        outputs = [label, timeline, curve_plot, gallery, overlay, crops, timings, note, interval]
        model.change(model_info, inputs=model, outputs=info, api_name="model_info")
        video.change(lambda: gr.Dropdown(choices=[AUTO_CHOICE], value=AUTO),
                     outputs=interval, api_name=False)
        run.click(analyse, inputs=[video, model, method, interval], outputs=outputs, api_name="predict")
        # .input, not .change: only a person's choice re-explains (analyse itself updates the dropdown)
        interval.input(analyse, inputs=[video, model, method, interval], outputs=outputs, api_name="explain_interval")
        if build is not None:
            # API clients and new pages are checked against the component's own choices: keep them current
            build.on_install(lambda _name: setattr(model, "choices", model_choices()))
            # the timer runs outside the queue: a long analysis must not hold the progress back
            build_timer.tick(functools.partial(build_status, build), inputs=model,
                             outputs=[build_md, model, build_timer], api_name=False, queue=False,
                             show_progress="hidden")
        models_api = gr.JSON(visible=False)
        gr.Button(visible=False).click(list_models, outputs=models_api, api_name="models")
        demo.unload(forget_session)
    demo.queue(default_concurrency_limit=1, max_size=16)
    return demo


# Only when run as the app (python app.py, a Space): importing app.py never starts training.
BUILD = start_if_missing() if __name__ == "__main__" else None
demo = build_demo(BUILD)

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE)  # host and port from GRADIO_SERVER_NAME / _PORT
