"""Decode a split's images straight from its zip, in parallel processes, into a tensor store."""

from __future__ import annotations

import logging
import os
import zipfile
from multiprocessing import get_context

import numpy as np
import pandas as pd
from tqdm import tqdm

from hwr.alphabet import encode_many
from hwr.images import HEIGHT, WIDTH, UndecodableImage, to_model_input
from hwr.store import StoreWriter

log = logging.getLogger(__name__)
CHUNK = 256

_worker_zip: zipfile.ZipFile | None = None
_worker_resize = "crop"


def _init_worker(zip_path: str, resize: str) -> None:
    global _worker_zip, _worker_resize
    _worker_zip = zipfile.ZipFile(zip_path)  # one open archive per worker, reused for every image
    _worker_resize = resize


def _decode_chunk(members: list[str]) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode a chunk; returns the decoded images (failures left out) and (position, reason) of failures."""
    out = np.empty((len(members), HEIGHT, WIDTH), np.uint8)
    failures = []
    n = 0
    for position, member in enumerate(members):
        try:
            out[n] = to_model_input(_worker_zip.read(member), _worker_resize)
            n += 1
        except (UndecodableImage, zipfile.BadZipFile, OSError) as exc:
            failures.append((position, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    return out[:n], failures


def _context():
    """fork where the OS has it: workers start at once and need no importable __main__ (decoding
    uses no threads, so forking is safe); spawn elsewhere."""
    try:
        return get_context("fork")
    except ValueError:
        return get_context("spawn")


def resolve_jobs(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def preprocess_split(
    zip_path: str,
    rows: pd.DataFrame,
    out_dir: str,
    *,
    resize: str = "crop",
    jobs: int = 0,
    desc: str = "preprocess",
) -> dict:
    """Decode ``rows`` (FILENAME, IDENTITY, member) from ``zip_path`` into a store at ``out_dir``.

    Undecodable images are skipped and counted; the report names the first few."""
    members = rows["member"].tolist()
    chunks = [members[i : i + CHUNK] for i in range(0, len(members), CHUNK)]
    jobs = min(resolve_jobs(jobs), max(1, len(chunks)))
    kept = np.ones(len(members), bool)
    skipped: list[dict] = []
    with StoreWriter(out_dir, len(members)) as writer, tqdm(
        total=len(members), desc=desc, unit="img", disable=None
    ) as bar:
        if jobs == 1:
            _init_worker(zip_path, resize)
            results = map(_decode_chunk, chunks)
            pool = None
        else:
            pool = _context().Pool(jobs, initializer=_init_worker, initargs=(zip_path, resize))
            results = pool.imap(_decode_chunk, chunks)
        try:
            for chunk_no, (images, failures) in enumerate(results):
                writer.append(images)
                for position, reason in failures:
                    row = chunk_no * CHUNK + position
                    kept[row] = False
                    skipped.append({"file": rows["FILENAME"].iloc[row], "reason": reason})
                bar.update(len(images) + len(failures))
        finally:
            if pool is not None:
                pool.terminate()
        good = rows[kept].reset_index(drop=True)
        labels = encode_many(good["IDENTITY"].tolist())
        writer.commit(labels, good[["FILENAME", "IDENTITY"]], {"resize": resize, "source": str(zip_path)})
    for item in skipped[:5]:
        log.warning("%s: skipped %s: undecodable image (%s)", zip_path, item["file"], item["reason"])
    return {"rows": len(rows), "written": int(kept.sum()), "skipped_undecodable": len(skipped),
            "skipped_examples": [s["file"] for s in skipped[:10]]}
