"""Writing a split: Kaggle-layout zip of JPEGs + CSV, in parallel, byte-reproducible.

Every image has its own RNG seeded from (seed, split, index), so the bytes do not depend on the
number of worker processes or on chunking; the pool returns results in order (imap) and the
parent alone writes the zip with fixed entry metadata. Files are written atomically
(``hwr.core.files``), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from hwr.core import workers
from hwr.core.files import atomic_file
from hwr.core.layout import SPLITS, split_files

from . import degrade, names, sample

log = logging.getLogger(__name__)

SPLIT_ID = {s: i for i, s in enumerate(SPLITS)}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SEQ_TAG = 0x5E1  # keeps these streams apart from other users of SeedSequence([seed, ...])


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([_SEQ_TAG, int(seed), SPLIT_ID[split], int(index)]))


def _work(task):
    seed, split, index, probs = task
    s = sample.render(image_rng(seed, split, index), probs)
    return degrade.to_jpeg(s.image), s.label, s.layout, s.style


def _warm(names_source: str = names.FAKER):
    """Build caches (name pools, glyphs, fonts) once in a worker before timing-critical work."""
    names.use(names_source)
    rng = np.random.default_rng(0)
    for _ in range(8):
        sample.render(rng, (0.5, 0.5))


def validate_sizes(sizes) -> dict[str, int]:
    if not isinstance(sizes, dict) or not sizes:
        raise ValueError(f"sizes must be a non-empty dict like {{'train': 1000}}, got {sizes!r}")
    out = {}
    for split, n in sizes.items():
        if split not in SPLIT_ID:
            raise ValueError(f"unknown split {split!r} in sizes; use {list(SPLITS)}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"size of split {split!r} must be a non-negative int, got {n!r}")
        out[split] = int(n)
    return out


def generate(out_dir, sizes, seed=0, jobs=None, style_mix=None, progress=False, names_source=names.FAKER) -> dict:
    sizes = validate_sizes(sizes)
    probs = sample.validate_style_mix(style_mix)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int or None, got {jobs!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = sum(sizes.values())
    jobs = max(1, min(jobs, total // 16 + 1))  # tiny jobs are not worth a pool
    with contextlib.ExitStack() as stack:
        stack.enter_context(names.drawing_from(names_source))
        pool = None
        if jobs > 1:  # started before the progress bar: no bar thread is running when the workers fork
            _warm(names_source)  # build caches before forking
            # fork is fastest (workers inherit warm caches); HWR_SYNTH_MP_CONTEXT=spawn overrides
            pool = stack.enter_context(workers.pool(jobs, _warm, (names_source,),
                                                    method=os.environ.get("HWR_SYNTH_MP_CONTEXT")))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(tqdm(total=total, unit="img", desc="synth"))
        stats = {}
        for split, n in sizes.items():
            tasks = ((seed, split, i, probs) for i in range(1, n + 1))
            results = pool.imap(_work, tasks, chunksize=32) if pool else map(_work, tasks)
            stats[split] = _write_split(out, split, n, results, bar)
    return stats


def _write_split(out: Path, split: str, n: int, results, bar) -> dict:
    prefix = split.upper()
    folder = f"{split}_v2/{split}/"
    layouts, styles = Counter(), Counter()
    rows = ["FILENAME,IDENTITY"]
    # the CSV is opened first so that it is renamed into place last, after its zip
    zip_path, csv_path = split_files(out, split)
    with atomic_file(csv_path, "wb") as cf_file, atomic_file(zip_path, "wb") as zf_file:
        with zipfile.ZipFile(zf_file, "w", zipfile.ZIP_STORED) as zf:
            for i, (jpeg, label, lay, style) in enumerate(results, start=1):
                fname = f"{prefix}_{i:05d}.jpg"
                info = zipfile.ZipInfo(folder + fname, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                info.create_system = 3
                zf.writestr(info, jpeg)
                rows.append(f"{fname},{label}")
                layouts[lay] += 1
                styles[style] += 1
                if bar is not None:
                    bar.update(1)
        cf_file.write(("\n".join(rows) + "\n").encode("utf-8"))
    log.info("wrote %d %s images to %s", n, split, zip_path)
    return {"images": n, "layouts": dict(sorted(layouts.items())), "styles": dict(sorted(styles.items()))}
