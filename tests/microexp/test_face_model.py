"""microexp.face model resolution: a download is trusted by the bundle's SHA-256, never by where it came from,
and a server can check the file it will run before its first request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from microexp.errors import FaceModelError
from microexp.face import MODEL_SHA256, MODEL_SIZE, download_face_model, resolve_face_model, verify_face_model


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return resolve_face_model().read_bytes()


@pytest.fixture
def serve() -> Iterator:
    """``serve(body)`` -> a loopback URL answering GET with ``body``; the bytes sent are counted in ``.sent``."""
    servers = []

    def start(body: bytes):
        class Handler(BaseHTTPRequestHandler):
            sent = 0

            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(0, len(body), 2**16):
                        self.wfile.write(body[i : i + 2**16])
                        Handler.sent += len(body[i : i + 2**16])
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/face_landmarker.task", Handler

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_the_known_bundle_downloads(serve, bundle):
    url, _ = serve(bundle)
    assert download_face_model(url, timeout=10) == bundle


def test_other_bytes_from_the_url_are_refused(serve, bundle):
    url, _ = serve(bundle[:-1] + bytes([bundle[-1] ^ 1]))  # a valid-looking bundle, one byte changed
    with pytest.raises(FaceModelError, match="unexpected SHA-256"):
        download_face_model(url, timeout=10)


def test_an_endless_body_is_not_read_to_its_end(serve, bundle):
    url, handler = serve(bundle + bytes(64 * 2**20))
    with pytest.raises(FaceModelError, match="unexpected SHA-256"):
        download_face_model(url, timeout=10)
    assert handler.sent < 32 * 2**20  # the reader stopped just past the bundle's size; the server gave up


def test_verify_accepts_the_bundle_and_refuses_another_file(tmp_path, bundle):
    good = tmp_path / "good.task"
    good.write_bytes(bundle)
    assert verify_face_model(good) == good and len(bundle) == MODEL_SIZE
    bad = tmp_path / "bad.task"
    bad.write_bytes(b"PK\x03\x04 not a bundle")
    with pytest.raises(FaceModelError, match=f"SHA-256 .*expected {MODEL_SHA256[:12]}"):
        verify_face_model(bad)
    with pytest.raises(FaceModelError, match="does not exist"):
        verify_face_model(tmp_path / "missing.task")
