"""French-style first names and surnames for the synthetic dataset.

Two pools (``synth.names``), each sorted and de-duplicated so that the draw depends only on the
numpy RNG that is passed in:

- ``faker`` (the default): the person providers of ``faker`` (fr_FR, fr_BE, fr_CH, fr_CA), drawn
  alike: reading their name tuples once is fast and deterministic, while faker's own seeding is
  global and slow.
- ``names-dataset:FR``: the first names and surnames the ``names-dataset`` package ranks for a
  country (:mod:`hwr.core.name_lists`), drawn by rank, so that the built-in data has the names, and
  the letter statistics, of real forms. The weight of the name ranked r is 1 / (r + RANK_OFFSET):
  with it the 100 commonest names make about a fifth of the draws and the 1,000 commonest about
  half, as in the real dataset's labels (22 % and 44 % of 80k rows). On real scans it reads no
  better than faker's names with the default lexicon (docs/experiments.md), hence not the default.

The pool in use is set for a whole dataset with :func:`drawing_from` (the writer sets it before its
workers start). A small character-bigram model trained on the pools adds plausible names that are
in none of them (the real data is full of surnames no list has), and a few rules build
compound forms ("JEAN-PIERRE", "DE LA TOUR", "D'ALMEIDA", "EL FETOUAKI").

Two strings come out of a draw: ``shown`` (what the writer writes, may carry accents, upper
case) and ``label`` (accents stripped with NFKD, only the Kaggle alphabet, at most 24 chars).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from hwr.core.alphabet import ALPHABET, MAX_LABEL_LENGTH
from hwr.core.name_lists import ranked_names

log = logging.getLogger(__name__)

LOCALES = ("fr_FR", "fr_BE", "fr_CH", "fr_CA")
FAKER = "faker"
EXAMPLE_SOURCE = "names-dataset:FR"
RANK_OFFSET = 50
MAX_SHOWN = 16  # longer pool names are left out: the crop holds about 16 handwritten letters

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
                if shown and len(shown) <= MAX_SHOWN:
                    pool.add(shown)
    if not first:
        first.update(_FALLBACK_FIRST)
    if not last:
        last.update(_FALLBACK_LAST)
    return tuple(sorted(first)), tuple(sorted(last))


@dataclass(frozen=True)
class NamePool:
    """First names and surnames, sorted, with cumulative draw weights (None: each name alike)."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    first_cdf: np.ndarray | None = None
    last_cdf: np.ndarray | None = None

    def pick(self, rng: np.random.Generator, field: str) -> str:
        names, cdf = (self.first, self.first_cdf) if field == "PRENOM" else (self.last, self.last_cdf)
        if cdf is None:
            return names[int(rng.integers(len(names)))]
        return names[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(names) - 1)]


@functools.lru_cache(maxsize=4)
def pool(source: str = FAKER) -> NamePool:
    """The pool of ``source``: ``faker`` or ``names-dataset:CC`` (a country code)."""
    if source == FAKER:
        return NamePool(*name_pools())
    kind, _, country = source.partition(":")
    if kind != "names-dataset" or not country:
        raise ValueError(f"names={source!r}: expected faker or names-dataset:CC, e.g. {EXAMPLE_SOURCE}")
    lists = ranked_names(country)
    first, first_cdf = _ranked_pool(lists["first"])
    last, last_cdf = _ranked_pool([lists["last"]])
    return NamePool(first, last, first_cdf, last_cdf)


def _ranked_pool(ranked_lists: list[list[str]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Names (sorted) and their cumulative weights, 1 / (rank + RANK_OFFSET) summed over the lists."""
    weights: dict[str, float] = defaultdict(float)
    for ranked in ranked_lists:
        for rank, name in enumerate(ranked, 1):
            shown = _clean(str(name))
            if shown and len(shown) <= MAX_SHOWN:
                weights[shown] += 1.0 / (rank + RANK_OFFSET)
    if not weights:
        raise ValueError("names: the names source gave no usable names")
    names = tuple(sorted(weights))
    return names, np.cumsum([weights[n] for n in names])


_active = FAKER  # the pool draw_name uses; set by drawing_from


@contextlib.contextmanager
def drawing_from(source: str):
    """Draw names from ``source``'s pool inside the block (worker processes forked inside it too)."""
    before = _active
    use(source)
    try:
        yield
    finally:
        use(before)


def use(source: str) -> None:
    """Draw names from ``source`` from now on in this process (a spawned worker's start); the pool
    is read now, so a missing package or a bad source fails before any drawing."""
    global _active
    pool(source)
    _active = source


@functools.lru_cache(maxsize=4)
def _bigram_model(source: str) -> tuple[str, np.ndarray]:
    """Character bigram counts over all pool names (accent-free), with ^ and $ as start/end."""
    names = pool(source)
    symbols = "^$" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    index = {c: i for i, c in enumerate(symbols)}
    counts = np.full((len(symbols), len(symbols)), 0.01)
    for name in names.first + names.last:
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
    symbols, cdf = _bigram_model(_active)
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


def first_name(rng: np.random.Generator) -> str:
    names = pool(_active)
    u = rng.random()
    if u < 0.04:  # compound first name, mostly hyphenated (rare: real labels are mostly one name)
        sep = "-" if rng.random() < 0.85 else " "
        return names.pick(rng, "PRENOM") + sep + names.pick(rng, "PRENOM")
    if u < 0.16:
        return _invented(rng)
    return names.pick(rng, "PRENOM")


def last_name(rng: np.random.Generator) -> str:
    names = pool(_active)
    u = rng.random()
    base = _invented(rng) if rng.random() < 0.3 else names.pick(rng, "NOM")
    if u < 0.03:
        particle = ("DE ", "DU ", "LE ", "DI ", "DA ", "EL ")[int(rng.integers(6))]
        particle = str(rng.choice(_PARTICLES, p=_PARTICLE_P)) if rng.random() < 0.7 else particle
        return particle + base
    if u < 0.045 and strip_accents(base[0]) in "AEIOUH":
        return "D'" + base
    if u < 0.06:
        return base + "-" + names.pick(rng, "NOM")
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
