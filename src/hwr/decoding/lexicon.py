"""The lexicon of names and the character language model that lexicon decoding reads.

A lexicon folder holds ``names.csv`` (``IDENTITY,count``: every known name and how many labels
spell it, most frequent first) and ``chars.arpa`` (:mod:`hwr.decoding.charlm`, built from the same counts).
It is built from the cleaned *training* labels, plus an optional user file of names (a CSV with an
``IDENTITY`` column and an optional ``count`` column, e.g. the labels of other forms); validation
and test labels never go in, so measuring on them stays honest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from hwr.core.errors import HwrError
from hwr.core.files import write_csv
from hwr.data.labels import clean_labels
from hwr.decoding.charlm import write_arpa

NAMES_FILE = "names.csv"
LM_FILE = "chars.arpa"


def read_extra_names(path: str | Path, **rules) -> tuple[Counter, dict]:
    """Names of a user file (``IDENTITY`` column, optional positive integer ``count``), cleaned by
    the label rules (``rules``: :func:`hwr.data.labels.clean_labels`' options); returns (name counts,
    rows skipped per reason, only the reasons that occurred)."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: lexicon.extra names file not found; give a CSV with an IDENTITY column")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise HwrError(f"{path}: not a readable UTF-8 CSV ({str(exc).strip().splitlines()[0]}); "
                       "expected a header with IDENTITY (and optionally count)") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if "IDENTITY" not in frame.columns:
        raise HwrError(f"{path}: no IDENTITY column (header is {','.join(frame.columns)}); "
                       "the names must be in a column named IDENTITY")
    if frame.empty:  # a header only, like the default configs/extra-names.csv
        return Counter(), {}
    counts = pd.Series(1, index=frame.index)
    if "count" in frame.columns:
        counts = pd.to_numeric(frame["count"].str.strip(), errors="coerce")
        bad = counts.isna() | (counts < 1) | (counts != counts.round())
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise HwrError(f"{path}: line {row + 2}: count {frame['count'].iloc[row]!r} is not a positive "
                           "integer; fix it or drop the count column")
        counts = counts.astype(int)
    rows = pd.DataFrame({"FILENAME": "", "IDENTITY": frame["IDENTITY"], "count": counts,
                         "row": range(2, len(frame) + 2)})
    cleaned, report = clean_labels(rows, **rules)
    names: Counter = Counter()
    for name, count in zip(cleaned["IDENTITY"], cleaned["count"]):
        names[name] += int(count)
    return names, {reason: int(n) for reason, n in report.dropped.items() if n}


def build_names(train_labels: Iterable[str], extra: Counter | None = None) -> Counter:
    """Name counts of the training labels, plus the extra names' counts."""
    names = Counter(train_labels)
    names.update(extra or Counter())
    return names


def write_lexicon(out_dir: str | Path, names: Counter, order: int) -> None:
    """``names.csv`` (most frequent first, then alphabetical) and the character model."""
    out_dir = Path(out_dir)
    ranked = sorted(names.items(), key=lambda item: (-item[1], item[0]))
    write_csv(out_dir / NAMES_FILE, pd.DataFrame(ranked, columns=["IDENTITY", "count"]))
    write_arpa(out_dir / LM_FILE, ranked, order)


@dataclass(frozen=True)
class Lexicon:
    """The known names and every prefix of them (what the lexicon bonus walks through)."""

    names: frozenset
    prefixes: frozenset

    @classmethod
    def of(cls, names: Iterable[str]) -> "Lexicon":
        names = frozenset(names)
        return cls(names, frozenset(name[:i] for name in names for i in range(len(name) + 1)))

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.names)

    def oov_rate(self, labels: Iterable[str]) -> float | None:
        """Share of ``labels`` (rows, not distinct names) that are not in the lexicon."""
        labels = list(labels)
        return sum(label not in self.names for label in labels) / len(labels) if labels else None


def _lexicon_paths(lexicon_dir: str | Path) -> tuple[Path, Path]:
    return Path(lexicon_dir) / NAMES_FILE, Path(lexicon_dir) / LM_FILE


def lexicon_built(lexicon_dir: str | Path) -> bool:
    """Whether the lexicon stage's files are all in ``lexicon_dir``."""
    return all(path.is_file() for path in _lexicon_paths(lexicon_dir))


def lexicon_files(lexicon_dir: str | Path) -> tuple[Path, Path]:
    """(names.csv, chars.arpa) of a lexicon folder; a missing one is a one-line error."""
    paths = _lexicon_paths(lexicon_dir)
    for path in paths:
        if not path.is_file():
            raise HwrError(f"{path} is missing; build the lexicon first (dvc repro lexicon)")
    return paths


def load_lexicon(lexicon_dir: str | Path) -> Lexicon:
    names_path, _ = lexicon_files(lexicon_dir)
    frame = pd.read_csv(names_path, dtype={"IDENTITY": str}, keep_default_na=False, na_filter=False)
    return Lexicon.of(frame["IDENTITY"])
