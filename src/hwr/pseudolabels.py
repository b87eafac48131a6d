"""Pseudo-labels: unlabelled scans read by a model, the readings it is confident of kept as labels.

The scans (a zip of images, or a folder of them) are decoded once into a store, in the resize mode
of the pipeline's data, a batch at a time and never more than a batch of full-size images in
memory; an image that cannot be read is a counted skip, logged with its reason. Each round of
self-training (:mod:`hwr.adapt`) then reads that store with its current model.

A reading is kept when its confidence (from ``evaluate.decoder``'s reading — the lexicon decoder's
by default, far more often right than greedy's on real scans — calibrated on the validation split
as the evaluate stage calibrates it) is at or above the threshold and it passes the label rules the clean
stage applies to human labels (:func:`hwr.labels.clean_labels`: alphabet, length, placeholders).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from hwr.alphabet import encode_many
from hwr.archive import LOCATION_COLUMNS, locate_images
from hwr.confidence import Calibration
from hwr.decoding import Reading, greedy_read
from hwr.errors import HwrError
from hwr.evaluation import fit_calibrations
from hwr.labels import REASONS, clean_labels
from hwr.params import CleanParams, PreprocessParams
from hwr.predictor import Decoder, open_model
from hwr.preprocessing import SKIP_REASONS, preprocess_split
from hwr.sources import Skip, find_images, load_image
from hwr.store import Store, StoreWriter, open_store, select

log = logging.getLogger(__name__)
BATCH = 256  # images of a folder decoded before they are written; store rows read by the model at a time
EXAMPLES = 10  # skipped files named in the report (all are logged)
CSV_COLUMNS = ["FILENAME", "IDENTITY", "confidence"]


def unlabeled_store(source: str | Path, out_dir: Path, *, resize: str, limit: int = 0, seed: int = 0,
                    preprocess: PreprocessParams = PreprocessParams()) -> tuple[Store, dict]:
    """The images of ``source`` (a zip, read as the preprocess stage reads one, or a folder, read
    as ``hwr predict`` reads one) as a store without labels, and what was found, read and skipped.
    ``limit`` > 0: only a seeded selection of that many images (in name order)."""
    source = Path(source)
    if source.is_dir():
        report = _from_folder(source, out_dir, resize, limit, seed)
    elif source.is_file():
        report = _from_zip(source, out_dir, resize, limit, seed, preprocess)
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


def _from_zip(path: Path, out_dir: Path, resize: str, limit: int, seed: int, preprocess: PreprocessParams) -> dict:
    entries = locate_images(path)  # an unsafe or ambiguous archive is refused here, as in the unzip stage
    names = sorted(entries)
    if limit:
        names = [names[i] for i in select(len(names), limit, seed)]
    rows = pd.DataFrame({"FILENAME": names, "IDENTITY": "", "member": [entries[n].member for n in names],
                         **{c: [getattr(entries[n], c) for n in names] for c in LOCATION_COLUMNS}})
    done = preprocess_split(str(path), rows, str(out_dir), resize=resize, jobs=preprocess.jobs, desc="unlabelled",
                            max_pixels=preprocess.max_pixels, max_image_bytes=preprocess.max_image_bytes,
                            keep_damaged=preprocess.keep_damaged)  # logs each skip with its reason
    skips = Counter({SKIP_REASONS[reason]: n for reason, n in done["skipped"].items() if n})
    return _report(done["rows"], done["written"], skips, done["skipped_examples"])


def _from_folder(folder: Path, out_dir: Path, resize: str, limit: int, seed: int) -> dict:
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
    with StoreWriter(out_dir) as writer:
        for start in range(0, len(paths), BATCH):
            images, names = [], []
            for path in paths[start : start + BATCH]:
                image = load_image(path, resize)
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


@dataclass
class PseudoLabels:
    """The readings kept as labels (``labels``: their row in the unlabelled store, FILENAME,
    IDENTITY, calibrated confidence) and how many images were read, kept and left out, and why."""

    labels: pd.DataFrame
    counts: dict

    def csv(self) -> pd.DataFrame:
        return self.labels[CSV_COLUMNS].assign(confidence=self.labels["confidence"].round(6))


def select_pseudo_labels(filenames: list[str], readings: list[Reading], calibration: Calibration,
                         threshold: float, clean: CleanParams) -> PseudoLabels:
    """The readings whose calibrated confidence is at least ``threshold`` and that pass the clean
    stage's label rules (an empty reading, a placeholder or a name over ``clean.max_length`` is
    dropped and counted under its reason)."""
    confidence = calibration(np.array([r.confidence for r in readings], dtype=float))
    confident = np.flatnonzero(confidence >= threshold)
    frame = pd.DataFrame({"row": confident, "FILENAME": [filenames[i] for i in confident],
                          "IDENTITY": [readings[i].text for i in confident], "confidence": confidence[confident]})
    kept, dropped = frame, dict.fromkeys(REASONS, 0)
    if len(frame):  # (clean_labels would read an empty selection as a selection of columns)
        kept, report = clean_labels(frame, uppercase=clean.uppercase, drop_labels=clean.drop_labels,
                                    empty_policy=clean.empty_policy, max_length=clean.max_length)
        dropped = report.as_dict()["dropped"]
    read = len(readings)
    counts = {"read": read, "kept": len(kept), "below_threshold": read - len(confident), "dropped_by_rule": dropped,
              "coverage": round(len(kept) / read, 4) if read else None}
    return PseudoLabels(kept.reset_index(drop=True), counts)


def read_confidently(model_path: str | Path, unlabeled: Store, validation: Store, *, threshold: float,
                     clean: CleanParams, batch_size: int = BATCH,
                     decoder: tuple[str, Decoder] = ("greedy", greedy_read)) -> PseudoLabels:
    """Every image of ``unlabeled`` read by the model in ``model_path`` with ``decoder`` (name,
    decoder: the selftrain stage passes ``evaluate.decoder``), its confidences calibrated on
    ``validation``; the confident readings as :func:`select_pseudo_labels` keeps them."""
    name, decode = decoder
    predictor = open_model(model_path, decoder=decode, batch_size=batch_size)
    calibration = fit_calibrations(predictor.model, validation, {name: decode}, batch_size=batch_size,
                                   device=predictor.device)[name]
    readings: list[Reading] = []
    for start in tqdm(range(0, len(unlabeled), batch_size), desc=f"reading ({name})", unit="batch", disable=None):
        readings.extend(predictor.read(unlabeled.images[start : start + batch_size]))  # a batch in memory at a time
    return select_pseudo_labels(unlabeled.filenames, readings, calibration, threshold, clean)
