"""hwr.adapt.pseudolabels: the confident readings of unlabelled scans kept as labels."""


import pandas as pd
from _support import tiny_model, tiny_store

from hwr.adapt.pseudolabels import read_confidently, select_pseudo_labels
from hwr.core.files import write_csv
from hwr.decoding.confidence import Calibration
from hwr.decoding.factory import Decoder
from hwr.decoding.greedy import Reading, greedy_read
from hwr.params import CleanParams


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
                             "estimated_precision": round((0.475 + 0.45) / 2, 4), "dropped_by_rule": {"missing": 1, "placeholder": 1, "empty": 0, "unknown_characters": 0,
                                                 "too_long": 1}}
    write_csv(tmp_path / "pseudo-labels.csv", pseudo.csv())
    written = pd.read_csv(tmp_path / "pseudo-labels.csv", dtype={"IDENTITY": str}, keep_default_na=False)
    assert written.columns.tolist() == ["FILENAME", "IDENTITY", "confidence"]
    assert written.values.tolist() == [["S0.jpg", "ANNA", 0.475], ["S1.jpg", "LEA", 0.45]]


def test_a_threshold_of_one_keeps_only_certain_readings():
    readings = [Reading("ANNA", 1.0), Reading("LEA", 0.999)]
    pseudo = select_pseudo_labels(["a", "b"], readings, Calibration(), 1.0, CleanParams())
    assert pseudo.labels["IDENTITY"].tolist() == ["ANNA"] and pseudo.counts["below_threshold"] == 1


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
                            decoder=Decoder("cd", {"decoder": "cd"}, spells_cd))
    assert kept.labels["IDENTITY"].tolist() == ["CD"] * 3 and kept.labels["confidence"].tolist() == [0.25] * 3
