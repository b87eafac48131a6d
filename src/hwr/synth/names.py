"""French-style first names and surnames for the synthetic dataset.

The pools come straight from the person providers of ``faker`` (fr_FR, fr_BE, fr_CH, fr_CA):
reading their name tuples once is fast and deterministic, while faker's own seeding is global
and slow. Pools are sorted and de-duplicated so that the draw depends only on the numpy RNG that
is passed in. A small character-bigram model trained on the pools adds plausible names that are
in none of them (the real data is full of surnames no list has), and a few rules build
compound forms ("JEAN-PIERRE", "DE LA TOUR", "D'ALMEIDA", "EL FETOUAKI").

Two strings come out of a draw: ``shown`` (what the writer writes, may carry accents, upper
case) and ``label`` (accents stripped with NFKD, only the Kaggle alphabet, at most 24 chars).
"""

from __future__ import annotations

import functools
import importlib
import logging
import unicodedata

import numpy as np

from hwr.core.alphabet import ALPHABET, MAX_LABEL_LENGTH

log = logging.getLogger(__name__)

LOCALES = ("fr_FR", "fr_BE", "fr_CH", "fr_CA")

# A handful of names in case faker is missing: the generator must still work.
_FALLBACK_FIRST = ("LEA", "LUCAS", "JULIEN", "CHLOE", "THEO", "EMMA", "NATHAN", "INES", "HUGO", "LOUISE")
_FALLBACK_LAST = ("MARTIN", "BERNARD", "DUBOIS", "PETIT", "DURAND", "LEROY", "MOREAU", "SIMON", "LAURENT")

_PARTICLES = ("DE ", "DE LA ", "DU ", "LE ", "LA ", "DES ", "VAN ", "DI ", "DA ", "DOS ", "EL ", "BEN ", "AIT ")
_PARTICLE_P = np.array([10, 4, 5, 5, 2, 2, 2, 2, 2, 1, 3, 2, 1], dtype=float)
_PARTICLE_P /= _PARTICLE_P.sum()


def strip_accents(text: str) -> str:
    """NFKD-decompose and drop combining marks: 'JÉRÔME' -> 'JEROME'."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def to_label(shown: str) -> str:
    """The label of a written name: upper case, accents dropped, alphabet only."""
    label = strip_accents(shown).upper()
    return "".join(ch for ch in label if ch in ALPHABET)


def _clean(name: str) -> str | None:
    """Upper-case ``name`` keeping accents; None when it has symbols outside the alphabet."""
    shown = name.strip().upper().replace("’", "'")
    if not shown or not all(ch in ALPHABET for ch in strip_accents(shown)):
        return None
    return shown


@functools.lru_cache(maxsize=1)
def name_pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(first names, last names), upper case with accents, sorted; built once per process."""
    first: set[str] = set()
    last: set[str] = set()
    for loc in LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except Exception as exc:  # faker missing or a locale dropped: keep going
            log.warning("faker locale %s unavailable (%s)", loc, exc)
            continue
        for attr, pool in (("first_names", first), ("last_names", last)):
            for name in getattr(provider, attr, ()) or ():
                shown = _clean(str(name))
                if shown and len(shown) <= 16:
                    pool.add(shown)
    if not first:
        first.update(_FALLBACK_FIRST)
    if not last:
        last.update(_FALLBACK_LAST)
    return tuple(sorted(first)), tuple(sorted(last))


@functools.lru_cache(maxsize=1)
def _bigram_model() -> tuple[str, np.ndarray]:
    """Character bigram counts over all pool names (accent-free), with ^ and $ as start/end."""
    first, last = name_pools()
    symbols = "^$" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    index = {c: i for i, c in enumerate(symbols)}
    counts = np.full((len(symbols), len(symbols)), 0.01)
    for name in first + last:
        word = strip_accents(name)
        if not word.isalpha():
            continue
        seq = "^" + word + "$"
        for a, b in zip(seq, seq[1:]):
            counts[index[a], index[b]] += 1.0
    counts[:, 0] = 0.0  # never go back to start
    cdf = np.cumsum(counts / counts.sum(axis=1, keepdims=True), axis=1)
    return symbols, cdf


def _invented(rng: np.random.Generator) -> str:
    """A new name from the bigram model, 3-9 letters."""
    symbols, cdf = _bigram_model()
    for _ in range(20):
        out, state = [], 0
        while len(out) < 12:
            nxt = int(np.searchsorted(cdf[state], rng.random() * cdf[state, -1]))
            nxt = min(nxt, len(symbols) - 1)
            if nxt == 1:  # end symbol
                break
            out.append(symbols[nxt])
            state = nxt
        if 4 <= len(out) <= 9 or (len(out) == 3 and rng.random() < 0.3):
            return "".join(out)
    return "MARTIN"


def _pick(rng: np.random.Generator, pool: tuple[str, ...]) -> str:
    return pool[int(rng.integers(len(pool)))]


def first_name(rng: np.random.Generator) -> str:
    first, _ = name_pools()
    u = rng.random()
    if u < 0.04:  # compound first name, mostly hyphenated (rare: real labels are mostly one name)
        sep = "-" if rng.random() < 0.85 else " "
        return _pick(rng, first) + sep + _pick(rng, first)
    if u < 0.16:
        return _invented(rng)
    return _pick(rng, first)


def last_name(rng: np.random.Generator) -> str:
    _, last = name_pools()
    u = rng.random()
    base = _invented(rng) if rng.random() < 0.3 else _pick(rng, last)
    if u < 0.03:
        particle = ("DE ", "DU ", "LE ", "DI ", "DA ", "EL ")[int(rng.integers(6))]
        particle = str(rng.choice(_PARTICLES, p=_PARTICLE_P)) if rng.random() < 0.7 else particle
        return particle + base
    if u < 0.045 and strip_accents(base[0]) in "AEIOUH":
        return "D'" + base
    if u < 0.06:
        return base + "-" + _pick(rng, last)
    return base


def draw_name(rng: np.random.Generator, field: str | None = None) -> tuple[str, str, str]:
    """(field, shown, label): field 'NOM' or 'PRENOM'; shown may have accents; label is clean."""
    if field is None:
        field = "PRENOM" if rng.random() < 0.5 else "NOM"
    for _ in range(10):
        shown = first_name(rng) if field == "PRENOM" else last_name(rng)
        label = to_label(shown)
        if 1 <= len(label) <= min(20, MAX_LABEL_LENGTH) and label.strip() == label:
            return field, shown, label
    return field, "MARTIN", "MARTIN"
