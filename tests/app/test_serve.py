import io
import re
import socket
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from _support import jpeg_bytes
from PIL import Image

from hwr.app import cli
from hwr.data.images import to_model_input
from hwr.model.checkpoints import save_model
from hwr.model.crnn import CRNN

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'hwr[serve]')")
pytest.importorskip("httpx2", reason="FastAPI's test client needs httpx2 (pip install 'hwr[test]')")
import httpx2  # noqa: E402
import uvicorn  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from hwr.app.serve import WEB_DIR, Limits, create_app, load_app, server_config  # noqa: E402
from hwr.decoding.greedy import Reading  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("serve") / "model.pt"
    save_model(path, CRNN("gru"), {"rnn": "gru", "subset": "full", "resize": "crop"})
    return path


@pytest.fixture(scope="module")
def app(model_file):
    return load_app(model_file, limits=Limits(max_files=3, max_file_bytes=100_000, max_pixels=2_000_000), device="cpu")


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def expected_text(app, data: bytes) -> str:
    predictor = app.state.predictor
    return predictor.read(to_model_input(data, predictor.resize)[None])[0].text


def upload(*files: tuple[str, bytes]):
    return [("files", (name, data, "application/octet-stream")) for name, data in files]


def test_health_names_the_model_and_limits(client, model_file):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["backend"] == "torch" and body["rnn"] == "gru"
    assert body["model"] == str(model_file) and body["resize"] == "crop"
    assert body["limits"]["max_files"] == 3 and body["limits"]["max_file_bytes"] == 100_000


def test_page_needs_nothing_from_other_sites(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.js", "/static/style.css"]
    for asset in assets:
        assert client.get(asset).status_code == 200
    for path in WEB_DIR.iterdir():  # no address of another host anywhere: it works offline
        assert "://" not in path.read_text(encoding="utf-8"), path


def test_one_scan(client, app, real_sample):
    with zipfile.ZipFile(real_sample / "test_v2.zip") as zf:
        name = next(n for n in zf.namelist() if n.endswith(".jpg"))
        data = zf.read(name)
    answer = client.post("/predict", files=upload(("scan.jpg", data)))
    assert answer.status_code == 200
    (result,) = answer.json()["results"]
    assert result["name"] == "scan.jpg" and result["text"] == expected_text(app, data)
    assert 0 <= result["confidence"] <= 1 and result["alternatives"] == []


def test_several_files_in_order_with_one_bad(client, app):
    a, b = jpeg_bytes(324, 36, seed=1), jpeg_bytes(200, 50, seed=2, fmt="PNG")
    answer = client.post("/predict", files=upload(("a.jpg", a), ("notes.txt", b"not an image"), ("b.png", b)))
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["name"] for r in results] == ["a.jpg", "notes.txt", "b.png"]
    assert results[0]["text"] == expected_text(app, a) and results[2]["text"] == expected_text(app, b)
    assert results[1] == {"name": "notes.txt", "error": "notes.txt: not an image this server can read (JPEG, PNG, ...)"}


def test_limits_give_clear_errors(client):
    too_many = client.post("/predict", files=upload(*[(f"{i}.jpg", jpeg_bytes(seed=i)) for i in range(4)]))
    assert too_many.status_code == 413
    assert too_many.json() == {"error": "more than 3 images in one request; send at most 3"}

    noise = np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")  # ~120 kB: over the 100,000-byte limit
    big = client.post("/predict", files=upload(("big.png", buffer.getvalue())))
    assert big.status_code == 422
    assert big.json()["error"] == f"big.png: {len(buffer.getvalue()):,} bytes, more than the 100,000 this server takes per image"

    buffer = io.BytesIO()
    Image.new("L", (3000, 1000), 255).save(buffer, format="PNG")  # small file, 3 million pixels
    wide = client.post("/predict", files=upload(("wide.png", buffer.getvalue())))
    assert wide.status_code == 422
    assert wide.json()["error"] == "wide.png: 3000 x 1000 pixels, more than the 2,000,000 pixels this server takes per image"

    huge = client.post("/predict", files=upload(*[(f"{i}.bin", bytes(150_000)) for i in range(3)]))
    assert huge.status_code == 413 and "this server takes at most" in huge.json()["error"]


def test_body_is_capped_as_it_streams(client, app):
    """A body larger than the cap is refused however it is sent (here without a Content-Length)."""
    limit = Limits(max_files=3, max_file_bytes=100_000).max_request_bytes

    def chunks():
        boundary = b"--xyz\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\n\r\n"
        yield boundary
        for _ in range(limit // 65536 + 2):
            yield bytes(65536)

    answer = client.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert answer.status_code == 413 and answer.json()["error"].startswith("request larger than")


@pytest.mark.parametrize("kwargs, status, message", [
    ({"data": {"name": "x"}}, 415, "send the images as multipart/form-data"),
    ({"json": {"name": "x"}}, 415, "send the images as multipart/form-data"),
    ({"content": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=b"}}, 400, "malformed multipart body"),
    ({"files": {"note": (None, "just a field")}}, 400, "no image in the request"),
])
def test_bad_requests(client, kwargs, status, message):
    answer = client.post("/predict", **kwargs)
    assert answer.status_code == status and answer.json()["error"].startswith(message)


def test_uploads_never_touch_the_disk(model_file, monkeypatch):
    """A 1.5 MB upload, above python-multipart's default in-memory size, is still kept in memory."""
    app = load_app(model_file, limits=Limits(max_file_bytes=4_000_000), device="cpu")

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was written to disk")

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    noise = np.random.default_rng(1).integers(0, 256, (1000, 1200), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1_200_000
    with TestClient(app) as client:
        answer = client.post("/predict", files=upload(("noise.png", buffer.getvalue())))
    assert answer.status_code == 200 and "text" in answer.json()["results"][0]


def test_serve_command_checks_its_options(model_file, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--model", str(model_file), "--max-files", "0"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: --max-files must be a positive whole number, not 0\n"


def test_limits_are_checked():
    with pytest.raises(ValueError, match="max_active must be positive"):
        Limits(max_active=0)
    with pytest.raises(ValueError, match="must exceed max_active"):
        Limits(max_active=8, max_waiting=100, max_connections=100)
    Limits(max_waiting=0)  # no queue: refuse whatever finds every place at work


def test_openapi_declares_requests_and_responses(client):
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/predict"]["post"]
    files = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["files"]
    assert files["type"] == "array" and files["items"] == {"type": "string", "format": "binary"}

    def model(responses, status):
        return responses[status]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert {s: model(post["responses"], s) for s in post["responses"]} == {
        "200": "Readings", "400": "ErrorMessage", "413": "ErrorMessage", "415": "ErrorMessage",
        "422": "NothingRead", "503": "ErrorMessage"}
    assert "Retry-After" in post["responses"]["503"]["headers"]
    assert model(schema["paths"]["/health"]["get"]["responses"], "200") == "Health"
    components = schema["components"]["schemas"]
    assert set(components["Reading"]["properties"]) == {"name", "text", "confidence", "alternatives"}
    assert set(components["FileError"]["properties"]) == {"name", "error"}
    assert {"max_active", "max_waiting"} <= set(components["HealthLimits"]["properties"])


def test_docs_are_served_from_here(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:  # the script and styles come from this app, not a CDN: the docs work offline
        assert asset.startswith("/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert "://" not in docs.text


class BlockedPredictor:
    """A model whose every read waits for ``release``: requests pile up behind it as behind a slow model."""

    resize, width = "crop", 256

    def __init__(self):
        self.release = threading.Event()

    def describe(self):
        return {"model": "blocked", "backend": "test", "rnn": "gru", "resize": self.resize, "width": self.width}

    def read(self, images):
        self.release.wait()
        return [Reading("ANNA", 0.9) for _ in images]


def serve_in_thread(app):
    """hwr serve's uvicorn (server_config) on a free loopback port, in a thread; returns (url, stop)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(app, port=sock.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive())
    assert server.started, "hwr serve did not start"

    def stop():
        server.should_exit = True
        thread.join(timeout=30)

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def wait_for(condition, deadline_s: float = 60) -> None:
    """Polls until ``condition()``; the deadline only keeps a broken server from hanging the tests."""
    deadline = time.monotonic() + deadline_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_burst_waits_its_turn_and_only_the_excess_is_refused():
    """2 at work and 3 waiting: of 8 requests at once, 3 get 503 at once and the other 5 are answered
    once the model moves, none of the waiting ones having sent its body to the app meanwhile."""
    predictor = BlockedPredictor()
    limits = Limits(max_active=2, max_waiting=3, retry_after_s=7)
    app = create_app(predictor, limits)
    bodies_read = set()

    async def counting(scope, receive, send):  # records which requests the app has read a body of
        async def receive_counted():
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                bodies_read.add(id(scope))
            return message
        await app(scope, receive_counted, send)

    counting.state = app.state  # server_config reads the limits (uvicorn's own) from app.state
    url, stop = serve_in_thread(counting)
    try:
        scan = jpeg_bytes(seed=3)
        with ThreadPoolExecutor(8) as pool:
            answers = [pool.submit(httpx2.post, f"{url}/predict", files=upload((f"{i}.jpg", scan)), timeout=120)
                       for i in range(8)]
            admission = app.state.admission
            wait_for(lambda: admission.running == 2 and admission.queued == 3 and sum(a.done() for a in answers) == 3)
            assert admission.running == 2 and admission.queued == 3
            refused = [a.result() for a in answers if a.done()]
            assert len(refused) == 3 and len(bodies_read) <= 2
            for answer in refused:
                assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
                assert answer.json() == {"error": "the server is busy: 2 requests at work and 3 waiting, "
                                                  "as many as it takes; retry in 7 s"}
            predictor.release.set()
            answered = [a.result() for a in answers if a.result().status_code != 503]
        assert len(answered) == 5
        for answer in answered:
            assert answer.status_code == 200 and answer.json()["results"][0]["text"] == "ANNA"
        assert admission.running == 0 and admission.queued == 0
        assert httpx2.get(f"{url}/health").json()["limits"]["max_waiting"] == 3
    finally:
        predictor.release.set()
        stop()


def test_uvicorns_limit_is_only_a_safety_net(app):
    config = server_config(app)
    assert config.limit_concurrency == app.state.limits.max_connections
    assert config.limit_concurrency > app.state.limits.max_active + app.state.limits.max_waiting


def test_the_servers_pixel_limit_is_the_one_applied_above_the_preprocess_default():
    """--max-pixels above preprocess.max_pixels' default (16 M) admits the image: the server's limit
    is passed down, not the pipeline's; far past Pillow's own limit, an image is too big, not
    "not an image"."""
    from _support import png_header

    from hwr.app.serve import prepare

    buffer = io.BytesIO()
    Image.new("L", (5000, 4000), 255).save(buffer, format="PNG")  # 20 million pixels, a small file
    limits = Limits(max_pixels=25_000_000, max_file_bytes=10_000_000)
    assert prepare("wide.png", buffer.getvalue(), "crop", limits).shape == (64, 256)
    assert prepare("wide.png", buffer.getvalue(), "crop", Limits(max_pixels=19_000_000)).startswith("5000 x 4000 pixels")
    said = prepare("bomb.png", png_header(40000, 40000), "crop", limits)  # 1.6 billion pixels, declared only
    assert said == "too many pixels, more than the 25,000,000 pixels this server takes per image"
