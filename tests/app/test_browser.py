"""A real headless Chromium (Debian's, driven by Playwright) uses the Space like a person would.

It loads the page, uploads a shipped example, runs every zoo model, sees the label and the overlays,
and records a clip from a fake webcam fed with a face video (``--use-file-for-fake-video-capture``).
Screenshots go to ``artifacts/screenshots/`` (kept by CI).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
EXAMPLE = ROOT / "examples" / "positive_au6-au12_grace_hopper.mp4"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
LABELS = ("negative", "positive", "surprise")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("ffmpeg") is None,
                                reason="needs Debian chromium and ffmpeg (apt-get install -y chromium ffmpeg)")


@pytest.fixture(scope="module")
def webcam_y4m(tmp_path_factory) -> Path:
    """The example face clip as raw Y4M, the format Chromium's fake capture device reads."""
    out = tmp_path_factory.mktemp("webcam") / "face.y4m"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(EXAMPLE), "-vf", "scale=320:240",
                    "-pix_fmt", "yuv420p", str(out)], check=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def browser(webcam_y4m):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=[*FLAGS, f"--use-file-for-fake-video-capture={webcam_y4m}"])
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(app_server.url)
    pg.wait_for_selector("#analyse")
    yield pg
    context.close()


def _analyse_and_check(page, title: str, shot: str) -> str:
    page.locator("#analyse").click()
    label = page.locator("#label")
    # The note names the model that answered; the Label shows the winning class.
    page.wait_for_function(
        "title => (document.querySelector('#note')?.innerText || '').includes('Model: ' + title)"
        " && /negative|positive|surprise|no micro-expression/.test(document.querySelector('#label')?.innerText || '')"
        " && document.querySelectorAll('#gallery img').length > 0", arg=title, timeout=90_000)
    text = label.inner_text()
    assert any(c in text for c in (*LABELS, "no micro-expression found"))
    assert page.locator("#timeline img, #timeline canvas, #timeline svg").count() >= 1  # the timeline
    assert page.locator("#gallery img").count() >= 1  # per-frame overlays
    assert page.locator("#crops img").count() == 1  # the crops the model saw
    page.wait_for_selector("#overlay video[src]")  # the overlay video, playable in the page
    assert "synthetic" in page.locator("#note").inner_text()
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    return text


def test_upload_example_and_run_every_model(page):
    page.locator("#clip input[type=file]").set_input_files(str(EXAMPLE))
    page.wait_for_selector("#clip video")
    for name, entry in zoo.ENTRIES.items():
        page.locator("#model input").click()
        page.get_by_role("option", name=entry.title).click()
        page.wait_for_function(f"() => document.querySelector('#model-info')?.innerText.includes({entry.title!r})")
        _analyse_and_check(page, entry.title, f"upload-{name}")


def test_bad_upload_shows_a_clear_message(page, tmp_path):
    bad = tmp_path / "not-a-video.mp4"
    bad.write_text("hello\n" * 100)
    page.locator("#clip input[type=file]").set_input_files(str(bad))
    page.wait_for_selector("#clip video")  # the upload has landed (the browser cannot play it, the app will say why)
    page.locator("#analyse").click()
    toast = page.get_by_text("not-a-video.mp4", exact=False).last
    toast.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "bad-upload.png"), full_page=True)


def test_record_from_fake_webcam_and_analyse(page):
    page.get_by_label("Capture from camera").click()
    page.get_by_text("Click to Access Webcam").click()
    page.get_by_label("start recording").click()
    page.wait_for_timeout(2500)
    page.locator("#clip button.capture-button").click()  # stop
    page.wait_for_selector("#clip video[src]", timeout=30_000)
    page.screenshot(path=str(SHOTS / "webcam-recorded.png"), full_page=True)
    _analyse_and_check(page, zoo.ENTRIES[zoo.DEFAULT_ENTRY].title, "webcam-analysed")
