"""The shapes of ``hwr serve``'s JSON, as Pydantic models: they make its OpenAPI schema (``/openapi.json``,
browsed at ``/docs``) and check what ``GET /health`` and ``POST /predict`` answer.

Imported by ``create_app`` only: Pydantic comes with FastAPI (the ``serve`` extra), and ``hwr`` itself
must import without it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Alternative(BaseModel):
    text: str = Field(description="another candidate reading")
    confidence: float = Field(ge=0, le=1)


class Reading(BaseModel):
    """One image read."""

    name: str = Field(description="the file name sent")
    text: str = Field(description="the name read (empty when nothing was read)")
    confidence: float = Field(ge=0, le=1, description="the decoder's confidence in the text")
    alternatives: list[Alternative] = Field(description="other candidates, best first (beam and lexicon decoders)")


class FileError(BaseModel):
    """One image that could not be read, in its place among the results."""

    name: str = Field(description="the file name sent")
    error: str = Field(description="why, in one line, starting with the file name")


class Readings(BaseModel):
    """The answer to POST /predict: one entry per file, in the order sent."""

    results: list[Reading | FileError]


class NothingRead(BaseModel):
    """422: none of the files could be read."""

    results: list[FileError]
    error: str = Field(description="why, in one line")


class ErrorMessage(BaseModel):
    """A request refused as a whole."""

    error: str = Field(description="why, in one line")


class HealthLimits(BaseModel):
    max_files: int = Field(description="images per request")
    max_file_bytes: int = Field(description="bytes per image")
    max_pixels: int = Field(description="pixels per image (width x height), read from the header")
    max_request_bytes: int = Field(description="bytes per request body")
    max_active: int = Field(description="requests read and recognised at once")
    max_waiting: int = Field(description="requests that wait their turn beyond those; past them, 503")
    retry_after_s: int = Field(description="the Retry-After of a 503, in seconds")
    max_connections: int = Field(description="connections the server holds at most (a safety net)")


class Health(BaseModel):
    status: str = Field(description='"ok"')
    version: str = Field(description="hwr's version")
    model: str = Field(description="the model file served")
    backend: str = Field(description="torch or onnxruntime")
    rnn: str = Field(description="the model family: gru or lstm")
    resize: str = Field(description="how images are brought to 64 x width: crop or fit")
    width: int = Field(description="the width in px of the model's input (256, the study's crop, or wider)")
    limits: HealthLimits


# POST /predict reads its body itself (as it streams in, under the limits), so FastAPI cannot infer
# the request schema from the function's parameters: it is declared here
PREDICT_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["files"],
        "properties": {"files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "one or more images (JPEG, PNG, ...): one field named files per image",
        }},
    }}},
}


def predict_responses(retry_after_s: int) -> dict:
    """The statuses POST /predict answers besides 200, for the OpenAPI schema."""
    return {
        400: {"model": ErrorMessage, "description": "a malformed multipart body, or no file in it"},
        413: {"model": ErrorMessage, "description": "too many files, or a body over the byte limit"},
        415: {"model": ErrorMessage, "description": "not multipart/form-data"},
        422: {"model": NothingRead, "description": "none of the files could be read"},
        503: {"model": ErrorMessage,
              "description": "busy: as many requests at work and waiting as the server takes; retry later",
              "headers": {"Retry-After": {"description": f"seconds to wait before retrying ({retry_after_s} here)",
                                          "schema": {"type": "integer"}}}},
    }
