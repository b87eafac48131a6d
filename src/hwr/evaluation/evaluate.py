"""Evaluate a trained model on a preprocessed split: metrics, predictions and error analysis.

Each split is read once by the network; greedy decoding and the configured decoder both decode the
same log-probabilities, so their figures sit side by side. With a validation split, each decoder's
confidence is calibrated on it (:mod:`hwr.decoding.confidence`) before it is measured on the split.

:func:`evaluate_configured` and :func:`write_evaluation` are what the evaluate stage does for one
model, with the ``evaluate`` params; the finetune and selftrain stages evaluate their models so too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hwr.core.alphabet import GAP
from hwr.core.errors import HwrError
from hwr.core.files import write_csv, write_json
from hwr.core.layout import LEXICON_DIR, TENSORS
from hwr.data.store import Store, check_store_width, open_store
from hwr.decoding.bundle import make_bundle
from hwr.decoding.confidence import Calibration, coverage_curve, summary
from hwr.decoding.factory import GREEDY, Decoder, make_decoder
from hwr.decoding.parallel import Decoding, default_jobs
from hwr.evaluation.metrics import aligned_pairs, confusions, mean_letter_share_on_errors, positional_correct, summarise
from hwr.model.checkpoints import save_with_reading
from hwr.model.ensemble import load_models
from hwr.model.inference import recognise
from hwr.model.runtime import choose_device, resolve_precision
from hwr.params import EvaluateParams

log = logging.getLogger(__name__)

@dataclass
class Evaluation:
    metrics: dict  # the configured decoder's figures, and every decoder's under "decoders"
    predictions: pd.DataFrame  # one row per image
    pairs: pd.DataFrame  # aligned (actual, predicted) characters, for the confusion matrix
    coverage: pd.DataFrame  # coverage, word_accuracy (configured decoder), greedy_word_accuracy
    calibrations: dict  # decoder name -> Calibration fitted on the validation split (when given)
    decoder: Decoder  # the configured decoder the metrics are of


def read_split(model, store: Store, decoders: dict[str, Decoder], *, batch_size: int, device,
               with_loss: bool = True, desc: str | None = None, jobs: int | None = None) -> tuple:
    """Every decoder's readings of ``store`` from one pass of the network; returns
    (name -> readings, mean CTC loss (None when not ``with_loss``: a store without labels), name ->
    names decoded per second and core). ``desc``: a progress bar with that title. The beam decoders
    run on ``jobs`` worker processes (None: one per core) while the network reads the next batch."""
    def each_batch(log_probs):
        decoding.submit(log_probs.float().cpu())  # (N, T, C), or an ensemble's (M, N, T, C)
        return []

    jobs = default_jobs() if jobs is None else jobs
    with (tqdm(total=len(store), desc=desc, unit="image", disable=True if desc is None else None) as bar,
          Decoding(decoders, jobs, on_done=bar.update) as decoding):
        _, loss = recognise(model, store.images, labels=store.labels if with_loss else None, batch_size=batch_size,
                            device=device, dtype=resolve_precision("auto", device), decoder=each_batch)
        readings, seconds = decoding.results()
    speed = {name: (len(store) / s if s > 0 else None) for name, s in seconds.items()}
    return readings, loss, speed


def fit_calibrations(model, validation: Store, decoders: dict[str, Decoder], *, batch_size: int,
                     device) -> dict[str, Calibration]:
    """Each decoder's :class:`Calibration` of ``model``'s confidences, fitted on its readings of the
    validation split (right = the reading is the label)."""
    checks, _, _ = read_split(model, validation, decoders, batch_size=batch_size, device=device,
                              desc=f"calibrating on {Path(validation.path).name}")
    truths = validation.texts
    return {name: Calibration.fit([r.confidence for r in rs], [r.text == t for r, t in zip(rs, truths)])
            for name, rs in checks.items()}


def evaluate_model(model_path: str | Path | list, store: Store, *, batch_size: int = 256, top: int = 10,
                   device: torch.device | None = None, decoder: Decoder = GREEDY,
                   validation: Store | None = None) -> Evaluation:
    """``decoder`` is measured beside greedy decoding; ``validation``, when given,
    calibrates each decoder's confidence. An empty split is a one-line error: no metric is computed
    over nothing."""
    if len(store) == 0:
        raise HwrError(f"evaluate: {store.path} holds no images, nothing to measure; "
                       "metrics/clean.json and metrics/preprocess.json say why its rows were dropped")
    device = device or choose_device()
    model, config = load_models(model_path if isinstance(model_path, list) else [model_path], device)
    for split in (store, validation):
        stored_resize = split.meta.get("resize") if split is not None else None
        if config.get("resize") and stored_resize and config["resize"] != stored_resize:
            raise HwrError(f"{model_path} was trained on '{config['resize']}' images, the split is "
                           f"'{stored_resize}'; re-run the pipeline (dvc repro) so that both use preprocess.resize")
        if split is not None:
            check_store_width(split, config["width"], str(model_path))
    main = decoder.name
    decoders = {"greedy": GREEDY, main: decoder}
    # a bar on terminals: the beam decoders read tens of names a second, a large split takes minutes
    readings, loss, speed = read_split(model, store, decoders, batch_size=batch_size, device=device,
                                       desc=f"reading {Path(store.path).name} ({', '.join(decoders)})")
    calibrations = {}
    if validation is not None and len(validation):
        calibrations = fit_calibrations(model, validation, decoders, batch_size=batch_size, device=device)

    truths = store.texts
    per_decoder, curves = {}, {}
    for name, rs in readings.items():
        raw = np.array([r.confidence for r in rs])
        correct = [r.text == t for r, t in zip(rs, truths)]
        calibrated = calibrations[name](raw) if name in calibrations else None
        per_decoder[name] = {**summarise(truths, [r.text for r in rs]), **summary(raw, correct, calibrated),
                             "names_per_second": speed[name]}
        curves[name] = coverage_curve(raw, correct)
    preds = [r.text for r in readings[main]]
    metrics = {"decoder": main, **per_decoder[main], "loss": loss,
               "letter_share_on_errors": mean_letter_share_on_errors(truths, preds),
               "top_confusions": [{"true": t, "predicted": p, "count": n}
                                  for (t, p), n in confusions(truths, preds).most_common(top)],
               "decoders": per_decoder}
    raw = np.array([r.confidence for r in readings[main]])
    confidence = calibrations[main](raw) if main in calibrations else raw
    predictions = pd.DataFrame({
        "FILENAME": store.filenames, "IDENTITY": truths, "PREDICTION": preds,
        "confidence": np.round(confidence, 6), "raw_confidence": np.round(raw, 6),
        "correct": [t == p for t, p in zip(truths, preds)],
        "letters_correct": [positional_correct(t, p) for t, p in zip(truths, preds)],
        "length": [len(t) for t in truths],
    })
    if main != "greedy":
        predictions["greedy"] = [r.text for r in readings["greedy"]]
    pairs = [(a or GAP, b or GAP) for t, p in zip(truths, preds) for a, b in aligned_pairs(t, p)]
    pair_frame = pd.DataFrame(pairs, columns=["actual", "predicted"]) if pairs else pd.DataFrame(
        {"actual": np.array([], str), "predicted": np.array([], str)})
    coverage = curves[main].assign(greedy_word_accuracy=curves["greedy"]["word_accuracy"])
    return Evaluation(metrics, predictions, pair_frame, coverage, calibrations, decoder)


def evaluate_configured(model_path: str | Path, settings: EvaluateParams, *, tensors: Path = TENSORS,
                        lexicon_dir: Path = LEXICON_DIR) -> Evaluation:
    """What the evaluate stage measures for one model: the ``settings.split`` split of ``tensors``,
    read by greedy decoding and by ``settings.decoder``, confidences calibrated on the validation
    split when ``settings.calibrate``."""
    validation = None
    if settings.calibrate:
        validation = open_store(tensors / "validation")
        if settings.split == "validation":
            log.warning("evaluate: confidences are calibrated on the split they are measured on (validation)")
    decoder = make_decoder(settings.decoder, settings, lexicon_dir=lexicon_dir)
    return evaluate_model(model_path, open_store(tensors / settings.split), batch_size=settings.batch_size,
                          top=settings.top_confusions, decoder=decoder, validation=validation)


def write_evaluation(result: Evaluation, settings: EvaluateParams, run: str, *, metrics_path: Path,
                     out_dir: Path, reader: tuple[Path, Path] | None = None, lexicon_dir: Path = LEXICON_DIR,
                     **about) -> None:
    """The evaluate stage's outputs for one model: its metrics (``metrics_path``, after the run's
    name, the split and ``about``) and, in ``out_dir``, predictions.csv, confusion.csv, coverage.csv
    and, when calibrated, calibration.json. ``reader``: (the model file, where to write it again
    carrying its decoder, calibration and the lexicon of ``lexicon_dir``: what ``hwr predict``
    reads)."""
    write_json(metrics_path, {"run": run, "split": settings.split, **about, **result.metrics})
    write_csv(out_dir / "predictions.csv", result.predictions)
    write_csv(out_dir / "confusion.csv", result.pairs)
    write_csv(out_dir / "coverage.csv", result.coverage)
    name = result.decoder.name
    if name in result.calibrations:
        result.calibrations[name].save(out_dir / "calibration.json", **result.decoder.settings)
    if reader is not None:
        model_path, reader_path = reader
        save_with_reading(model_path, reader_path, make_bundle(result.decoder, result.calibrations.get(name), lexicon_dir))
