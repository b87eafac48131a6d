"""``hwr serve``: a web page and a JSON API that read handwritten names from uploaded images.

    GET  /          the page (``hwr/app/web/``): drop scans, or draw a name with a mouse or a finger
    POST /predict   multipart/form-data, one or more image files -> JSON readings
    GET  /health    the model, its backend and the upload limits, as JSON

A FastAPI app (``create_app``) run by uvicorn. Uploads are bounded before they are read: the request
body in bytes (checked as it streams in, whatever Content-Length claims), each file in bytes, each
image in pixels (from its header, before decoding) and the files per request; a request over a limit
gets a one-line reason in JSON (``{"error": ...}``) that the page shows. Uploads are parsed in memory
and never written to disk. The page loads nothing from other sites, so it works offline.
"""

import io
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hwr import __version__
from hwr.core.errors import HwrError
from hwr.data.images import UndecodableImage, to_model_input

WEB_DIR = Path(__file__).resolve().parent / "web"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers, beyond the files' own bytes
MAX_CONCURRENT_REQUESTS = 32  # with the per-request cap, bounds the memory uploads can take at once


@dataclass(frozen=True)
class Limits:
    max_files: int = 16
    max_file_bytes: int = 2 * 1024 * 1024  # a scanned name is 10-40 KB; a phone photo fits
    max_pixels: int = 20_000_000  # width x height

    @property
    def max_request_bytes(self) -> int:
        return self.max_files * self.max_file_bytes + MULTIPART_OVERHEAD


class UploadError(Exception):
    """A request the server refuses, with its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def read_uploads(request, limits: Limits) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each file in a multipart/form-data request, in order, held in memory."""
    from python_multipart import create_form_parser
    from python_multipart.exceptions import FormParserError

    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UploadError(415, "send the images as multipart/form-data (one or more file fields)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise UploadError(413, f"request of {int(declared):,} bytes; this server takes at most "
                               f"{limits.max_request_bytes:,} ({limits.max_files} images of {limits.max_file_bytes:,} bytes)")
    files: list[tuple[str, bytes]] = []

    def on_file(file) -> None:
        if len(files) == limits.max_files:
            raise UploadError(413, f"more than {limits.max_files} images in one request; send at most {limits.max_files}")
        name = (file.file_name or b"").decode("utf-8", "replace") or f"file {len(files) + 1}"
        file.file_object.seek(0)
        files.append((name, file.file_object.read()))

    try:
        # files kept in memory whatever their size (the body is capped below): nothing on disk
        parser = create_form_parser({"Content-Type": content_type.encode("latin-1")}, None, on_file,
                                    config={"MAX_MEMORY_FILE_SIZE": float("inf")})
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limits.max_request_bytes:
                raise UploadError(413, f"request larger than {limits.max_request_bytes:,} bytes; send fewer or smaller images")
            parser.write(chunk)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        raise UploadError(400, f"malformed multipart body ({exc})") from None
    if not files:
        raise UploadError(400, "no image in the request; send one or more files (field name: files)")
    return files


def prepare(name: str, data: bytes, resize: str, limits: Limits) -> np.ndarray | str:
    """The model input of one upload, or why it cannot be read (a one-line reason)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return "empty file"
    if len(data) > limits.max_file_bytes:
        return f"{len(data):,} bytes, more than the {limits.max_file_bytes:,} this server takes per image"
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return "not an image this server can read (JPEG, PNG, ...)"
    if width * height > limits.max_pixels:
        return f"{width} x {height} pixels, more than the {limits.max_pixels:,} this server takes per image"
    try:
        return to_model_input(data, resize)
    except (UndecodableImage, ValueError) as exc:
        return f"not a readable image ({(str(exc).splitlines() or ['damaged'])[0][:120]})"


def create_app(predictor, limits: Limits = Limits()):
    """The FastAPI app serving ``predictor`` (``hwr.app.predictor.open_model``)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool

    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # a malformed body is the client's answer, not a log line
    app = FastAPI(title="hwr", version=__version__, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    model_lock = threading.Lock()  # one batch at a time: it already uses every core

    def recognise(uploads: list[tuple[str, bytes]]) -> list[dict]:
        prepared = [prepare(name, data, predictor.resize, limits) for name, data in uploads]
        good = [i for i, p in enumerate(prepared) if not isinstance(p, str)]
        readings = {}
        if good:
            with model_lock:
                readings = dict(zip(good, predictor.read(np.stack([prepared[i] for i in good]))))
        results = []
        for i, (name, _) in enumerate(uploads):
            if i in readings:
                r = readings[i]
                results.append({"name": name, "text": r.text, "confidence": round(r.confidence, 6),
                                "alternatives": [{"text": t, "confidence": round(c, 6)} for t, c in r.alternatives]})
            else:
                results.append({"name": name, "error": f"{name}: {prepared[i]}"})
        return results

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(WEB_DIR / "index.html")

    @app.get("/health")
    def health():
        return {"status": "ok", "version": __version__, **predictor.describe(),
                "limits": {**asdict(limits), "max_request_bytes": limits.max_request_bytes}}

    @app.post("/predict")
    async def predict(request: Request):
        try:
            uploads = await read_uploads(request, limits)
        except UploadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        results = await run_in_threadpool(recognise, uploads)
        body = {"results": results}
        if all("error" in r for r in results):  # nothing read: the request as a whole failed
            body["error"] = results[0]["error"] if len(results) == 1 else f"none of the {len(results)} images could be read"
            return JSONResponse(body, status_code=422)
        return body

    return app


def load_app(model_path, *, limits: Limits = Limits(), device: str | None = None, decoder=None):
    """The app serving the model in ``model_path``; its predictor is ``app.state.predictor``."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise HwrError("hwr serve needs FastAPI and uvicorn; install them with pip install 'hwr[serve]'") from None
    from hwr.app.predictor import open_model

    predictor = open_model(model_path, device=device, **({"decoder": decoder} if decoder else {}))
    app = create_app(predictor, limits)
    app.state.predictor = predictor
    return app


def run(app, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serves ``app`` until Ctrl-C (uvicorn; requests beyond MAX_CONCURRENT_REQUESTS get 503)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=MAX_CONCURRENT_REQUESTS)
