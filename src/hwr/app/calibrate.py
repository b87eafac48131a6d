"""``hwr calibrate``: a model's confidences calibrated on the user's own labelled scans.

The evaluate stage calibrates on the project's validation split, which for the built-in data is
synthetic: on real scans such a calibration is too sure of itself. Given a labelled split in the
Kaggle layout (a zip and its CSV), this reads it with the decoder the model carries, fits the map
from confidence to the chance of being right on those readings (isotonic, as the evaluate stage
does), and writes the model again carrying that calibration: one file that reads as before, with
confidences that hold on the user's scans.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from hwr.core.errors import HwrError
from hwr.core.layout import split_files
from hwr.data.preprocessing import build_store
from hwr.decoding.bundle import make_bundle, parse_bundle, reading_decoder
from hwr.decoding.confidence import Calibration
from hwr.evaluation.evaluate import read_split
from hwr.model.checkpoints import load_model, save_with_reading
from hwr.model.runtime import choose_device


def calibrate_model(model_path: str | Path, data_dir: str | Path, out_path: str | Path, *, split: str = "validation",
                    lexicon_dir: str | Path | None = None, device: str | None = None) -> dict:
    """Writes ``out_path``: the model of ``model_path`` carrying a calibration fitted on ``split`` of
    the Kaggle-layout folder ``data_dir``. Returns what was measured on that split: images, word
    accuracy, and the share right of the most confident half before and after (the ranking does not
    change: calibration is monotone)."""
    model_path, out_path = Path(model_path), Path(out_path)
    if out_path.resolve() == model_path.resolve():
        raise HwrError(f"{out_path}: give another file than the model read (-o NEW.pt); the model stays as it is")
    zip_path, csv_path = split_files(data_dir, split)
    for path in (zip_path, csv_path):
        if not path.is_file():
            raise HwrError(f"{path}: not found; give a folder with {zip_path.name} and {csv_path.name} (Kaggle layout)")
    torch_device = choose_device(device)
    model, config = load_model(model_path, torch_device)
    bundle = parse_bundle(config.get("reading"), str(model_path))
    uncalibrated = {k: v for k, v in bundle.items() if k != "calibration"} if bundle else None
    decoder = reading_decoder(uncalibrated, lexicon_dir=lexicon_dir, where=str(model_path))
    with tempfile.TemporaryDirectory(prefix="hwr-calibrate-") as work:
        store = build_store(zip_path, csv_path, Path(work) / split, resize=config.get("resize", "crop"),
                            width=config["width"], desc=split)
        if len(store) < 20:
            raise HwrError(f"{csv_path}: {len(store)} usable labelled images; calibrating needs at least 20")
        readings, _, _ = read_split(model, store, {decoder.name: decoder}, batch_size=64, device=torch_device,
                                    with_loss=False, desc=f"reading {split} ({decoder.name})")
        right = np.array([r.text == t for r, t in zip(readings[decoder.name], store.texts)])
        raw = np.array([r.confidence for r in readings[decoder.name]])
    calibration = Calibration.fit(raw, right)  # as the evaluate stage fits it on its validation split
    reading = dict(bundle) if bundle else make_bundle(decoder, None, lexicon_dir)
    reading["calibration"] = calibration.to_dict()
    save_with_reading(model_path, out_path, reading)
    order = np.argsort(-raw, kind="stable")[: max(1, len(raw) // 2)]
    return {"images": int(len(right)), "decoder": decoder.name, "word_accuracy": float(right.mean()),
            "most_confident_half": float(right[order].mean()),
            "mean_confidence_before": float(raw.mean()), "mean_confidence_after": float(calibration(raw).mean())}
