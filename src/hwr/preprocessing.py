"""Decode a split's images straight from its zip, in parallel processes, into a tensor store."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from hwr import workers
from hwr.alphabet import encode_many
from hwr.archive import read_entry
from hwr.dataset import index_split
from hwr.images import HEIGHT, WIDTH, UndecodableImage, to_model_input
from hwr.labels import clean_labels
from hwr.store import Store, StoreWriter, open_store, write_rows

log = logging.getLogger(__name__)
CHUNK = 256  # images per task sent to a worker
ROWS_PER_CHUNK = 4096  # rows read from a CSV at a time (a small split is then one full chunk or more)

_worker_file = None
_worker_images = None
_worker_resize = "crop"


def _init_worker(zip_path: str, images_path: str, resize: str) -> None:
    global _worker_file, _worker_images, _worker_resize
    # a plain file handle, not a ZipFile: entries are read at known offsets, so a worker never
    # loads the zip's directory (about 600 bytes an entry) and its memory stays flat
    _worker_file = open(zip_path, "rb")
    _worker_images = os.open(images_path, os.O_WRONLY)
    _worker_resize = resize


def _close_worker_files() -> None:
    global _worker_file, _worker_images
    if _worker_file is not None:
        _worker_file.close()
        os.close(_worker_images)
        _worker_file = _worker_images = None


def _decode_chunk(task: tuple[np.ndarray, int]) -> list[tuple[int, str]]:
    """Decode a chunk of (offset, size, method) entries and write the images into the store's
    images file from row ``first_row`` on, each at its own row (a failure's row holds junk, which
    the parent drops); returns the (position, reason) of each failure.

    Workers write the pixels themselves: sent back through the pool's pipe, every image would be
    pickled, copied three times and written by the one parent process, which then became the
    bottleneck (0.6 s of its CPU for 10,500 images, against 0.9 s of decoding in the two workers)."""
    entries, first_row = task
    out = np.empty((len(entries), HEIGHT, WIDTH), np.uint8)
    failures = []
    for position, (offset, size, method) in enumerate(entries.tolist()):
        try:
            out[position] = to_model_input(read_entry(_worker_file, offset, size, method), _worker_resize)
        except (UndecodableImage, zipfile.BadZipFile, zlib.error, OSError) as exc:
            failures.append((position, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    write_rows(_worker_images, out, first_row)
    return failures


def _locations(rows: pd.DataFrame, directory: Callable[[], zipfile.ZipFile]) -> np.ndarray:
    """(N, 3) int64 (offset, size, method) per row: from the row's columns when the unzip stage
    recorded them, else looked up in the zip's ``directory()``. An array, not a list of tuples: 24
    bytes a row, so the task list stays small for 400k images."""
    columns = ["offset", "size", "method"]
    if set(columns) <= set(rows.columns):
        return rows[columns].astype("int64").to_numpy().reshape(-1, 3)
    infos = [directory().getinfo(m) for m in rows["member"]]
    return np.array([(i.header_offset, i.compress_size, i.compress_type if not i.flag_bits & 0x1 else -1)
                     for i in infos], dtype=np.int64).reshape(-1, 3)


def resolve_jobs(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def rows_in_chunks(csv_path: str | Path, chunksize: int = ROWS_PER_CHUNK) -> tuple[Iterator[pd.DataFrame], int]:
    """A rows CSV (as the clean stage writes it) read lazily in chunks, and its number of rows:
    ``preprocess_split`` then holds one chunk at a time, whatever the size of the split."""
    with open(csv_path, "rb") as f:
        total = max(0, sum(1 for _ in f) - 1)
    return pd.read_csv(csv_path, dtype=str, keep_default_na=False, chunksize=chunksize), total


def _blocks(rows: pd.DataFrame | Iterable[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """Rows in blocks of at most ``size``: whatever the caller's chunking, the work list of one
    block is all that is ever queued to the workers."""
    for frame in [rows] if isinstance(rows, pd.DataFrame) else rows:
        for start in range(0, len(frame), size):
            yield frame.iloc[start : start + size]


def preprocess_split(
    zip_path: str,
    rows: pd.DataFrame | Iterable[pd.DataFrame],
    out_dir: str,
    *,
    resize: str = "crop",
    jobs: int = 0,
    desc: str = "preprocess",
    total: int | None = None,
) -> dict:
    """Decode ``rows`` (FILENAME, IDENTITY, member [, offset, size, method]) from ``zip_path`` into
    a store at ``out_dir``.

    ``rows`` is a DataFrame, or an iterable of DataFrames (e.g. ``pd.read_csv(..., chunksize=)``):
    then only one chunk of rows is in memory at a time, and memory stays flat however large the
    split (``total``, when known, sizes the progress bar). Undecodable images are skipped and
    counted; the report names the first few."""
    if total is None and isinstance(rows, pd.DataFrame):
        total = len(rows)
    jobs = resolve_jobs(jobs)
    n_rows, written, skipped = 0, 0, []
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(StoreWriter(out_dir))
        init_args = (zip_path, str(writer.images_path), resize)
        if jobs == 1:
            _init_worker(*init_args)
            stack.callback(_close_worker_files)
            decode = lambda tasks: map(_decode_chunk, tasks)  # noqa: E731
        else:  # started before the progress bar: no bar thread is running when the workers fork
            pool = stack.enter_context(workers.pool(jobs, _init_worker, init_args))
            decode = lambda tasks: pool.imap(_decode_chunk, tasks)  # noqa: E731
        # rows without recorded locations: the zip's directory is read once for the whole split, when
        # first needed (not per block: at 400k entries one read takes seconds)
        directory = functools.cache(lambda: stack.enter_context(zipfile.ZipFile(zip_path)))
        bar = stack.enter_context(tqdm(total=total, desc=desc, unit="img", disable=None))
        for block in _blocks(rows, CHUNK * jobs * 8):
            locations = _locations(block, directory)
            starts, first_row = range(0, len(locations), CHUNK), writer.count
            kept = np.ones(len(block), bool)
            for start, failures in zip(starts, decode([(locations[i : i + CHUNK], first_row + i) for i in starts])):
                for position, reason in failures:
                    kept[start + position] = False
                    skipped.append({"file": block["FILENAME"].iloc[start + position], "reason": reason})
                bar.update(min(CHUNK, len(block) - start))
            writer.take_written(kept)
            good = block[kept]
            writer.add_rows(encode_many(good["IDENTITY"].tolist()), good)
            n_rows += len(block)
            written += int(kept.sum())
            del skipped[10:]  # a few examples are reported, the count is kept apart
        writer.commit(meta={"resize": resize, "source": str(zip_path)})
    n_skipped = n_rows - written
    for item in skipped[:5]:
        log.warning("%s: skipped %s: undecodable image (%s)", zip_path, item["file"], item["reason"])
    return {"rows": n_rows, "written": written, "skipped_undecodable": n_skipped,
            "skipped_examples": [s["file"] for s in skipped[:10]]}


def build_store(zip_path: str | Path, csv_path: str | Path, out_dir: str | Path, *, resize: str = "crop",
                jobs: int = 0, desc: str = "preprocess") -> Store:
    """One split in the Kaggle layout (its zip and label CSV) as the unzip, clean (default rules)
    and preprocess stages make it, in one call, opened: for benchmarks and experiments."""
    rows, _ = index_split(Path(zip_path), Path(csv_path))
    rows, _ = clean_labels(rows)
    preprocess_split(str(zip_path), rows, str(out_dir), resize=resize, jobs=jobs, desc=desc)
    return open_store(out_dir)
