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
        sync_api.expect(page.locator("#model")).to_contain_text("GRU model (torch, resize crop)")
        yield page
        browser.close()


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
