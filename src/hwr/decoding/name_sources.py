"""Real names for the lexicon from maintained name data (``lexicon.sources``), so that the lexicon
decoder knows real first names and surnames even when the training labels are synthetic.

A source is written ``KIND:ARGUMENT``:

- ``names-dataset:FR``: the first names and surnames that the ``names-dataset`` package ranks for
  a country (ISO 3166 alpha-2 code; the Kaggle forms are French), weighted by rank.

Names are written as the forms' labels are: accents dropped (É -> E), upper case, then the label
rules of the clean stage (alphabet, length), every dropped name counted under its reason.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

import pandas as pd

from hwr.core.errors import HwrError
from hwr.core.name_lists import ranked_names
from hwr.data.labels import clean_labels
from hwr.params import NAME_SOURCE

# pseudo-count of the name ranked r: TOP_COUNT / r (at least 1), the Zipf shape of name frequencies;
# TOP_COUNT keeps a common name's weight in the character model near a frequent training label's
TOP_COUNT = 100


def parse_source(spec: str) -> tuple[str, str]:
    """(kind, country) of a source; anything else is a one-line error."""
    match = NAME_SOURCE.fullmatch(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise HwrError(f"lexicon.sources: {spec!r} is not a names source; use names-dataset:CC with a country "
                       "code, e.g. names-dataset:FR")
    return match["kind"], match["country"]


def as_label(name: str) -> str:
    """A name as the forms write it: no accents (É -> E, Œ stays out: the clean rules count it)."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def ranked_counts(ranked: list[str]) -> Counter:
    """Names best first -> pseudo-counts TOP_COUNT / rank (at least 1)."""
    return Counter({name: max(1, round(TOP_COUNT / rank)) for rank, name in enumerate(ranked, 1)})


def _names_dataset(country: str) -> list[list[str]]:
    """The ranked lists of ``names-dataset`` for ``country``: first names by gender, then surnames."""
    lists = ranked_names(country)
    return [*lists["first"], lists["last"]]


def read_source(spec: str, *, fetch=None, **rules) -> tuple[Counter, dict]:
    """(name -> pseudo-count, rows dropped per reason) of one source; ``rules``: the clean stage's
    label rules (:func:`hwr.data.labels.clean_labels`); ``fetch``: the ranked lists' reader (tests)."""
    _, country = parse_source(spec)  # names-dataset is the one kind so far
    lists = (fetch or _names_dataset)(country)
    counts: Counter = Counter()
    for ranked in lists:
        counts.update(ranked_counts([as_label(name) for name in ranked]))
    if not counts:
        return Counter(), {}
    frame = pd.DataFrame({"FILENAME": "", "IDENTITY": list(counts), "count": list(counts.values())})
    cleaned, report = clean_labels(frame, **rules)
    names: Counter = Counter()
    for name, count in zip(cleaned["IDENTITY"], cleaned["count"]):
        names[name] += int(count)
    return names, {reason: int(n) for reason, n in report.dropped.items() if n}
