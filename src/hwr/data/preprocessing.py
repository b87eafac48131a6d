"""Decode a split's images straight from its zip, in parallel processes, into a tensor store.

An image that cannot be used is skipped, and each skip is logged with its file and reason and
counted by reason (:data:`SKIP_REASONS`); every worker's memory stays bounded whatever the input
(an entry's inflated size and an image's pixels are both capped before the work is done)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from hwr.core import workers
from hwr.core.alphabet import encode_many
from hwr.data.archive import LOCATION_COLUMNS, DamagedEntry, EntryTooLarge, read_entry
from hwr.data.images import HEIGHT, WIDTH, UndecodableImage, to_model_input
from hwr.data.labels import clean_labels
from hwr.data.splits import index_split
from hwr.data.store import Store, StoreWriter, open_store, select, write_rows
from hwr.params import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_PIXELS

log = logging.getLogger(__name__)
CHUNK = 256  # images per task sent to a worker
ROWS_PER_CHUNK = 4096  # rows read from a CSV at a time (a small split is then one full chunk or more)
EXAMPLES = 10  # skipped files named in the report (all are logged)
# Why an image is skipped (the exceptions' ``reason``), in the order metrics/preprocess.json lists them
SKIP_REASONS = {
    "damaged_entry": "damaged zip entry",  # its bytes disagree with the zip's directory (CRC-32, size)
    "too_large": "zip entry too large",  # preprocess.max_image_bytes
    "too_many_pixels": "too many pixels",  # preprocess.max_pixels
    "damaged": "damaged JPEG",  # libjpeg reports corrupt data (kept if preprocess.keep_damaged)
    "undecodable": "undecodable image",
}

_worker_file = None
_worker_images = None
_worker_options: dict = {}


def _init_worker(zip_path: str, images_path: str, options: dict) -> None:
    global _worker_file, _worker_images, _worker_options
    # a plain file handle, not a ZipFile: entries are read at known offsets, so a worker never
    # loads the zip's directory (about 600 bytes an entry) and its memory stays flat
    _worker_file = open(zip_path, "rb")
    _worker_images = os.open(images_path, os.O_WRONLY)
    _worker_options = options


def _close_worker_files() -> None:
    global _worker_file, _worker_images
    if _worker_file is not None:
        _worker_file.close()
        os.close(_worker_images)
        _worker_file = _worker_images = None


def _decode_one(location: list[int]) -> np.ndarray:
    o = _worker_options
    data = read_entry(_worker_file, ("", *location), o["max_image_bytes"])
    return to_model_input(data, o["resize"], width=o["width"], max_pixels=o["max_pixels"],
                          keep_damaged=o["keep_damaged"])


def _decode_chunk(task: tuple[np.ndarray, int]) -> list[tuple[int, str, str]]:
    """Decode a chunk of entries (rows of :data:`LOCATION_COLUMNS`) and write the images into the
    store's images file from row ``first_row`` on, each at its own row (a failure's row holds junk,
    which the parent drops); returns the (position, reason, detail) of each failure.

    Workers write the pixels themselves: sent back through the pool's pipe, every image would be
    pickled, copied three times and written by the one parent process, which then became the
    bottleneck (0.6 s of its CPU for 10,500 images, against 0.9 s of decoding in the two workers)."""
    entries, first_row = task
    out = np.empty((len(entries), HEIGHT, _worker_options["width"]), np.uint8)
    failures = []
    for position, location in enumerate(entries.tolist()):
        try:
            out[position] = _decode_one(location)
        except (UndecodableImage, DamagedEntry, EntryTooLarge) as exc:
            limit = " (preprocess.max_pixels)" if exc.reason == "too_many_pixels" else ""  # the setting to raise
            failures.append((position, exc.reason, _first_line(exc) + limit))
        except OSError as exc:  # the zip itself went unreadable (e.g. replaced or on a failing disk)
            failures.append((position, "damaged_entry", _first_line(exc)))
    write_rows(_worker_images, out, first_row)
    return failures


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _locations(rows: pd.DataFrame, directory: Callable[[], zipfile.ZipFile]) -> np.ndarray:
    """(N, 5) int64 :data:`LOCATION_COLUMNS` per row: from the row's columns when the unzip stage
    recorded them, else looked up in the zip's ``directory()``. An array, not a list of tuples: 40
    bytes a row, so the task list stays small for 400k images."""
    if set(LOCATION_COLUMNS) <= set(rows.columns):
        return rows[LOCATION_COLUMNS].astype("int64").to_numpy().reshape(-1, len(LOCATION_COLUMNS))
    infos = [directory().getinfo(m) for m in rows["member"]]
    return np.array([(i.header_offset, i.compress_size, i.compress_type if not i.flag_bits & 0x1 else -1, i.CRC,
                      i.file_size) for i in infos], dtype=np.int64).reshape(-1, len(LOCATION_COLUMNS))


def resolve_jobs(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def rows_in_chunks(csv_path: str | Path, chunksize: int = ROWS_PER_CHUNK) -> tuple[Iterator[pd.DataFrame], int]:
    """A rows CSV (as the clean stage writes it) read lazily in chunks, and its number of rows:
    ``preprocess_split`` then holds one chunk at a time, whatever the size of the split."""
    return pd.read_csv(csv_path, dtype=str, keep_default_na=False, chunksize=chunksize), count_rows(csv_path)


def count_rows(csv_path: str | Path) -> int:
    """The rows of a rows CSV (its lines after the header), without parsing it."""
    with open(csv_path, "rb") as f:
        return max(0, sum(1 for _ in f) - 1)


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
    width: int = WIDTH,
    jobs: int = 0,
    desc: str = "preprocess",
    total: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    keep_damaged: bool = False,
) -> dict:
    """Decode ``rows`` (FILENAME, IDENTITY, member [, :data:`LOCATION_COLUMNS`]) from ``zip_path``
    into a store at ``out_dir``.

    ``rows`` is a DataFrame, or an iterable of DataFrames (e.g. ``pd.read_csv(..., chunksize=)``):
    then only one chunk of rows is in memory at a time, and memory stays flat however large the
    split (``total``, when known, sizes the progress bar). An image that cannot be used is skipped:
    each is logged (file and reason) and counted under its reason (:data:`SKIP_REASONS`); the
    report names the first few. ``max_pixels``, ``max_image_bytes`` and ``keep_damaged``: see
    :func:`hwr.data.images.to_model_input` and :func:`hwr.data.archive.read_entry`."""
    if total is None and isinstance(rows, pd.DataFrame):
        total = len(rows)
    jobs = resolve_jobs(jobs)
    options = {"resize": resize, "width": width, "max_pixels": max_pixels, "max_image_bytes": max_image_bytes,
               "keep_damaged": keep_damaged}
    n_rows, written = 0, 0
    counts = dict.fromkeys(SKIP_REASONS, 0)
    examples: list[dict] = []
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(StoreWriter(out_dir, width=width))
        init_args = (zip_path, str(writer.images_path), options)
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
                for position, reason, detail in failures:
                    kept[start + position] = False
                    name = block["FILENAME"].iloc[start + position]
                    counts[reason] += 1
                    if len(examples) < EXAMPLES:
                        examples.append({"file": name, "reason": reason, "detail": detail})
                    log.warning("%s: skipped %s: %s: %s", zip_path, name, SKIP_REASONS[reason], detail)
                bar.update(min(CHUNK, len(block) - start))
            writer.take_written(kept)
            good = block[kept]
            writer.add_rows(encode_many(good["IDENTITY"].tolist()), good)
            n_rows += len(block)
            written += int(kept.sum())
        writer.commit(meta={"resize": resize, "source": str(zip_path)})
    return {"rows": n_rows, "written": written, "skipped": counts, "skipped_examples": examples}


def build_store(zip_path: str | Path, csv_path: str | Path, out_dir: str | Path, *, resize: str = "crop",
                width: int = WIDTH, jobs: int = 0, desc: str = "preprocess", limit: int | None = None,
                seed: int = 0) -> Store:
    """One split in the Kaggle layout (its zip and label CSV) as the unzip, clean (default rules)
    and preprocess stages make it, in one call, opened: for benchmarks, experiments and the
    synthetic names that fine-tuning mixes in. ``limit``: only a seeded selection of that many of
    the clean rows is decoded (:func:`hwr.data.store.select`)."""
    rows, _ = index_split(Path(zip_path), Path(csv_path))
    rows, _ = clean_labels(rows)
    if limit is not None:
        rows = rows.iloc[select(len(rows), limit, seed)].reset_index(drop=True)
    preprocess_split(str(zip_path), rows, str(out_dir), resize=resize, width=width, jobs=jobs, desc=desc)
    return open_store(out_dir)
