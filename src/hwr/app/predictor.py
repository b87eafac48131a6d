"""A trained model ready to read images: a model file training wrote (``.pt``, run by torch) or one
``hwr export`` wrote (``.onnx``, run by onnxruntime).

``open_model(path).read(images)`` turns (N, 64, width) uint8 images (``hwr.data.images.to_model_input``
at the predictor's ``resize`` and ``width``)
into one :class:`hwr.decoding.greedy.Reading` per image, with the decoder given (greedy by default).
An ONNX model is run without torch: this module, ``hwr.data.images`` and ``hwr.decoding.greedy`` import it only
for a torch model, so ``hwr predict --model x.onnx`` works where torch is not installed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from hwr.core.alphabet import ALPHABET
from hwr.core.errors import HwrError
from hwr.data.images import RESIZE_MODES, WIDTH, check_width
from hwr.decoding.bundle import KEY as READING
from hwr.decoding.bundle import parse_bundle
from hwr.decoding.greedy import Reading, greedy_read

log = logging.getLogger(__name__)

Decoder = Callable[[np.ndarray], list[Reading]]  # (N, T, C) log-probabilities -> readings

ONNX_INPUT = "images"  # uint8 (N, 64, width), white 255: normalisation is inside the graph
ONNX_OUTPUT = "log_probs"  # float32 (N, width / 4, 30), log-softmax over the classes (blank last)


class Predictor:
    """A model and how to feed it: ``resize`` and ``width`` are how its images must be prepared
    (``hwr.data.images.to_model_input``); ``reading``: what the model file carries for reading it
    (:mod:`hwr.decoding.bundle`), or None."""

    backend = ""

    def __init__(self, path: Path, rnn: str, resize: str, decoder: Decoder, batch_size: int, reading=None,
                 width: int = WIDTH):
        if resize not in RESIZE_MODES:
            raise HwrError(f"{path}: unknown resize mode {resize!r} in the model; expected crop or fit")
        try:
            check_width(width)
        except ValueError as exc:
            raise HwrError(f"{path}: {exc} (in the model); export or train it again") from None
        self.path, self.rnn, self.resize, self.decoder, self.batch_size = path, rnn, resize, decoder, batch_size
        self.width = width
        self.reading = parse_bundle(reading, str(path))

    def describe(self) -> dict:
        return {"model": str(self.path), "backend": self.backend, "rnn": self.rnn, "resize": self.resize,
                "width": self.width}

    def read(self, images: np.ndarray) -> list[Reading]:
        raise NotImplementedError


class TorchPredictor(Predictor):
    backend = "torch"

    def __init__(self, paths: list[Path], decoder: Decoder, batch_size: int, device: str | None, precision: str):
        from hwr.model.ensemble import load_models
        from hwr.model.runtime import choose_device, resolve_precision

        self.device = choose_device(device)
        self.model, config = load_models(paths, self.device)  # several: read each, combined per name
        if len(paths) > 1 and not hasattr(decoder, "settings"):  # a plain function reads one model's output
            from hwr.decoding.factory import Decoder

            decoder = Decoder(getattr(decoder, "__name__", "decoder"), {}, decoder)
        path = paths[0] if len(paths) == 1 else Path("+".join(map(str, paths)))
        self.dtype = resolve_precision(precision, self.device)
        super().__init__(path, config["rnn"], config.get("resize", "crop"), decoder, batch_size, config.get(READING),
                         config["width"])

    def read(self, images: np.ndarray) -> list[Reading]:
        from hwr.model.inference import recognise

        readings, _ = recognise(self.model, images, batch_size=self.batch_size, device=self.device,
                                dtype=self.dtype, decoder=self.decoder)
        return readings


class OnnxPredictor(Predictor):
    backend = "onnxruntime"

    def __init__(self, path: Path, decoder: Decoder, batch_size: int, threads: int = 0):
        try:
            import onnxruntime
        except ImportError:
            raise HwrError(f"{path}: an ONNX model needs onnxruntime; install it with pip install 'hwr[onnx]'") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, one per physical core
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a corrupt or foreign file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise HwrError(f"{path}: not a readable ONNX model ({first}); export it again with hwr export") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "rnn" not in meta or "resize" not in meta:
            raise HwrError(f"{path}: an ONNX model but not one hwr exported (no hwr metadata); export it with hwr export")
        if meta.get("alphabet") != ALPHABET:
            raise HwrError(f"{path}: exported with another alphabet; export it again with this version of hwr")
        width = meta.get("width", str(WIDTH))  # files exported before the option read the study's crop
        super().__init__(path, meta["rnn"], meta["resize"], decoder, batch_size, meta.get(READING),
                         int(width) if width.isdigit() else width)

    def read(self, images: np.ndarray) -> list[Reading]:
        readings: list[Reading] = []
        for start in range(0, len(images), self.batch_size):
            batch = np.ascontiguousarray(images[start : start + self.batch_size], dtype=np.uint8)
            (log_probs,) = self.session.run([ONNX_OUTPUT], {ONNX_INPUT: batch})
            readings.extend(self.decoder(log_probs))
        return readings


def open_model(path: str | Path | list, *, decoder: Decoder = greedy_read, batch_size: int = 64,
               device: str | None = None, precision: str = "auto") -> Predictor:
    """The model in ``path``: ONNX for a ``.onnx`` file, else a torch model file; a list of torch
    model files reads with each, the readings combined per name (:mod:`hwr.decoding.combine`). ``device``
    and ``precision`` (as ``train.precision``: auto runs in bf16 where the CPU has it) are for torch
    models (default device: CUDA when present); ONNX models run on the CPU in float32."""
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    if batch_size < 1:
        raise HwrError(f"batch size must be a positive number of images, not {batch_size}")
    for one in paths:
        if not one.is_file():
            what = "is a folder, not a model file" if one.is_dir() else "model not found"
            raise HwrError(f"{one}: {what}; train one first (dvc repro) or give --model FILE")
    if any(one.suffix.lower() == ".onnx" for one in paths):
        if len(paths) > 1:
            raise HwrError(f"{', '.join(map(str, paths))}: ONNX models are read one at a time; average torch "
                           "model files (.pt), or give one .onnx")
        if device not in (None, "cpu"):
            raise HwrError(f"{paths[0]}: ONNX models run on the CPU here; drop --device {device}")
        return OnnxPredictor(paths[0], decoder, batch_size)
    return TorchPredictor(paths, decoder, batch_size, device, precision)
