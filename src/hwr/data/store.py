"""The on-disk tensor store of one split, and batch gathering from it.

A store is a directory:
- ``images.u8``: raw uint8 pixels, shape (N, 64, W), W = ``preprocess.width`` (256 for the study's
  crop), read by row on demand (414k images at 256 px are 6.8 GB on disk; float32 in RAM would be 27 GB);
- ``labels.npy``: int16 (N, 24), symbol indices padded with -1;
- ``index.csv``: FILENAME,IDENTITY of each row, in store order;
- ``meta.json``: shape and provenance.

Stores are built in a hidden sibling directory and renamed into place (``hwr.core.staging``), so a crash
never leaves a half-written store behind, and the next writer removes what a killed one left.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from hwr.core import staging
from hwr.core.alphabet import MAX_LABEL_LENGTH, decode, encode_many
from hwr.core.errors import HwrError
from hwr.data.images import HEIGHT, WIDTH

IMAGES = "images.u8"
LABELS = "labels.npy"
INDEX = "index.csv"
META = "meta.json"
INDEX_COLUMNS = ("FILENAME", "IDENTITY")
_RAW_LABELS = "labels.i16"  # streamed label rows, turned into labels.npy on commit


class StoreImages:
    """A store's (N, 64, W) uint8 images, indexed like an array and read from the file on demand.

    Rows are read with ``pread`` (runs of consecutive rows in one call), not through a memory map:
    a mapped file's pages count in the process's resident memory once touched, together with the
    kernel's read-around of their neighbours, so over an epoch of random batches a memmap's RSS grows
    towards the store's size (6.8 GB at 414k images). Read this way they stay in the page cache,
    outside the process, and the process's memory does not grow with the dataset."""

    def __init__(self, path: Path, count: int, width: int = WIDTH):
        self.path = Path(path)
        self.shape = (count, HEIGHT, width)
        self.dtype = np.dtype(np.uint8)
        self._fd: int | None = None
        self._pid = None

    def __len__(self) -> int:
        return self.shape[0]

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        indices = np.asarray(key)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        indices = indices.astype(np.int64, copy=False).reshape(-1)
        n = len(self)
        indices = np.where(indices < 0, indices + n, indices)
        if len(indices) and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"{self.path}: row index out of range for {n} images")
        order = np.argsort(indices, kind="stable")  # read front to back
        rows = indices[order]
        buffer = np.empty((len(rows), *self.shape[1:]), np.uint8)
        row_bytes = HEIGHT * self.shape[2]
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)  # where a run of consecutive rows begins
        ends = np.append(starts[1:], len(rows))
        fd = self._descriptor() if len(rows) else None
        for start, end in zip(starts.tolist(), ends.tolist()):
            view = memoryview(buffer[start:end]).cast("B")
            got = os.preadv(fd, [view], int(rows[start]) * row_bytes)
            if got != len(view):
                raise HwrError(f"{self.path}: truncated store (short read at row {rows[start]}); re-run preprocess")
        if np.all(order[1:] > order[:-1]):  # asked in file order already (evaluation): no reordering
            return buffer
        out = np.empty_like(buffer)
        out[order] = buffer
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[np.arange(len(self))]
        return whole if dtype is None else whole.astype(dtype)

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __del__(self):
        self.close()


class Store:
    """A split loaded for reading. Per-row text is read only when asked for: the filenames and
    texts from ``index.csv`` on first use (evaluation), or the texts of some rows decoded from their
    labels (``texts_of``; training), so a training process holds no per-row Python strings (at
    420,000 rows, parsing the index and keeping its two columns raised peak memory by ~150 MB)."""

    def __init__(self, path: Path, images: StoreImages, labels: np.ndarray, meta: dict):
        self.path = Path(path)
        self.images = images  # (N, 64, W) uint8, read on demand
        self.labels = labels  # (N, 24) int16
        self.meta = meta
        self._index: tuple[list[str], list[str]] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def texts(self) -> list[str]:
        return self._read_index()[1]

    @property
    def filenames(self) -> list[str]:
        return self._read_index()[0]

    def texts_of(self, idx) -> list[str]:
        """The texts of rows ``idx``, decoded from their labels: preprocess writes both from the same
        name and the encoding is exact, so they are the index's texts (a test holds it to that)."""
        return [decode(row) for row in self.labels[np.asarray(idx, dtype=np.int64)]]

    def _read_index(self) -> tuple[list[str], list[str]]:
        if self._index is None:
            index = pd.read_csv(self.path / INDEX, dtype=str, keep_default_na=False)
            if len(index) != len(self):
                raise HwrError(f"{self.path}: store is inconsistent ({len(self)} images, {len(index)} index rows); "
                               "re-run preprocess")
            self._index = index["FILENAME"].tolist(), index["IDENTITY"].tolist()
            del index
        return self._index


def open_store(path: str | Path) -> Store:
    path = Path(path)
    meta_path = path / META
    if not meta_path.is_file():
        raise HwrError(f"{path}: no preprocessed split here; run `dvc repro preprocess` first")
    meta = json.loads(meta_path.read_text())
    n = int(meta["count"])
    width = int(meta.get("shape", (n, HEIGHT, WIDTH))[2])
    if (path / IMAGES).stat().st_size < n * HEIGHT * width:
        raise HwrError(f"{path}: {IMAGES} is shorter than {n} images; re-run preprocess")
    images = StoreImages(path / IMAGES, n, width)
    labels = np.load(path / LABELS)
    if len(labels) != n:
        raise HwrError(f"{path}: store is inconsistent ({n} images, {len(labels)} labels); re-run preprocess")
    if not (path / INDEX).is_file():
        raise HwrError(f"{path}: {INDEX} is missing; re-run preprocess")
    return Store(path, images, labels, meta)


def check_store_width(store: Store, width: int, reader: str) -> None:
    """A one-line error when ``store``'s crops are narrower than the ``width`` ``reader`` reads."""
    if store.images.shape[2] < width:
        raise HwrError(f"{store.path}: its crops are {store.images.shape[2]} px wide, {reader} reads {width}; "
                       f"set preprocess.width to at least {width} and re-run preprocess (dvc repro)")


def write_rows(fd: int, images: np.ndarray, first_row: int) -> None:
    """Write (k, 64, W) uint8 images into an images file of W-wide rows at row ``first_row``
    (``pwrite``: several processes may each write their own rows of one file)."""
    data = memoryview(np.ascontiguousarray(images, dtype=np.uint8)).cast("B")
    offset = first_row * HEIGHT * images.shape[2]
    while len(data):
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done


class StoreWriter:
    """Writes a store into a temporary directory; ``commit`` renames it into place.

    Images are appended in order (at most ``capacity`` rows, when given); skipped images leave no
    gap. They are written with ``pwrite``, not into a writable memmap: a memmap's written pages would
    stay mapped into this process until it ends, so its resident memory would grow with the store
    (6.8 GB at 414k images); written this way they are ordinary page cache, outside the process.
    Other processes may write rows into ``images_path`` themselves (``write_rows``), which the
    writer then takes over with ``take_written``. Labels and index rows can be streamed the same
    way (``add_rows``), so a writer's memory does not grow with the number of rows; or given all at
    once to ``commit``.
    """

    def __init__(self, path: str | Path, capacity: int | None = None, width: int = WIDTH):
        self.path = Path(path)
        self.width = width  # of every row: HEIGHT x width pixels
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._outputs = staging.Outputs(self.path).prepare()
        self.tmp = self._outputs[self.path]
        self.tmp.mkdir()
        self.capacity = capacity
        self.count = 0  # images written
        self.rows = 0  # labels and index rows written
        self.images_path = self.tmp / IMAGES
        self._images = os.open(self.images_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        self._labels = open(self.tmp / _RAW_LABELS, "wb")
        self._index = open(self.tmp / INDEX, "w", newline="", encoding="utf-8")
        self._index.write(",".join(INDEX_COLUMNS) + "\n")

    def _check_room(self, k: int, shape: tuple) -> None:
        if (self.capacity is not None and self.count + k > self.capacity) or shape[1:] != (HEIGHT, self.width):
            raise ValueError(f"cannot append {shape} images: capacity {self.capacity}, "
                             f"{self.count} written, rows must be {HEIGHT}x{self.width}")

    def append(self, images: np.ndarray) -> None:
        k = len(images)
        if k:
            self._check_room(k, images.shape)
            write_rows(self._images, images, self.count)
            self.count += k

    def take_written(self, kept: np.ndarray) -> None:
        """Rows ``count`` .. ``count + len(kept)`` of ``images_path`` were written by others; keep
        those ``kept`` marks, in order (the rest, e.g. images that failed to decode, are dropped by
        moving the later rows down)."""
        kept = np.asarray(kept, dtype=bool)
        self._check_room(int(kept.sum()), (len(kept), HEIGHT, self.width))
        row_bytes = HEIGHT * self.width
        if not kept.all():  # rare (undecodable images): moved row by row
            for destination, row in enumerate((np.flatnonzero(kept) + self.count).tolist(), start=self.count):
                if row != destination:
                    os.pwrite(self._images, os.pread(self._images, row_bytes, row * row_bytes), destination * row_bytes)
        self.count += int(kept.sum())

    def add_rows(self, labels: np.ndarray, index: pd.DataFrame) -> None:
        """Append encoded labels (k, 24) and their FILENAME, IDENTITY rows, in image order."""
        if len(labels) != len(index) or labels.ndim != 2 or labels.shape[1] != MAX_LABEL_LENGTH:
            raise ValueError(f"labels {labels.shape} and {len(index)} index rows do not match")
        self._labels.write(np.ascontiguousarray(labels, dtype="<i2").data)
        index[list(INDEX_COLUMNS)].to_csv(self._index, header=False, index=False)
        self.rows += len(labels)

    def commit(self, labels: np.ndarray | None = None, index: pd.DataFrame | None = None,
               meta: dict | None = None) -> None:
        if labels is not None or index is not None:
            self.add_rows(labels, index)
        if self.rows != self.count:
            raise ValueError(f"labels and index must match the images written ({self.rows} rows, {self.count} images)")
        os.ftruncate(self._images, self.count * HEIGHT * self.width)  # rows dropped at the end leave no tail
        self._close()
        # labels.npy = a header for (rows, 24) int16, then the streamed bytes as they are
        with open(self.tmp / LABELS, "wb") as out, open(self.tmp / _RAW_LABELS, "rb") as raw:
            np.lib.format.write_array_header_1_0(
                out, {"descr": "<i2", "fortran_order": False, "shape": (self.rows, MAX_LABEL_LENGTH)})
            shutil.copyfileobj(raw, out)
        (self.tmp / _RAW_LABELS).unlink()
        (self.tmp / META).write_text(json.dumps({**(meta or {}), "count": self.count,
                                                 "shape": [self.count, HEIGHT, self.width]}, indent=2))
        self._outputs.publish()

    def _close(self) -> None:
        if self._images is not None:
            os.close(self._images)
            self._images = None
        self._labels.close()
        self._index.close()

    def abort(self) -> None:
        self._close()
        self._outputs.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or self.tmp.exists():
            self.abort()
        return False


def gather(store: Store, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A batch by index array: images (B, 64, W) uint8 and labels (B, 24), in the order asked."""
    return store.images[indices], store.labels[indices]


def select(n_available: int, n_wanted: int, seed: int) -> np.ndarray:
    """A seeded random subset of row indices. The same seed gives nested subsets: the first 64,000
    of one permutation are inside the first 300,800, as 'first' is a part of 'full'."""
    permutation = np.random.default_rng(seed).permutation(n_available)
    return np.sort(permutation[: min(n_wanted, n_available)])


@dataclass(frozen=True)
class Part:
    """Rows of a store to put in a mix: all of them or ``rows``, ``repeat`` times, with their own
    labels or ``texts`` (one per row: pseudo-labels of unlabelled images)."""

    store: Store
    repeat: int = 1
    rows: np.ndarray | None = None
    texts: Sequence[str] | None = None


COPY_ROWS = 1024  # rows copied at a time by concat: 16 MB of images


def concat(parts: Sequence[Part | tuple[Store, int]], out: str | Path) -> Store:
    """One store holding each part's rows, each part ``repeat`` times, in order: how real and
    synthetic (and pseudo-labelled) images are mixed at a chosen ratio. A (store, repeat) pair is
    a part of all its rows. Images are copied a block at a time, so memory does not grow with the
    stores. Every part must have been prepared with the same resize mode and width."""
    parts = [p if isinstance(p, Part) else Part(*p) for p in parts]
    modes = {p.store.meta.get("resize", "crop") for p in parts}
    if len(modes) > 1:
        raise HwrError(f"cannot mix stores prepared with different resize modes ({', '.join(sorted(modes))}): "
                       + ", ".join(str(p.store.path) for p in parts))
    widths = {p.store.images.shape[2] for p in parts}
    if len(widths) > 1:
        raise HwrError(f"cannot mix stores of different widths ({', '.join(map(str, sorted(widths)))} px; "
                       "preprocess.width): " + ", ".join(str(p.store.path) for p in parts))
    chosen = [np.arange(len(p.store)) if p.rows is None else np.asarray(p.rows, dtype=np.int64) for p in parts]
    total = sum(len(rows) * p.repeat for p, rows in zip(parts, chosen))
    with StoreWriter(out, total, widths.pop() if widths else WIDTH) as writer:
        for part, rows in zip(parts, chosen):
            filenames = np.asarray(part.store.filenames, dtype=object)[rows]
            if part.texts is None:
                texts, labels = np.asarray(part.store.texts, dtype=object)[rows], part.store.labels[rows]
            else:
                if len(part.texts) != len(rows):
                    raise ValueError(f"{len(part.texts)} texts for {len(rows)} rows of {part.store.path}")
                texts, labels = np.asarray(part.texts, dtype=object), encode_many(list(part.texts))
            index = pd.DataFrame({"FILENAME": filenames, "IDENTITY": texts})
            for _ in range(part.repeat):
                for start in range(0, len(rows), COPY_ROWS):
                    writer.append(part.store.images[rows[start : start + COPY_ROWS]])
                writer.add_rows(labels, index)
        writer.commit(meta={"resize": modes.pop() if modes else "crop",
                            "sources": [str(p.store.path) for p in parts]})
    return open_store(out)
