"""How far a reading's confidence can be trusted: calibration, and accuracy at coverage.

*Coverage* is the share of names accepted without a person, taking the most confident first: the
word accuracy at 50 % coverage is the accuracy of the most confident half. The ranking uses the
decoder's raw confidence; calibration is monotone, so it changes what the numbers say, not which
names come first.

*Calibration* maps a raw confidence to the probability that the reading is right, learnt on the
validation split by isotonic regression (scikit-learn): a calibrated 0.9 is right about 9 times in
10. The *expected calibration error* (ECE) says how far from that a set of confidences is: the
mean gap between confidence and accuracy over 10 equal-width bins, weighted by the bins' sizes.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hwr.core.errors import HwrError
from hwr.core.files import write_json

log = logging.getLogger(__name__)

COVERAGES = (0.5, 0.8, 1.0)  # the points the metrics report
ECE_BINS = 10


def _ranked(confidence, correct) -> np.ndarray:
    """``correct`` ordered by decreasing confidence (ties keep the input order: deterministic)."""
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    return np.asarray(correct, dtype=bool)[order]


def accuracy_at_coverage(confidence, correct, coverage: float) -> float | None:
    """Word accuracy of the ``coverage`` most confident share (at least one name)."""
    ranked = _ranked(confidence, correct)
    if not len(ranked):
        return None
    keep = max(1, math.ceil(coverage * len(ranked) - 1e-9))
    return float(ranked[:keep].mean())


def coverage_curve(confidence, correct, points: int = 100) -> pd.DataFrame:
    """Word accuracy of the most confident share, at ``points`` evenly spaced coverages up to 1."""
    ranked = _ranked(confidence, correct)
    if not len(ranked):
        return pd.DataFrame({"coverage": [], "word_accuracy": []})
    hits = np.cumsum(ranked)
    keep = np.unique(np.clip(np.ceil(np.linspace(1, points, points) / points * len(ranked) - 1e-9), 1,
                             len(ranked)).astype(int))
    return pd.DataFrame({"coverage": np.round(keep / len(ranked), 4),
                         "word_accuracy": np.round(hits[keep - 1] / keep, 4)})


def expected_calibration_error(confidence, correct, bins: int = ECE_BINS) -> float | None:
    confidence = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    correct = np.asarray(correct, dtype=float)
    if not len(confidence):
        return None
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error / len(confidence))


@dataclass(frozen=True)
class Calibration:
    """A monotone map from raw confidence to probability of being right (piecewise linear)."""

    x: tuple = (0.0, 1.0)
    y: tuple = (0.0, 1.0)

    @classmethod
    def fit(cls, confidence, correct) -> "Calibration":
        """Isotonic regression of correctness on raw confidence; the identity without data."""
        from sklearn.isotonic import IsotonicRegression  # only when fitting: predict needs none of it

        confidence = np.asarray(confidence, dtype=float)
        if not len(confidence):
            return cls()
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(confidence, np.asarray(correct, dtype=float))
        return cls(tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_))

    def __call__(self, confidence) -> np.ndarray:
        return np.interp(np.asarray(confidence, dtype=float), self.x, self.y)

    def to_dict(self) -> dict:
        return {"x": list(self.x), "y": list(self.y)}

    def save(self, path: str | Path, **about) -> None:
        """Written with what it was fitted for (``about``: decoder and settings)."""
        write_json(path, {**about, **self.to_dict()})

    @classmethod
    def load(cls, path: str | Path) -> tuple["Calibration", dict]:
        """(calibration, what it was fitted for) of a file :meth:`save` wrote."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HwrError(f"{path}: not a calibration file ({exc}); re-run the evaluate stage") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw, where: str) -> tuple["Calibration", dict]:
        """(calibration, what it was fitted for) of :meth:`to_dict`'s mapping (with what it was fitted for
        beside ``x`` and ``y``); a damaged one is a one-line error naming ``where``."""
        try:
            about = {k: v for k, v in raw.items() if k not in ("x", "y")}
            x, y = tuple(float(v) for v in raw["x"]), tuple(float(v) for v in raw["y"])
        except (AttributeError, ValueError, KeyError, TypeError) as exc:
            raise HwrError(f"{where}: not a calibration ({exc}); re-run the evaluate stage") from None
        if len(x) != len(y) or not x:
            raise HwrError(f"{where}: calibration x and y differ in length; re-run the evaluate stage")
        return cls(x, y), about


def summary(confidence, correct, calibrated=None) -> dict:
    """Coverage accuracies (on the raw ranking) and the ECE of raw and calibrated confidences."""
    out = {"word_accuracy_at_coverage": {f"{round(100 * c)}": accuracy_at_coverage(confidence, correct, c)
                                         for c in COVERAGES},
           "ece_raw": expected_calibration_error(confidence, correct)}
    if calibrated is not None:
        out["ece"] = expected_calibration_error(calibrated, correct)
    return out


class Calibrated:
    """A decoder whose readings' confidences go through a :class:`Calibration`.

    The calibration is learnt on best readings only (is the reading right?), so it says nothing of
    an alternative; mapping one through it would give the probability of a *best* reading that
    unsure, near 0. An alternative keeps instead its share of what the best reading leaves: raw
    posterior p_i of 1 - p_best becomes p_i / (1 - p_best) of 1 - calibrated p_best, so the best
    reading and its alternatives still add up to at most 1."""

    def __init__(self, decoder, calibration: Calibration):
        self.decoder, self.calibration = decoder, calibration

    def __call__(self, log_probs) -> list:
        out = []
        for r in self.decoder(log_probs):
            best = float(self.calibration([r.confidence])[0])
            rest = 1.0 - r.confidence
            scale = (1.0 - best) / rest if rest > 0 else 0.0
            out.append(replace(r, confidence=best,
                               alternatives=tuple((t, float(p * scale)) for t, p in r.alternatives)))
        return out


def calibrated(decoder, calibration: Calibration, fitted_for: dict, settings: dict, where: str):
    """``decoder`` with ``calibration`` when it was fitted for the same decoder ``settings``;
    otherwise (with a warning naming ``where`` it comes from) ``decoder`` as it is."""
    if fitted_for == settings:
        return Calibrated(decoder, calibration)
    log.warning("%s: its calibration was fitted for %s, not %s: confidences are not calibrated", where, fitted_for,
                settings)
    return decoder
