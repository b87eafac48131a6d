"""Readings of several models of the same images, combined name by name.

CTC models do not agree on *when* they emit a letter: the study's GRU and LSTM put the same letter
one to three frames apart, so averaging their per-frame log-probabilities leaves blanks where
either model alone reads the name (greedy reads 0 % of real validation names from that average).
The models are therefore decoded one by one and combined per name: each candidate text gets the
mean, over the models, of the probability each gave it (its reading's confidence, an alternative's
share, or 0 when a model did not propose it). The best candidate is the reading, with that mean
as its confidence: where the models agree it is their mean confidence, where they disagree it is at
most half the more confident one's, as it should be.
"""

from __future__ import annotations

from hwr.decoding.greedy import Reading


def combine(per_model: list[list[Reading]]) -> list[Reading]:
    """One reading per image from each model's readings of the same images (same order)."""
    if not per_model:
        return []
    if len({len(readings) for readings in per_model}) > 1:
        raise ValueError("combine: every model must read the same images")
    return [_combine_one(together) for together in zip(*per_model)]


def _combine_one(readings: tuple[Reading, ...]) -> Reading:
    mass: dict[str, float] = {}  # in the order the models proposed the texts
    for reading in readings:
        for text, probability in ((reading.text, reading.confidence), *reading.alternatives):
            mass[text] = mass.get(text, 0.0) + probability
    ranked = sorted(mass, key=lambda text: -mass[text])  # a stable sort: a tie goes to the first proposed
    n, keep = len(readings), max(len(r.alternatives) for r in readings)
    best = ranked[0]
    return Reading(best, mass[best] / n, tuple((text, mass[text] / n) for text in ranked[1 : 1 + keep]))
