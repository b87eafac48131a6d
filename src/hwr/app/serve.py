"""``hwr serve``: a web page and a JSON API that read handwritten names from uploaded images.

    GET  /          the page (``hwr/app/web/``): drop scans, or draw a name with a mouse or a finger
    POST /predict   multipart/form-data, one or more image files -> JSON readings
    GET  /health    the model, its backend and the upload limits, as JSON
    GET  /docs      the API's OpenAPI schema (``/openapi.json``) browsed in Swagger UI, served from here

A FastAPI app (``create_app``) run by uvicorn. Uploads are bounded before they are read: the request
body in bytes (checked as it streams in, whatever Content-Length claims), each file in bytes, each
image in pixels (from its header, before decoding) and the files per request; a request over a limit
gets a one-line reason in JSON (``{"error": ...}``) that the page shows. Uploads are parsed in memory
and never written to disk. Load is bounded too (``hwr.app.admission``): ``max_active`` requests are
read and recognised at once, ``max_waiting`` more wait their turn without their bodies being read,
and only past those a request gets 503 with ``Retry-After``. Nothing, the docs included, is loaded
from other sites, so it all works offline.
"""

import io
import logging
import threading
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from hwr import __version__
from hwr.app.admission import Admission, Overloaded
from hwr.core.errors import HwrError
from hwr.data.images import WIDTH, UndecodableImage, to_model_input

WEB_DIR = Path(__file__).resolve().parent / "web"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers, beyond the files' own bytes


@dataclass(frozen=True)
class Limits:
    max_files: int = 16
    max_file_bytes: int = 2 * 1024 * 1024  # a scanned name is 10-40 KB; a phone photo fits
    max_pixels: int = 20_000_000  # width x height
    # The model reads one batch at a time with every core, so a few requests at work keep it busy
    # (the next bodies arrive and decode meanwhile); with max_request_bytes this bounds the memory
    # uploads take at once (4 x 32 MiB at most), however many wait.
    max_active: int = 4
    # a waiting request holds only its connection, so a deep queue is cheap; it absorbs bursts that
    # would otherwise be refused
    max_waiting: int = 256
    retry_after_s: int = 2  # a queue this deep drains in seconds: a client may try again that soon
    # uvicorn's limit_concurrency: 503 to connections beyond it before the app sees them. Only a
    # safety net, far above max_active + max_waiting, for idle keep-alive connections and the page
    max_connections: int = 1024

    def __post_init__(self):
        for f in fields(self):
            if getattr(self, f.name) < (0 if f.name == "max_waiting" else 1):
                raise ValueError(f"Limits.{f.name} must be {'>= 0' if f.name == 'max_waiting' else 'positive'}, "
                                 f"not {getattr(self, f.name)}")
        if self.max_connections <= self.max_active + self.max_waiting:
            raise ValueError(f"Limits.max_connections ({self.max_connections}) must exceed max_active + max_waiting "
                             f"({self.max_active + self.max_waiting}), or uvicorn refuses what the queue would take")

    @property
    def max_request_bytes(self) -> int:
        return self.max_files * self.max_file_bytes + MULTIPART_OVERHEAD


class UploadError(Exception):
    """A request the server refuses, with its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def check_headers(request, limits: Limits) -> str:
    """The request's multipart Content-Type, once its headers show it may be taken: checked before
    the request waits its turn, so one refused anyway is refused at once."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UploadError(415, "send the images as multipart/form-data (one or more file fields)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise UploadError(413, f"request of {int(declared):,} bytes; this server takes at most "
                               f"{limits.max_request_bytes:,} ({limits.max_files} images of {limits.max_file_bytes:,} bytes)")
    return content_type


async def read_uploads(request, limits: Limits) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each file in a multipart/form-data request, in order, held in memory."""
    from python_multipart import create_form_parser
    from python_multipart.exceptions import FormParserError
    from starlette.requests import ClientDisconnect

    content_type = check_headers(request, limits)
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
    except ClientDisconnect:  # it went away while it waited or sent: nobody reads this answer
        raise UploadError(400, "the client closed the connection before sending the whole body") from None
    if not files:
        raise UploadError(400, "no image in the request; send one or more files (field name: files)")
    return files


def prepare(name: str, data: bytes, resize: str, limits: Limits, width: int = WIDTH) -> np.ndarray | str:
    """The model input of one upload, or why it cannot be read (a one-line reason)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return "empty file"
    if len(data) > limits.max_file_bytes:
        return f"{len(data):,} bytes, more than the {limits.max_file_bytes:,} this server takes per image"
    too_many = f"more than the {limits.max_pixels:,} pixels this server takes per image"
    try:
        with warnings.catch_warnings():  # Pillow's own limit: the server's (--max-pixels) is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                pixels_wide, pixels_high = image.size
    except Image.DecompressionBombError:  # an image, only far too big: not "not an image"
        return f"too many pixels, {too_many}"
    except (UnidentifiedImageError, OSError, ValueError):
        return "not an image this server can read (JPEG, PNG, ...)"
    if pixels_wide * pixels_high > limits.max_pixels:
        return f"{pixels_wide} x {pixels_high} pixels, {too_many}"
    try:
        # the server's pixel limit, not preprocess's
        return to_model_input(data, resize, width=width, max_pixels=limits.max_pixels)
    except (UndecodableImage, ValueError) as exc:
        return f"not a readable image ({(str(exc).splitlines() or ['damaged'])[0][:120]})"


def create_app(predictor, limits: Limits = Limits()):
    """The FastAPI app serving ``predictor`` (``hwr.app.predictor.open_model``); ``app.state`` holds
    its ``limits`` and ``admission`` (the requests at work and waiting now)."""
    from fastapi import Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline
    from starlette.concurrency import run_in_threadpool

    from hwr.app import schemas

    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # a malformed body is the client's answer, not a log line
    # FastAPIOffline: FastAPI whose /docs loads Swagger UI's script and styles from this server
    # (fastapi-offline ships them), not from a CDN, so the docs work on a closed network. No
    # validator badge either: Swagger UI would fetch it from validator.swagger.io
    app = FastAPIOffline(title="hwr", version=__version__, redoc_url=None, static_url="/docs-static",
                         description="Reads handwritten names from images of form fields (CRNN + CTC).",
                         swagger_ui_parameters={"validatorUrl": None})
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.state.limits = limits
    app.state.admission = admission = Admission(limits.max_active, limits.max_waiting)
    model_lock = threading.Lock()  # one batch at a time: it already uses every core

    def recognise(uploads: list[tuple[str, bytes]]) -> list[dict]:
        prepared = [prepare(name, data, predictor.resize, limits, predictor.width) for name, data in uploads]
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

    @app.get("/health", response_model=schemas.Health, summary="The model served and the limits")
    def health():
        return {"status": "ok", "version": __version__, **predictor.describe(),
                "limits": {**asdict(limits), "max_request_bytes": limits.max_request_bytes}}

    @app.post("/predict", response_model=schemas.Readings, summary="Read the names in one or more images",
              responses=schemas.predict_responses(limits.retry_after_s),
              openapi_extra={"requestBody": schemas.PREDICT_BODY})
    async def predict(request: Request):
        try:
            check_headers(request, limits)  # refused at once, before waiting, when the headers say so
            async with admission.slot():  # its body is read only once admitted: waiting holds no upload
                uploads = await read_uploads(request, limits)
                results = await run_in_threadpool(recognise, uploads)
        except UploadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Overloaded as exc:
            return JSONResponse({"error": f"{exc}; retry in {limits.retry_after_s} s"}, status_code=503,
                                headers={"Retry-After": str(limits.retry_after_s)})
        if all("error" in r for r in results):  # nothing read: the request as a whole failed
            error = results[0]["error"] if len(results) == 1 else f"none of the {len(results)} images could be read"
            return JSONResponse({"results": results, "error": error}, status_code=422)
        return {"results": results}

    return app


def load_app(model, *, limits: Limits = Limits(), device: str | None = None, decoder=None):
    """The app serving ``model``, an opened :class:`hwr.app.predictor.Predictor` or a model path
    (opened with ``device`` and ``decoder``); its predictor is ``app.state.predictor``."""
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise HwrError("hwr serve needs FastAPI, fastapi-offline and uvicorn; install them with "
                       "pip install 'hwr[serve]'") from None
    from hwr.app.predictor import Predictor, open_model

    predictor = model if isinstance(model, Predictor) else open_model(model, device=device,
                                                                      **({"decoder": decoder} if decoder else {}))
    app = create_app(predictor, limits)
    app.state.predictor = predictor
    return app


def server_config(app, *, host: str = "127.0.0.1", port: int = 8000):
    """uvicorn's configuration for ``app`` (made by create_app): its own connection limit is the
    app's ``max_connections``, a safety net far above what the app admits and queues."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning",
                          limit_concurrency=app.state.limits.max_connections)


def run(app, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serves ``app`` until Ctrl-C."""
    import uvicorn

    uvicorn.Server(server_config(app, host=host, port=port)).run()
