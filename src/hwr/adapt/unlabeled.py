"""Unlabelled scans as a store: a zip of images (read as the preprocess stage reads one) or a folder
of them (read as ``hwr predict`` reads one), decoded once in the resize mode of the pipeline's data,
a batch at a time and never more than a batch of full-size images in memory; an image that cannot
be read is a counted skip, logged with its reason. Each round of self-training then reads that store.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from hwr.core.alphabet import encode_many
from hwr.core.errors import HwrError
from hwr.data.archive import LOCATION_COLUMNS, locate_images
from hwr.data.images import WIDTH
from hwr.data.preprocessing import SKIP_REASONS, preprocess_split
from hwr.data.sources import Skip, find_images, load_image
from hwr.data.store import Store, StoreWriter, open_store, select
from hwr.params import PreprocessParams

log = logging.getLogger(__name__)
BATCH = 256  # images of a folder decoded before they are written
EXAMPLES = 10  # skipped files named in the report (all are logged)


def unlabeled_store(source: str | Path, out_dir: Path, *, resize: str, width: int = WIDTH, limit: int = 0,
                    seed: int = 0, preprocess: PreprocessParams = PreprocessParams()) -> tuple[Store, dict]:
    """The images of ``source`` (a zip, read as the preprocess stage reads one, or a folder, read
    as ``hwr predict`` reads one) as a store without labels, and what was found, read and skipped.
    ``limit`` > 0: only a seeded selection of that many images (in name order)."""
    source = Path(source)
    if source.is_dir():
        report = _from_folder(source, out_dir, resize, width, limit, seed)
    elif source.is_file():
        report = _from_zip(source, out_dir, resize, width, limit, seed, preprocess)
    else:
        raise HwrError(f"{source}: unlabelled images not found; give a zip of images or a folder of them")
    if report["read"] == 0:
        raise HwrError(f"{source}: no image could be read ({report['images']} found, {report['skipped']} skipped: "
                       f"{_counts(report['skipped_by_reason'])}); nothing to self-train on")
    log.info("%s: %d unlabelled images read, %d skipped (%s)", source, report["read"], report["skipped"],
             _counts(report["skipped_by_reason"]))
    return open_store(out_dir), report


def _counts(by_reason: dict) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in by_reason.items()) or "none"


def _report(images: int, read: int, skips: Counter, examples: list, ignored: int = 0) -> dict:
    return {"images": images, "read": read, "skipped": sum(skips.values()),
            "skipped_by_reason": dict(skips.most_common()), "skipped_examples": examples,
            "ignored": ignored}  # folder entries not named like images


def _from_zip(path: Path, out_dir: Path, resize: str, width: int, limit: int, seed: int,
              preprocess: PreprocessParams) -> dict:
    entries = locate_images(path)  # an unsafe or ambiguous archive is refused here, as in the unzip stage
    names = sorted(entries)
    if limit:
        names = [names[i] for i in select(len(names), limit, seed)]
    rows = pd.DataFrame({"FILENAME": names, "IDENTITY": "", "member": [entries[n].member for n in names],
                         **{c: [getattr(entries[n], c) for n in names] for c in LOCATION_COLUMNS}})
    done = preprocess_split(str(path), rows, str(out_dir), resize=resize, width=width, jobs=preprocess.jobs,
                            desc="unlabelled",
                            max_pixels=preprocess.max_pixels, max_image_bytes=preprocess.max_image_bytes,
                            keep_damaged=preprocess.keep_damaged)  # logs each skip with its reason
    skips = Counter({SKIP_REASONS[reason]: n for reason, n in done["skipped"].items() if n})
    return _report(done["rows"], done["written"], skips, done["skipped_examples"])


def _from_folder(folder: Path, out_dir: Path, resize: str, width: int, limit: int, seed: int) -> dict:
    found = find_images([str(folder)])
    paths = found.paths if not limit else [found.paths[i] for i in select(len(found.paths), limit, seed)]
    skips, examples = Counter(), []

    def skipped(skip: Skip) -> None:
        log.warning("%s", skip.message())
        skips[skip.reason] += 1
        if len(examples) < EXAMPLES:
            examples.append({"file": skip.path, "reason": skip.reason, "detail": skip.detail})

    for skip in found.skips:  # folders that could not be listed
        skipped(skip)
    with StoreWriter(out_dir, width=width) as writer:
        for start in range(0, len(paths), BATCH):
            images, names = [], []
            for path in paths[start : start + BATCH]:
                image = load_image(path, resize, width)
                if isinstance(image, Skip):
                    skipped(image)
                else:
                    images.append(image)
                    names.append(Path(path).relative_to(folder).as_posix())
            if images:
                writer.append(np.stack(images))
                writer.add_rows(encode_many([""] * len(names)), pd.DataFrame({"FILENAME": names, "IDENTITY": ""}))
        writer.commit(meta={"resize": resize, "source": str(folder)})
    return _report(len(paths) + len(found.skips), writer.count, skips, examples, found.ignored)
