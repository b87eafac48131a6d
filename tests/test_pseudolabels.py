"""hwr.pseudolabels: unlabelled scans into a store (counted skips), and the confident readings kept."""

import logging

import pandas as pd
import pytest
from _support import jpeg_bytes, tiny_model, tiny_store, write_zip

from hwr.confidence import Calibration
from hwr.decoding import Reading, greedy_read
from hwr.errors import HwrError
from hwr.files import write_csv
from hwr.params import CleanParams, PreprocessParams
from hwr.pseudolabels import read_confidently, select_pseudo_labels, unlabeled_store

ONE_JOB = PreprocessParams(jobs=1)


def test_only_confident_readings_that_pass_the_label_rules_are_kept(tmp_path):
    """The threshold applies to the calibrated confidence (here half the raw one), at or above it
    is kept; the clean stage's rules drop an empty reading, a placeholder and a name too long."""
    readings = [Reading("ANNA", 0.95), Reading("LEA", 0.90), Reading("MARC", 0.89), Reading("", 0.99),
                Reading("A" * 25, 0.99), Reading("UNREADABLE", 0.99), Reading("TOM", 0.10)]
    names = [f"S{i}.jpg" for i in range(len(readings))]
    pseudo = select_pseudo_labels(names, readings, Calibration((0.0, 1.0), (0.0, 0.5)), 0.45, CleanParams())
    assert pseudo.labels["row"].tolist() == [0, 1]
    assert pseudo.labels["IDENTITY"].tolist() == ["ANNA", "LEA"]
    assert pseudo.counts == {"read": 7, "kept": 2, "below_threshold": 2, "coverage": round(2 / 7, 4),
                             "dropped_by_rule": {"missing": 1, "placeholder": 1, "empty": 0, "unknown_characters": 0,
                                                 "too_long": 1}}
    write_csv(tmp_path / "pseudo-labels.csv", pseudo.csv())
    written = pd.read_csv(tmp_path / "pseudo-labels.csv", dtype={"IDENTITY": str}, keep_default_na=False)
    assert written.columns.tolist() == ["FILENAME", "IDENTITY", "confidence"]
    assert written.values.tolist() == [["S0.jpg", "ANNA", 0.475], ["S1.jpg", "LEA", 0.45]]


def test_a_threshold_of_one_keeps_only_certain_readings():
    readings = [Reading("ANNA", 1.0), Reading("LEA", 0.999)]
    pseudo = select_pseudo_labels(["a", "b"], readings, Calibration(), 1.0, CleanParams())
    assert pseudo.labels["IDENTITY"].tolist() == ["ANNA"] and pseudo.counts["below_threshold"] == 1


def test_unlabelled_zip_becomes_a_store_and_unreadable_images_are_counted(tmp_path, caplog):
    entries = {f"train_v2/train/U{i}.jpg": jpeg_bytes(seed=i) for i in range(4)}
    entries["train_v2/train/U9.jpg"] = b"not an image at all"
    entries["train_v2/README.txt"] = b"notes"  # not named like an image: not an entry to read
    zip_path = write_zip(tmp_path / "scans.zip", entries)
    caplog.set_level(logging.WARNING)
    store, report = unlabeled_store(zip_path, tmp_path / "store", resize="fit", preprocess=ONE_JOB)
    assert len(store) == 4 and store.filenames == ["U0.jpg", "U1.jpg", "U2.jpg", "U3.jpg"]
    assert store.texts == [""] * 4 and store.meta["resize"] == "fit"
    assert (report["images"], report["read"], report["skipped"]) == (5, 4, 1)
    assert report["skipped_by_reason"] == {"undecodable image": 1}
    assert any("U9.jpg" in r.message for r in caplog.records if r.levelno == logging.WARNING)
    some, report = unlabeled_store(zip_path, tmp_path / "some", resize="fit", limit=2, seed=3, preprocess=ONE_JOB)
    assert report["images"] == 2 and len(some) + report["skipped"] == 2 and set(some.filenames) <= set(store.filenames)


def test_unlabelled_folder_becomes_a_store(tmp_path, caplog):
    scans = tmp_path / "scans"
    (scans / "b").mkdir(parents=True)
    (scans / "a.jpg").write_bytes(jpeg_bytes(seed=1))
    (scans / "b" / "c.png").write_bytes(jpeg_bytes(seed=2, fmt="PNG"))
    (scans / "b" / "empty.jpg").write_bytes(b"")
    (scans / "notes.md").write_text("not a scan")
    caplog.set_level(logging.WARNING)
    store, report = unlabeled_store(scans, tmp_path / "store", resize="crop")
    assert store.filenames == ["a.jpg", "b/c.png"]
    assert (report["read"], report["skipped"], report["ignored"]) == (2, 1, 1)
    assert report["skipped_by_reason"] == {"empty file": 1}
    assert any("empty.jpg" in r.message for r in caplog.records)


def test_no_unlabelled_images_is_a_one_line_error(tmp_path):
    with pytest.raises(HwrError, match="not found"):
        unlabeled_store(tmp_path / "nowhere.zip", tmp_path / "store", resize="crop")
    bad = write_zip(tmp_path / "bad.zip", {"x/B.jpg": b"junk"})
    with pytest.raises(HwrError) as info:
        unlabeled_store(bad, tmp_path / "store", resize="crop", preprocess=ONE_JOB)
    assert str(bad) in str(info.value) and "1 skipped" in str(info.value) and "\n" not in str(info.value)


def test_confidences_are_calibrated_on_the_validation_split(tmp_path):
    """A model that reads every image as "A", with the same confidence: on a validation split where
    half the names are "A", calibration makes that confidence 0.5, so a threshold of 0.5 keeps every
    unlabelled image and one of 0.51 none."""
    model = tiny_model(tmp_path / "a.pt", reads="A")
    validation = tiny_store(tmp_path / "validation", 4, 1, texts=["A", "B", "A", "CD"])
    unlabeled = tiny_store(tmp_path / "unlabeled", 5, 2, texts=[""] * 5)
    kept = read_confidently(model, unlabeled, validation, threshold=0.5, clean=CleanParams(), batch_size=2)
    assert kept.labels["IDENTITY"].tolist() == ["A"] * 5 and kept.labels["confidence"].tolist() == [0.5] * 5
    assert kept.labels["FILENAME"].tolist() == unlabeled.filenames
    none = read_confidently(model, unlabeled, validation, threshold=0.51, clean=CleanParams(), batch_size=2)
    assert none.labels.empty and none.counts["below_threshold"] == 5


def test_the_readings_come_from_the_decoder_given(tmp_path):
    """The same model read through another decoder (here one that spells every image "CD", as a
    lexicon decoder may correct a greedy reading): the pseudo-labels are that decoder's, and so is
    the calibration (on a validation split where "CD" is right once in four)."""
    from dataclasses import replace

    model = tiny_model(tmp_path / "a.pt", reads="A")
    validation = tiny_store(tmp_path / "validation", 4, 1, texts=["A", "B", "A", "CD"])
    unlabeled = tiny_store(tmp_path / "unlabeled", 3, 2, texts=[""] * 3)

    def spells_cd(log_probs):
        return [replace(r, text="CD") for r in greedy_read(log_probs)]

    kept = read_confidently(model, unlabeled, validation, threshold=0.25, clean=CleanParams(), batch_size=2,
                            decoder=("cd", spells_cd))
    assert kept.labels["IDENTITY"].tolist() == ["CD"] * 3 and kept.labels["confidence"].tolist() == [0.25] * 3
