"""Pairing a split's label CSV with its zip: which listed images exist, which are extra."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from hwr.data.archive import LOCATION_COLUMNS, locate_images
from hwr.data.labels import read_labels

log = logging.getLogger(__name__)


def index_split(zip_path: Path, csv_path: Path) -> tuple[pd.DataFrame, dict]:
    """Rows of the CSV whose image is in the zip, with the CSV line number, the zip member, where
    its bytes lie and what they must be (offset, size, method, crc, file_size: see
    :class:`hwr.data.archive.Entry`).

    Images listed but absent, images present but not listed, and repeated CSV rows are counted
    (with a few examples) rather than fatal: a partial download still trains. Of a repeated
    FILENAME the first row is kept; repeats that give the image another label are counted apart."""
    members = locate_images(zip_path)
    labels = read_labels(csv_path)
    labels.insert(0, "row", range(2, len(labels) + 2))  # line number in the CSV (line 1 is the header)
    repeated = labels["FILENAME"].duplicated(keep="first")
    kept_label = labels[~repeated].set_index("FILENAME")["IDENTITY"]
    repeats = labels[repeated]
    conflicting = repeats[repeats["IDENTITY"].to_numpy() != repeats["FILENAME"].map(kept_label).to_numpy()]
    first_line = labels[~repeated].set_index("FILENAME")["row"]
    conflict_examples = [f"{name}: line {first_line[name]} {kept_label[name]!r}, line {row} {label!r}"
                         for name, row, label in conflicting[["FILENAME", "row", "IDENTITY"]].head(3).itertuples(index=False)]
    labels = labels[~repeated]
    located = labels["FILENAME"].map(members)
    absent = located.isna()
    labels["member"] = located.map(lambda e: e.member, na_action="ignore")
    for column in LOCATION_COLUMNS:
        labels[column] = located.map(lambda e, c=column: getattr(e, c), na_action="ignore")
    listed = set(labels["FILENAME"])
    extra = sorted(name for name in members if name not in listed)
    found = labels[~absent].reset_index(drop=True)
    found = found.astype(dict.fromkeys(LOCATION_COLUMNS, "int64"))
    report = {
        "csv_rows": int(len(labels) + repeated.sum()),
        "zip_images": len(members),
        "found": len(found),
        "missing_images": int(absent.sum()),
        "unlisted_images": len(extra),
        "repeated_rows": int(repeated.sum()),
        "repeated_with_another_label": len(conflicting),  # the same image, labelled twice differently
        "repeated_examples": repeats["FILENAME"].head(5).tolist(),
        "conflict_examples": conflict_examples,
        "missing_examples": labels.loc[absent, "FILENAME"].head(5).tolist(),
        "unlisted_examples": extra[:5],
    }
    return found[["row", "FILENAME", "IDENTITY", "member", *LOCATION_COLUMNS]], report
