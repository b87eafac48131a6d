"""The symbol set of the study and the label <-> index encoding.

Indices 0..28 are the 29 symbols of ``ALPHABET`` (space is 0, A is 1, ..., Z is 26, '-' is 27,
"'" is 28). The CTC blank is the last class, ``BLANK = 29``, so the model has 30 outputs and the
padding value -1 can never collide with a symbol or the blank.
"""

from __future__ import annotations

import numpy as np

ALPHABET = " ABCDEFGHIJKLMNOPQRSTUVWXYZ-'"
NUM_SYMBOLS = len(ALPHABET)  # 29
BLANK = NUM_SYMBOLS  # 29: CTC blank, last class
NUM_CLASSES = NUM_SYMBOLS + 1  # 30
PAD = -1
MAX_LABEL_LENGTH = 24
GAP = "∅"  # in aligned character pairs: a missing or extra character

_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def unknown_characters(text: str) -> str:
    """The characters of ``text`` outside the alphabet, in order of first appearance."""
    return "".join(dict.fromkeys(ch for ch in text if ch not in _INDEX))


def encode(text: str, length: int = MAX_LABEL_LENGTH) -> np.ndarray:
    """``text`` as symbol indices padded with -1 to ``length``; raises ValueError if it cannot be."""
    bad = unknown_characters(text)
    if bad:
        raise ValueError(f"label {text!r} has characters outside the alphabet: {bad!r}")
    if len(text) > length:
        raise ValueError(f"label {text!r} has {len(text)} characters, more than {length}")
    out = np.full(length, PAD, dtype=np.int16)
    out[: len(text)] = [_INDEX[ch] for ch in text]
    return out


def encode_many(texts, length: int = MAX_LABEL_LENGTH) -> np.ndarray:
    """A (N, length) int16 array of encoded labels."""
    out = np.full((len(texts), length), PAD, dtype=np.int16)
    for row, text in enumerate(texts):
        out[row] = encode(text, length)
    return out


def decode(indices) -> str:
    """Symbol indices back to text; padding (-1) and blanks are ignored."""
    return "".join(ALPHABET[i] for i in np.asarray(indices).tolist() if 0 <= i < NUM_SYMBOLS)
