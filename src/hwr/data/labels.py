"""Label CSVs (``FILENAME,IDENTITY``) and the cleaning rules, with per-reason counts.

Labels are read as plain strings: pandas would otherwise turn a real surname such as ``NA`` or
``NAN`` into a missing value. An empty IDENTITY field is what the study calls NaN.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwr.core.alphabet import MAX_LABEL_LENGTH, unknown_characters
from hwr.core.errors import HwrError

REQUIRED_COLUMNS = ("FILENAME", "IDENTITY")

# Reasons a row is dropped, in the order the rules are applied (the first that matches counts).
REASONS = ("missing", "placeholder", "empty", "unknown_characters", "too_long")


def read_labels(path: str | Path) -> pd.DataFrame:
    """Read a label CSV as strings; malformed files are one-line errors naming file and fix."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: label CSV not found; check data.raw_dir and data.csv_name in params.yaml")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise HwrError(f"{path}: not UTF-8 text ({_first_bad_byte(path)}); save the CSV as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise HwrError(f"{path}: malformed CSV ({str(exc).strip()}); expected two columns FILENAME,IDENTITY") from None
    except pd.errors.EmptyDataError:
        raise HwrError(f"{path}: empty file; expected a header FILENAME,IDENTITY") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise HwrError(
            f"{path}: no {missing[0]} column (header is {','.join(frame.columns)}); "
            "the first line must be FILENAME,IDENTITY"
        )
    frame = frame[list(REQUIRED_COLUMNS)].copy()
    frame["FILENAME"] = frame["FILENAME"].str.strip()
    return frame


def _first_bad_byte(path: Path) -> str:
    """Where the first byte that is not UTF-8 is, in the file (pandas reports an offset inside the
    chunk it was decoding, not a place a person can find)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return f"line {line}, column {column}: byte 0x{data[exc.start]:02x}"
    return "an undecodable byte"


def rows_file(path: str | Path, producer: str) -> Path:
    """``path``, a rows CSV the stage ``producer`` writes; a missing one is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path} is missing; run the {producer} stage first (dvc repro {producer})")
    return path


def read_rows(path: str | Path, producer: str) -> pd.DataFrame:
    """A rows CSV as a stage wrote it (data/interim, data/clean), every column as strings."""
    return pd.read_csv(rows_file(path, producer), dtype=str, keep_default_na=False)


@dataclass
class CleanReport:
    """What cleaning did to one split: rows in, rows kept, and dropped rows per reason."""

    rows: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    uppercased: int = 0
    examples: dict = field(default_factory=dict)  # reason -> first (CSV line, file name, label) seen

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "kept": self.kept,
            "uppercased": self.uppercased,
            "dropped": {reason: int(self.dropped.get(reason, 0)) for reason in REASONS},
        }


def clean_labels(
    frame: pd.DataFrame,
    *,
    uppercase: bool = True,
    drop_labels=("UNREADABLE",),
    empty_policy: str = "drop",
    max_length: int = MAX_LABEL_LENGTH,
) -> tuple[pd.DataFrame, CleanReport]:
    """Apply the study's rules (and ours) and count each dropped row under one reason.

    - ``missing``: empty IDENTITY (the study's NaN).
    - ``placeholder``: a label in ``drop_labels`` (the study drops ``UNREADABLE``).
    - ``empty``: the label ``EMPTY``, which marks a blank form field; dropped unless
      ``empty_policy == "keep"`` (then it is learnt as the literal word EMPTY).
    - ``unknown_characters``: a character outside the alphabet after upper-casing.
    - ``too_long``: longer than ``max_length`` (the study removed its one 34-character label).
    """
    report = CleanReport(rows=len(frame))
    keep = []
    labels = []
    placeholders = {label.upper() for label in drop_labels}
    rows = frame["row"] if "row" in frame else range(2, len(frame) + 2)  # CSV line numbers
    for row, name, raw in zip(rows, frame["FILENAME"], frame["IDENTITY"]):
        label = " ".join(raw.split()) if isinstance(raw, str) else ""  # trim, collapse spaces; NaN/None is empty
        if uppercase and label != label.upper():
            label = label.upper()
            report.uppercased += 1
        reason = None
        if not label:
            reason = "missing"
        elif label.upper() in placeholders:
            reason = "placeholder"
        elif label.upper() == "EMPTY" and empty_policy == "drop":
            reason = "empty"
        elif unknown_characters(label):
            reason = "unknown_characters"
        elif len(label) > max_length:
            reason = "too_long"
        if reason:
            report.dropped[reason] += 1
            report.examples.setdefault(reason, (row, name, raw))
            keep.append(False)
        else:
            keep.append(True)
        labels.append(label)
    cleaned = frame.assign(IDENTITY=labels)[keep].reset_index(drop=True)
    report.kept = len(cleaned)
    return cleaned, report
