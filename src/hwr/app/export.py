"""Export a trained model to ONNX, to run it with onnxruntime and no torch (``hwr.app.predictor``).

The graph reads what ``hwr predict`` feeds a torch model: uint8 images (N, 64, width) prepared by
``hwr.data.images.to_model_input``, white 255; its normalisation to ink-positive floats is part of the
graph. It returns the log-probabilities (N, width / 4, 30), blank last. The batch dimension is dynamic.
The model's resize mode, input width, family, alphabet and hwr's version travel as ONNX metadata, so that the
images it reads are prepared as its training images were; so does, for a reader file
(``readers/<run>.pt``), what reading it needs: decoder, calibration and lexicon (:mod:`hwr.decoding.bundle`).

What is exported is :class:`hwr.model.crnn.StudyCRNN`, the network written plainly with torch's own
GRU/LSTM (standard ONNX operators), loaded with the model's weights: the two compute the same
function (a test holds them to it), and hwr's compiled kernels have no ONNX form.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

from hwr import __version__
from hwr.app.predictor import ONNX_INPUT, ONNX_OUTPUT
from hwr.core.alphabet import ALPHABET
from hwr.core.errors import HwrError
from hwr.core.files import write_bytes
from hwr.data.images import HEIGHT
from hwr.decoding.bundle import KEY as READING

OPSET = 18  # the opset torch's exporter writes natively; onnxruntime >= 1.14 runs it


def export_onnx(model_path: str | Path, out_path: str | Path, opset: int = OPSET) -> dict:
    """Writes ``out_path`` (atomically) from the torch model file ``model_path``; returns its metadata.
    The file's opset is ``opset``: torch writes its own, and an older one asked for is converted to
    (or refused with a one-line error when the converter cannot)."""
    out_path = Path(out_path)
    if out_path.is_dir():
        raise HwrError(f"{out_path} is a folder; give the ONNX file to write, e.g. {out_path / 'model.onnx'}")
    above = next((p for p in out_path.parents if p.exists()), None)  # checked before the slow export
    if above is not None and not above.is_dir():
        raise HwrError(f"{out_path}: cannot write ({above} is a file, not a folder); choose a writable file path")
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter needs it; fail here with the fix, not inside torch)
    except ImportError:
        raise HwrError("hwr export needs onnx and onnxscript; install them with pip install 'hwr[onnx]'") from None
    import torch

    from hwr.model.checkpoints import load_model
    from hwr.model.crnn import StudyCRNN

    trained, config = load_model(model_path)
    plain = StudyCRNN(config["rnn"], trained.cnn_type, width=trained.width).eval()
    plain.load_state_dict(trained.state_dict())
    example = torch.full((2, HEIGHT, trained.width), 255, dtype=torch.uint8)
    with _quiet():
        program = torch.onnx.export(
            plain, (example,), dynamo=True, opset_version=opset, input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT], dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
            verbose=False)
    proto = _at_opset(program.model_proto, opset)
    metadata = {"hwr_version": __version__, "rnn": config["rnn"], "resize": config.get("resize", "crop"),
                "width": str(trained.width), "alphabet": ALPHABET, "opset": str(opset)}
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    if config.get(READING) is not None:  # a reader file's decoder, calibration and lexicon travel too
        proto.metadata_props.add(key=READING, value=json.dumps(config[READING]))
        metadata["decoder"] = config[READING]["decoder"]
    proto.doc_string = (f"hwr {config['rnn'].upper()} CRNN: uint8 images (N, {HEIGHT}, {trained.width}), white 255, "
                        f"resized by '{metadata['resize']}' -> CTC log-probabilities (N, {trained.width // 4}, 30), "
                        "blank last")
    onnx.checker.check_model(proto)
    try:
        write_bytes(out_path, proto.SerializeToString())
    except OSError as exc:  # a parent that is a file, a read-only folder, a full disk
        raise HwrError(f"{out_path}: cannot write ({exc.strerror or exc}); choose a writable file path") from None
    return metadata


def opset_of(proto) -> int:
    """The opset of the default (ai.onnx) domain that ``proto`` declares."""
    return next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))


def _at_opset(proto, opset: int):
    """``proto`` converted to ``opset`` when the exporter wrote another one."""
    import onnx.version_converter

    written = opset_of(proto)
    if written == opset:
        return proto
    try:
        with _quiet():
            converted = onnx.version_converter.convert_version(proto, opset)
    except Exception as exc:  # the converter raises bare RuntimeErrors and ValueErrors of its own
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HwrError(f"ONNX opset {opset}: torch's exporter wrote opset {written} and the converter cannot "
                       f"bring this model to {opset} ({reason[:120]}); use --opset {written}") from None
    return converted


@contextlib.contextmanager
def _quiet():
    """torch's exporter reports its progress on stdout and warns about things that do not concern
    this model (torchvision's operators, deprecations inside torch); the user sees hwr's own line."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
