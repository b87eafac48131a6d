"""The page of ``hwr serve`` in a real browser: Debian's Chromium, driven by Playwright.

Playwright cannot download its own browsers here, so it drives the system's Chromium
(``apt-get install -y chromium``; ``.ci/run`` installs it). Without one of the two the tests skip
and say which is missing. HWR_CHROMIUM names another Chromium binary.
"""

import io
import os
import shutil
import socket
import threading
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from hwr.data.images import to_model_input
from hwr.model.checkpoints import save_model
from hwr.model.crnn import CRNN

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'hwr[serve]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
import uvicorn  # noqa: E402

from hwr.app.serve import Limits, load_app  # noqa: E402

CHROMIUM = os.environ.get("HWR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium; or set HWR_CHROMIUM)",
                allow_module_level=True)

# headless and quiet: without the background-networking flags Chromium keeps calling home, which a
# closed network refuses
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
MAX_FILE_BYTES = 100_000
# where app.js puts a drawing's ink in the 64 x 256 image it sends, as a scan has it
INK_HEIGHT, INK_LEFT, INK_TOP = 16, 10, 13
# block capitals H, I, L as strokes in a unit box per letter (x, y from the top left), 0.7 wide
LETTERS = [[[(0, 0), (0, 1)], [(0.7, 0), (0.7, 1)], [(0, 0.5), (0.7, 0.5)]],
           [[(0.35, 0), (0.35, 1)]],
           [[(0, 0), (0, 1), (0.7, 1)]]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(address, app) of hwr serve running in a thread on a free loopback port."""
    torch.manual_seed(0)
    model = tmp_path_factory.mktemp("browser") / "model.pt"
    save_model(model, CRNN("gru"), {"rnn": "gru", "subset": "full", "resize": "crop"})
    app = load_app(model, limits=Limits(max_files=4, max_file_bytes=MAX_FILE_BYTES), device="cpu")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "hwr serve did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 900, "height": 1000})
        page.goto(server[0])
        sync_api.expect(page.locator("#model")).to_contain_text("GRU model (torch, resize crop, 256 px)")
        yield page
        browser.close()


@pytest.fixture
def model_inputs(server):
    """The (64, 256) images the model reads from now on, in order (the real model still reads them)."""
    predictor = server[1].state.predictor
    seen = []

    def read(images):
        seen.extend(np.array(image) for image in images)
        return type(predictor).read(predictor, images)

    predictor.read = read  # recognise() looks the method up at each call
    yield seen
    del predictor.read


def shown_text(app, data: bytes) -> str:
    predictor = app.state.predictor
    text = predictor.read(to_model_input(data, predictor.resize)[None])[0].text
    return text or "(nothing read)"


def test_a_real_scan_is_read(page, server, real_sample, tmp_path):
    with zipfile.ZipFile(real_sample / "test_v2.zip") as zf:
        name = next(n for n in zf.namelist() if n.endswith(".jpg"))
        data = zf.read(name)
    scan = tmp_path / os.path.basename(name)
    scan.write_bytes(data)
    page.set_input_files("#files", str(scan))
    result = page.locator(f'.result[data-name="{scan.name}"]')
    sync_api.expect(result.locator(".text")).to_have_text(shown_text(server[1], data))
    sync_api.expect(result.locator(".confidence")).to_contain_text("confidence")
    assert page.locator("#error").is_hidden()


def test_a_drawing_is_read(page):
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 90)
    page.mouse.down()
    for i in range(40):  # a wavy line across the pad, like cursive
        page.mouse.move(box["x"] + 40 + 10 * i, box["y"] + 64 + 26 * np.sin(i / 2))
    page.mouse.up()
    page.click("#read-drawing")
    result = page.locator('.result[data-name="drawing.png"]')
    sync_api.expect(result.locator(".confidence")).to_contain_text("confidence")
    assert page.locator("#error").is_hidden()


def test_an_oversize_upload_shows_the_error(page, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    big = tmp_path / "big.png"
    big.write_bytes(buffer.getvalue())
    assert big.stat().st_size > MAX_FILE_BYTES
    page.set_input_files("#files", str(big))
    sync_api.expect(page.locator("#error")).to_have_text(
        f"big.png: {big.stat().st_size:,} bytes, more than the {MAX_FILE_BYTES:,} this server takes per image")
    sync_api.expect(page.locator('.result.failed[data-name="big.png"] .message')).to_contain_text("more than")


def write_capitals(page, left: float, top: float, height: float) -> tuple[float, float]:
    """Writes H I L on the pad, ``height`` pad pixels tall from (left, top); returns the ink's (width, height)."""
    box = page.locator("#pad").bounding_box()
    css = box["width"] / 512  # the pad is 512 pixels wide however wide it is shown
    for n, letter in enumerate(LETTERS):
        for stroke in letter:
            points = [(left + (n * 1.1 + x) * height, top + y * height) for x, y in stroke]
            page.mouse.move(box["x"] + points[0][0] * css, box["y"] + points[0][1] * css)
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x * css, box["y"] + y * css, steps=12)
            page.mouse.up()
    return (2 * 1.1 + 0.7) * height, height


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(image < 128)
    return rows.min(), rows.max(), cols.min(), cols.max()


def read_drawing(page, model_inputs) -> np.ndarray:
    before = page.locator('.result[data-name="drawing.png"]').count()
    page.click("#read-drawing")
    sync_api.expect(page.locator('.result[data-name="drawing.png"]')).to_have_count(before + 1)
    assert len(model_inputs) == 1
    return model_inputs.pop()


def test_a_drawing_is_sent_as_a_scan_would_be(page, model_inputs):
    """Capitals filling the pad and the same capitals small reach the model as the same image: the
    ink's bounding box, scaled to a scan's name height and placed as on a scan; the page shows it."""
    page.click("#clear")
    width, height = write_capitals(page, 20, 6, 116)  # fills the pad's height
    big = read_drawing(page, model_inputs)
    assert big.shape == (64, 256)
    top, bottom, left, right = ink_box(big)
    pen = 3  # the pen's width widens the box a little on each side
    assert abs(top - INK_TOP) <= 2 and abs(left - INK_LEFT) <= 2
    assert INK_HEIGHT <= bottom - top + 1 <= INK_HEIGHT + pen
    assert abs((right - left + 1) - width * INK_HEIGHT / height) <= pen  # scaled, not stretched
    assert big.min() < 80 and (big > 250).mean() > 0.8  # dark ink on white, like a scan

    shown = page.evaluate("""async () => {  // the image on the result card, in grey levels
        const img = document.querySelector('.result[data-name="drawing.png"] img');
        await img.decode();
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        return [c.width, c.height, Array.from(g.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 == 0))];
    }""")
    assert shown[:2] == [256, 64]
    assert np.array_equal(np.array(shown[2], dtype=np.uint8).reshape(64, 256), big)  # exactly what was read

    page.click("#clear")
    write_capitals(page, 300, 70, 30)  # small, elsewhere on the pad
    small = read_drawing(page, model_inputs)
    assert np.all(np.abs(np.array(ink_box(small)) - np.array(ink_box(big))) <= 1)
    assert np.abs(small.astype(int) - big.astype(int)).mean() < 4  # the same image, give or take antialiasing
    assert page.locator("#error").is_hidden()


def test_results_fit_a_phone_screen(page, server, tmp_path):
    """At 390 px wide (a phone) nothing is wider than the screen: result cards, errors, the pad."""
    long_name = tmp_path / ("Marie-Christine-Anne-Sophie-de-la-Tour-du-Pin-Gouvernet-" * 2 + ".png")
    buffer = io.BytesIO()
    Image.new("L", (324, 44), 255).save(buffer, format="PNG")
    long_name.write_bytes(buffer.getvalue())
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.set_input_files("#files", str(long_name))
        sync_api.expect(page.locator(f'.result[data-name="{long_name.name}"] .confidence')).to_contain_text("confidence")
        page.evaluate("""() => {  // the longest reading a card can get: 64 letters without a space
            const text = document.querySelector('.result .text');
            text.textContent = "W".repeat(64);
        }""")
        assert page.locator(".result").count() >= 2
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.set_viewport_size({"width": 900, "height": 1000})
