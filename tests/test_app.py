"""The running app driven through its API with gradio_client: every zoo entry x every attribution method."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from gradio_client import Client, handle_file

import zoo
from microexp.explain import METHODS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "positive_au6-au12_grace_hopper.mp4"
LABELS = {"negative", "positive", "surprise"}


@pytest.fixture(scope="module")
def client(app_server) -> Client:
    return Client(app_server.url, verbose=False)


def test_api_lists_the_three_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/predict", "/model_info", "/models"} <= set(endpoints)


def test_models_endpoint_lists_every_entry_as_synthetic(client):
    models = client.predict(api_name="/models")
    assert set(models) == set(zoo.ENTRIES)
    assert all(m["synthetic"] and "synthetic-trained" in m["provenance"] for m in models.values())


@pytest.mark.parametrize("name", list(zoo.ENTRIES))
def test_model_info_shows_description_and_provenance(client, name):
    info = client.predict(name, api_name="/model_info")
    assert zoo.ENTRIES[name].description in info and "synthetic-trained" in info and "`local`" in info


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", list(zoo.ENTRIES))
def test_predict_every_model_and_method(client, name, method):
    label, probs, curve, gallery, video, crops, timings, note = client.predict(
        handle_file(str(EXAMPLE)), name, method, api_name="/predict")
    assert label["label"] in LABELS
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == LABELS and abs(sum(confidences.values()) - 1) < 1e-4
    # probabilities over time: one row per class per analysed window (3 s clip, 0.6 s windows, 0.2 s stride)
    assert probs["columns"] == ["time_s", "probability", "class"] and len(probs["data"]) >= 3 * 10
    assert curve["columns"] == ["time_s", "importance"] and len(curve["data"]) == 18
    assert 1 <= len(gallery) <= 8 and all(Path(g["image"]).is_file() for g in gallery)
    assert Path(crops).is_file()
    with av.open(video) as c:  # the overlay video is browser-playable H.264
        assert c.streams.video[0].codec_context.name == "h264"
    for stage in ("decode", "landmarks", "align", "model", "explain", "render", "request"):
        assert timings[stage] >= 0
    assert "synthetic" in note and f"Prediction: {label['label']}" in note


def test_bad_input_shows_a_clear_message(client, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(Exception, match=r"notes\.mp4") as info:
        client.predict(handle_file(str(text)), "stcnn-t18", "saliency", api_name="/predict")
    assert "Traceback" not in str(info.value)


def test_no_clip_asks_for_one(client):
    with pytest.raises(Exception, match="Upload a clip or record one"):
        client.predict(None, "stcnn-t18", "saliency", api_name="/predict")


def test_same_clip_reuses_decode_landmarks_and_prediction(client, tmp_path):
    """A re-upload (new path, same bytes) reuses the clip; another method reuses the prediction."""
    from train.synth.media import face_clip

    clip = face_clip(tmp_path / "first.mp4", photo="biden_official.jpg", seconds=1.0)
    again = tmp_path / "again.mp4"
    again.write_bytes(clip.read_bytes())
    other = next(n for n in zoo.ENTRIES if n != "stcnn-t18")
    first = client.predict(handle_file(str(clip)), "stcnn-t18", "saliency", api_name="/predict")
    method = client.predict(handle_file(str(again)), "stcnn-t18", "occlusion", api_name="/predict")
    model = client.predict(handle_file(str(again)), other, "saliency", api_name="/predict")
    assert [r[6]["reused"] for r in (first, method, model)] == ["none", "prediction", "clip"]
    assert method[0] == first[0] and method[1] == first[1]  # same label, same probabilities over time
    assert model[6]["landmarks"] == 0 and first[6]["landmarks"] > 0
    assert "Prediction:" in model[7] and zoo.ENTRIES[other].title in model[7]


def test_overlay_skips_the_playability_probe_and_no_stub_is_generated(monkeypatch, tmp_path):
    """Our overlays are H.264 already: no ffprobe per request; and building the app writes no app.pyi."""
    import gradio.processing_utils as pu

    import app

    def probe(_path):
        raise AssertionError("ffprobe ran")

    demo = app.build_demo()  # (the example clips of the input are probed here, once)
    monkeypatch.setattr(pu, "video_is_playable", probe)
    overlay = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "overlay")
    data = overlay.postprocess(str(tmp_path / "overlay.mp4"))
    assert data.path.endswith("overlay.mp4") and overlay.postprocess(None) is None
    assert not (Path(app.__file__).parent / "app.pyi").exists()
