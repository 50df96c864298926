"""The running app driven through its API with gradio_client: every zoo entry x every attribution method."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from gradio_client import Client, handle_file

import zoo
from microexp.explain import METHODS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "positive_au6-au12_grace_hopper.mp4"
LABELS = {"negative", "positive", "surprise"}


@pytest.fixture(scope="module")
def client(app_server) -> Client:
    return Client(app_server.url, verbose=False)


def test_api_lists_the_three_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/predict", "/explain_interval", "/model_info", "/models"} <= set(endpoints)


def test_models_endpoint_lists_every_entry_as_synthetic(client):
    models = client.predict(api_name="/models")
    assert set(models) == set(zoo.ENTRIES)
    assert all(m["synthetic"] and "synthetic-trained" in m["provenance"] for m in models.values())


@pytest.mark.parametrize("name", list(zoo.ENTRIES))
def test_model_info_shows_description_and_provenance(client, name):
    info = client.predict(name, api_name="/model_info")
    assert zoo.ENTRIES[name].description in info and "synthetic-trained" in info and "`local`" in info
    assert f"Labelling: {zoo.ENTRIES[name].labelling}" in info  # how its intervals get their label


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", list(zoo.ENTRIES))
def test_predict_every_model_and_method(client, name, method):
    label, timeline, curve, gallery, video, crops, timings, note, interval = client.predict(
        handle_file(str(EXAMPLE)), name, method, "auto", api_name="/predict")
    # the example holds one synthetic micro-expression: it is spotted, then classified
    assert label["label"] in LABELS
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == LABELS and abs(sum(confidences.values()) - 1) < 1e-4
    assert timeline["type"] == "matplotlib" and timeline["plot"].startswith("data:image/")
    assert curve["columns"] == ["time_s", "importance"] and len(curve["data"]) == 18
    assert 1 <= len(gallery) <= 8 and all(Path(g["image"]).is_file() for g in gallery)
    assert Path(crops).is_file()
    with av.open(video) as c:  # the overlay video is browser-playable H.264
        assert c.streams.video[0].codec_context.name == "h264"
    for stage in ("decode", "landmarks", "spot", "align", "model", "explain", "render", "request"):
        assert timings[stage] >= 0
    assert "synthetic" in note and f"Prediction: {label['label']}" in note and "spotted" in note
    spread = zoo.ENTRIES[name].apex_spread  # an entry labelled by several windows says so; the others do not
    assert (f"mean of {len(spread)} windows around the apex" in note) == (len(spread) > 1)
    # the interval picker now lists the automatic choice and every spotted interval
    assert interval["value"] == "auto" and [c[1] for c in interval["choices"]][:2] == ["auto", "1"]


def test_choosing_a_spotted_interval_explains_its_window(client):
    first = client.predict(handle_file(str(EXAMPLE)), "stcnn-t18", "saliency", "auto", api_name="/predict")
    chosen = client.predict(handle_file(str(EXAMPLE)), "stcnn-t18", "saliency", "1", api_name="/predict")
    assert chosen[8]["value"] == "1" and "spotted interval 1" in chosen[7]
    assert chosen[6]["reused"] == "prediction" and chosen[0] == first[0]


def test_a_clip_without_expression_says_so_plainly(client, tmp_path):
    from train.synth.media import face_clip

    still = face_clip(tmp_path / "still.mp4", photo="grace_hopper.jpg", seconds=3.0)
    label, *_, note, interval = client.predict(handle_file(str(still)), "stcnn-t18", "saliency", "auto",
                                               api_name="/predict")
    assert label["label"] == "no micro-expression found" and not label.get("confidences")
    assert "No micro-expression found" in note and [c[1] for c in interval["choices"]] == ["auto"]


def test_a_short_clip_is_labelled_as_an_excerpt(client, tmp_path):
    """2 s: a dataset-style excerpt around one expression, always labelled, and the note says why."""
    from train.synth.media import face_clip

    short = face_clip(tmp_path / "short.mp4", photo="grace_hopper.jpg", seconds=2.0)
    label, *_, note, _ = client.predict(handle_file(str(short)), "stcnn-t18", "saliency", "auto", api_name="/predict")
    assert label["label"] in ("negative", "positive", "surprise") and label["confidences"]
    assert "excerpt" in note and "No micro-expression found" not in note


def test_bad_input_shows_a_clear_message(client, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(Exception, match=r"notes\.mp4") as info:
        client.predict(handle_file(str(text)), "stcnn-t18", "saliency", "auto", api_name="/predict")
    assert "Traceback" not in str(info.value)


def test_no_clip_asks_for_one(client):
    with pytest.raises(Exception, match="Upload a clip or record one"):
        client.predict(None, "stcnn-t18", "saliency", "auto", api_name="/predict")


def test_same_clip_reuses_decode_landmarks_and_prediction(client, tmp_path):
    """A re-upload (new path, same bytes) reuses the clip; another method reuses the prediction."""
    from train.synth.media import face_clip

    clip = face_clip(tmp_path / "first.mp4", photo="biden_official.jpg", seconds=1.0)
    again = tmp_path / "again.mp4"
    again.write_bytes(clip.read_bytes())
    other = next(n for n in zoo.ENTRIES if n != "stcnn-t18")
    first = client.predict(handle_file(str(clip)), "stcnn-t18", "saliency", "auto", api_name="/predict")
    method = client.predict(handle_file(str(again)), "stcnn-t18", "occlusion", "auto", api_name="/predict")
    model = client.predict(handle_file(str(again)), other, "saliency", "auto", api_name="/predict")
    assert [r[6]["reused"] for r in (first, method, model)] == ["none", "prediction", "clip"]
    assert method[0] == first[0]  # same label
    assert model[6]["landmarks"] == 0 and first[6]["landmarks"] > 0
    assert "Model:" in model[7] and zoo.ENTRIES[other].title in model[7]


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
