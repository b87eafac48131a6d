"""Evaluate a trained model on a preprocessed split: metrics, predictions and error analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hwr.alphabet import GAP
from hwr.checkpoints import load_model
from hwr.errors import HwrError
from hwr.inference import recognise
from hwr.metrics import aligned_pairs, confusions, mean_letter_share_on_errors, positional_correct, summarise
from hwr.runtime import resolve_precision
from hwr.store import Store



def evaluate_model(model_path: str | Path, store: Store, *, batch_size: int = 256, top: int = 10,
                   device: torch.device | None = None) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Returns (metrics, per-sample predictions, per-character aligned pairs). An empty split is a
    one-line error: no metric is computed over nothing."""
    if len(store) == 0:
        raise HwrError(f"evaluate: {store.path} holds no images, nothing to measure; "
                       "metrics/clean.json and metrics/preprocess.json say why its rows were dropped")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, config = load_model(model_path, device)
    stored_resize = store.meta.get("resize")
    if config.get("resize") and stored_resize and config["resize"] != stored_resize:
        raise HwrError(f"{model_path} was trained on '{config['resize']}' images, the split is '{stored_resize}'; "
                       "re-run the pipeline (dvc repro) so that both use preprocess.resize")
    readings, loss = recognise(model, store.images, labels=store.labels, batch_size=batch_size, device=device,
                               dtype=resolve_precision("auto", device))
    preds = [r.text for r in readings]
    truths = store.texts
    metrics = summarise(truths, preds)
    metrics["loss"] = loss
    share = mean_letter_share_on_errors(truths, preds)
    metrics["letter_share_on_errors"] = share
    metrics["top_confusions"] = [
        {"true": t, "predicted": p, "count": n} for (t, p), n in confusions(truths, preds).most_common(top)
    ]
    predictions = pd.DataFrame({
        "FILENAME": store.filenames, "IDENTITY": truths, "PREDICTION": preds,
        "confidence": [round(r.confidence, 6) for r in readings],
        "correct": [t == p for t, p in zip(truths, preds)],
        "letters_correct": [positional_correct(t, p) for t, p in zip(truths, preds)],
        "length": [len(t) for t in truths],
    })
    pairs = [(a or GAP, b or GAP) for t, p in zip(truths, preds) for a, b in aligned_pairs(t, p)]
    pair_frame = pd.DataFrame(pairs, columns=["actual", "predicted"]) if pairs else pd.DataFrame(
        {"actual": np.array([], str), "predicted": np.array([], str)})
    return metrics, predictions, pair_frame
