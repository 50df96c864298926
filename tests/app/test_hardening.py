"""The running app against what many users, idle tabs and hostile API calls do: sessions kept apart, a deleted
upload, a remote URL in place of a file, a face model that is not the known one."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from bench.common import serve_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "positive_au6-au12_grace_hopper.mp4"
API = "gradio_api"


def _predict_raw(url: str, clip: dict) -> str:
    """One /predict call over plain HTTP as a browser tab sends it (a FileData pointing at a server path); the
    text of its event stream."""
    body = {"data": [clip, "stcnn-t18", "saliency", "auto"]}
    with httpx.Client(base_url=url, timeout=120) as http:
        event = http.post(f"/{API}/call/predict", json=body).raise_for_status().json()["event_id"]
        return http.get(f"/{API}/call/predict/{event}").text


def test_two_sessions_never_share_a_clip(app_server, tmp_path):
    """The second user sending the same bytes learns nothing of the first: no reuse, none reported."""
    from train.synth.media import face_clip

    clip = face_clip(tmp_path / "shared.mp4", photo="obama_2012_official.jpg", seconds=1.0)
    alice, bob = Client(app_server.url, verbose=False), Client(app_server.url, verbose=False)
    first = alice.predict(handle_file(str(clip)), "stcnn-t18", "saliency", "auto", api_name="/predict")
    other = bob.predict(handle_file(str(clip)), "stcnn-t18", "saliency", "auto", api_name="/predict")
    again = alice.predict(handle_file(str(clip)), "stcnn-t18", "occlusion", "auto", api_name="/predict")
    assert [r[6]["reused"] for r in (first, other, again)] == ["none", "none", "prediction"]
    assert other[6]["landmarks"] > 0  # Bob's clip was decoded and tracked for Bob


def test_closing_a_session_drops_its_clips(app_server, tmp_path):
    """The cache is keyed by Gradio's session hash, and a closed session (its heartbeat gone, as when a tab is
    closed) is forgotten through ``demo.unload``. Gradio notices the lost heartbeat within its 15 s interval."""
    from train.synth.media import face_clip

    clip = handle_file(str(face_clip(tmp_path / "tab.mp4", photo="biden_official.jpg", seconds=1.0, seed=3)))
    alice = Client(app_server.url, verbose=False)
    assert alice.predict(clip, "stcnn-t18", "saliency", "auto", api_name="/predict")[6]["reused"] == "none"
    probe = Client(app_server.url, verbose=False)
    probe.close()  # no heartbeat of its own: it only sends requests under Alice's session hash
    probe.session_hash = alice.session_hash

    def reused() -> str:
        return probe.predict(clip, "stcnn-t18", "saliency", "auto", api_name="/predict")[6]["reused"]

    assert reused() == "prediction"
    alice.close()
    deadline = time.monotonic() + 60
    while (answer := reused()) == "prediction" and time.monotonic() < deadline:
        time.sleep(2)
    assert answer == "none"


def test_an_upload_deleted_by_the_server_asks_for_it_again(app_server):
    """An idle tab whose upload Gradio's delete_cache removed: a clear message, not FileNotFoundError."""
    with httpx.Client(base_url=app_server.url, timeout=60) as http, open(EXAMPLE, "rb") as f:
        (server_path,) = http.post(f"/{API}/upload", files={"files": (EXAMPLE.name, f)}).raise_for_status().json()
    Path(server_path).unlink()
    stream = _predict_raw(app_server.url, {"path": server_path, "meta": {"_type": "gradio.FileData"}})
    assert "event: error" in stream and "no longer on the server" in stream
    assert "FileNotFoundError" not in stream and "Traceback" not in stream


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(EXAMPLE.stat().st_size))
        self.end_headers()
        self.wfile.write(EXAMPLE.read_bytes())

    def log_message(self, *args):
        pass


def test_a_remote_url_is_refused_before_any_download(app_server):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
        client = Client(app_server.url, verbose=False)
        with pytest.raises(Exception, match="Links to remote files are not accepted") as info:
            client.predict(handle_file(url), "stcnn-t18", "saliency", "auto", api_name="/predict")
        assert "Traceback" not in str(info.value)
        assert _Counting.hits == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def app_with_wrong_face_model(test_zoo, tmp_path_factory):
    """The app started with ``$MICROEXP_FACE_MODEL`` pointing at a file that is not the known bundle."""
    work = tmp_path_factory.mktemp("app-face")
    wrong = work / "face_landmarker.task"
    wrong.write_bytes(b"PK\x03\x04 not the MediaPipe bundle")
    with serve_app(work, test_zoo, timeout=120, MICROEXP_FACE_MODEL=str(wrong)) as (_, url):
        yield url


def test_a_wrong_face_model_is_found_at_start_up_and_said_plainly(app_with_wrong_face_model):
    url = app_with_wrong_face_model
    with urllib.request.urlopen(f"{url}config", timeout=30) as r:
        config = json.loads(r.read())
    shown = [c["props"].get("value", "") for c in config["components"] if c["props"].get("elem_id") == "no-face-model"]
    assert shown and "The face model is unavailable" in shown[0] and "SHA-256" in shown[0]
    client = Client(url, verbose=False)
    for _ in range(2):  # remembered: every request answers at once, none tries to fetch
        t = time.perf_counter()
        with pytest.raises(Exception, match="face model is unavailable on this server") as info:
            client.predict(handle_file(str(EXAMPLE)), "stcnn-t18", "saliency", "auto", api_name="/predict")
        assert "Traceback" not in str(info.value) and time.perf_counter() - t < 30


def test_a_4k_clip_is_refused_from_its_header(app_server, tmp_path):
    """The app's source-resolution limit (1920x1920 pixels): a 4K clip is refused before it is decoded."""
    import numpy as np

    from microexp.video import write_video

    clip = write_video(tmp_path / "uhd.mp4", np.zeros((3, 2160, 3840, 3), np.uint8), fps=30.0, preset="ultrafast")
    client = Client(app_server.url, verbose=False)
    with pytest.raises(Exception, match=r"3840x2160 frames, larger than the 1920x1920 pixel limit"):
        client.predict(handle_file(str(clip)), "stcnn-t18", "saliency", "auto", api_name="/predict")
