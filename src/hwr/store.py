"""The on-disk tensor store of one split, and batch gathering from it.

A store is a directory:
- ``images.u8``: raw uint8 pixels, shape (N, 64, 256), memory-mapped (414k images are 6.8 GB on
  disk and cost no RAM until touched; float32 would be 27 GB);
- ``labels.npy``: int16 (N, 24), symbol indices padded with -1;
- ``index.csv``: FILENAME,IDENTITY of each row, in store order;
- ``meta.json``: shape and provenance.

Stores are built in a temporary sibling directory and renamed into place, so a crash never leaves
a half-written store behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hwr.errors import HwrError
from hwr.images import HEIGHT, WIDTH

IMAGES = "images.u8"
LABELS = "labels.npy"
INDEX = "index.csv"
META = "meta.json"


@dataclass
class Store:
    """A split loaded for reading: images are a read-only memmap."""

    path: Path
    images: np.ndarray  # (N, 64, 256) uint8 memmap
    labels: np.ndarray  # (N, 24) int16
    texts: list[str]
    filenames: list[str]
    meta: dict

    def __len__(self) -> int:
        return len(self.labels)


def open_store(path: str | Path) -> Store:
    path = Path(path)
    meta_path = path / META
    if not meta_path.is_file():
        raise HwrError(f"{path}: no preprocessed split here; run `dvc repro preprocess` first")
    meta = json.loads(meta_path.read_text())
    n = int(meta["count"])
    images = (
        np.memmap(path / IMAGES, dtype=np.uint8, mode="r", shape=(n, HEIGHT, WIDTH))
        if n
        else np.zeros((0, HEIGHT, WIDTH), np.uint8)
    )
    labels = np.load(path / LABELS)
    index = pd.read_csv(path / INDEX, dtype=str, keep_default_na=False)
    if len(labels) != n or len(index) != n:
        raise HwrError(f"{path}: store is inconsistent ({n} images, {len(labels)} labels); re-run preprocess")
    return Store(path, images, labels, index["IDENTITY"].tolist(), index["FILENAME"].tolist(), meta)


class StoreWriter:
    """Writes a store into a temporary directory; ``commit`` renames it into place.

    Images are appended in order with plain sequential file writes (at most ``capacity`` rows);
    skipped images leave no gap. Not a writable memmap: its written pages would stay mapped into
    this process until it ends, so its resident memory would grow with the store (6.8 GB at 414k
    images); written through ``write`` they are ordinary page cache, outside the process.
    """

    def __init__(self, path: str | Path, capacity: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.capacity = capacity
        self.count = 0
        self._file = open(self.tmp / IMAGES, "wb")

    def append(self, images: np.ndarray) -> None:
        k = len(images)
        if k:
            if self.count + k > self.capacity or images.shape[1:] != (HEIGHT, WIDTH):
                raise ValueError(f"cannot append {images.shape} images: capacity {self.capacity}, "
                                 f"{self.count} written, rows must be {HEIGHT}x{WIDTH}")
            self._file.write(np.ascontiguousarray(images, dtype=np.uint8).data)
            self.count += k

    def commit(self, labels: np.ndarray, index: pd.DataFrame, meta: dict) -> None:
        if len(labels) != self.count or len(index) != self.count:
            raise ValueError("labels and index must match the images written")
        self._file.close()
        np.save(self.tmp / LABELS, labels.astype(np.int16))
        index.to_csv(self.tmp / INDEX, index=False)
        (self.tmp / META).write_text(json.dumps({**meta, "count": self.count, "shape": [self.count, HEIGHT, WIDTH]}, indent=2))
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or self.tmp.exists():
            self.abort()
        return False


def gather(store: Store, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A batch by index array: images (B, 64, 256) uint8 and labels (B, 24).

    Indices are sorted before reading so the memmap is read front to back (page-cache friendly),
    then put back in the requested order."""
    order = np.argsort(indices, kind="stable")
    sorted_idx = indices[order]
    images = np.empty((len(indices), HEIGHT, WIDTH), np.uint8)
    images[order] = store.images[sorted_idx]
    return images, store.labels[indices]
