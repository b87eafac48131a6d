"""Pseudo-labels: unlabelled scans (a store, :mod:`hwr.adapt.unlabeled`) read by a model, the readings
it is confident of kept as labels.

A reading is kept when its confidence (from ``evaluate.decoder``'s reading — the lexicon decoder's
by default, far more often right than greedy's on real scans — calibrated on the validation split
as the evaluate stage calibrates it) is at or above the threshold and it passes the label rules the clean
stage applies to human labels (:func:`hwr.data.labels.clean_labels`: alphabet, length, placeholders).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hwr.data.labels import REASONS, clean_labels
from hwr.data.store import Store
from hwr.decoding.confidence import Calibration
from hwr.decoding.factory import GREEDY, Decoder
from hwr.decoding.greedy import Reading
from hwr.evaluation.evaluate import fit_calibrations, read_split
from hwr.model.checkpoints import load_model
from hwr.model.runtime import choose_device
from hwr.params import CleanParams

BATCH = 256  # store rows read by the model at a time
CSV_COLUMNS = ["FILENAME", "IDENTITY", "confidence"]


@dataclass
class PseudoLabels:
    """The readings kept as labels (``labels``: their row in the unlabelled store, FILENAME,
    IDENTITY, calibrated confidence) and how many images were read, kept and left out, and why."""

    labels: pd.DataFrame
    counts: dict

    def csv(self) -> pd.DataFrame:
        return self.labels[CSV_COLUMNS].assign(confidence=self.labels["confidence"].round(6))


def select_pseudo_labels(filenames: list[str], readings: list[Reading], calibration: Calibration,
                         threshold: float, clean: CleanParams) -> PseudoLabels:
    """The readings whose calibrated confidence is at least ``threshold`` and that pass the clean
    stage's label rules (an empty reading, a placeholder or a name over ``clean.max_length`` is
    dropped and counted under its reason)."""
    confidence = calibration(np.array([r.confidence for r in readings], dtype=float))
    confident = np.flatnonzero(confidence >= threshold)
    frame = pd.DataFrame({"row": confident, "FILENAME": [filenames[i] for i in confident],
                          "IDENTITY": [readings[i].text for i in confident], "confidence": confidence[confident]})
    kept, dropped = frame, dict.fromkeys(REASONS, 0)
    if len(frame):  # (clean_labels would read an empty selection as a selection of columns)
        kept, report = clean_labels(frame, uppercase=clean.uppercase, drop_labels=clean.drop_labels,
                                    empty_policy=clean.empty_policy, max_length=clean.max_length)
        dropped = report.as_dict()["dropped"]
    read = len(readings)
    # the calibrated confidence is the probability that a reading is right: its mean over the kept
    # readings estimates the share of right labels among them
    precision = round(float(kept["confidence"].mean()), 4) if len(kept) else None
    counts = {"read": read, "kept": len(kept), "below_threshold": read - len(confident), "dropped_by_rule": dropped,
              "coverage": round(len(kept) / read, 4) if read else None, "estimated_precision": precision}
    return PseudoLabels(kept.reset_index(drop=True), counts)


def read_confidently(model_path: str | Path, unlabeled: Store, validation: Store, *, threshold: float,
                     clean: CleanParams, batch_size: int = BATCH, decoder: Decoder = GREEDY) -> PseudoLabels:
    """Every image of ``unlabeled`` read by the model in ``model_path`` with ``decoder`` (the selftrain
    stage passes ``evaluate.decoder``'s), its confidences calibrated on ``validation``; the confident
    readings as :func:`select_pseudo_labels` keeps them."""
    device = choose_device()
    model, _ = load_model(model_path, device)
    decoders = {decoder.name: decoder}
    calibration = fit_calibrations(model, validation, decoders, batch_size=batch_size, device=device)[decoder.name]
    readings, _, _ = read_split(model, unlabeled, decoders, batch_size=batch_size, device=device, with_loss=False,
                                desc=f"reading ({decoder.name})")  # a batch of images in memory at a time
    return select_pseudo_labels(unlabeled.filenames, readings[decoder.name], calibration, threshold, clean)
