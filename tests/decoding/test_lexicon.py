from collections import Counter

import pandas as pd
import pytest

from hwr.core.errors import HwrError
from hwr.decoding.lexicon import (
    LM_FILE,
    NAMES_FILE,
    Lexicon,
    build_names,
    lexicon_built,
    lexicon_files,
    load_lexicon,
    read_extra_names,
    write_lexicon,
)


def test_extra_names_are_cleaned_like_labels_and_counted(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("IDENTITY,count\nmartin,3\nMARIE,2\nUNREADABLE,9\nEMPTY,1\n,4\nJOSÉ,1\n  anne   marie ,1\nmartin,1\n")
    names, skipped = read_extra_names(path)
    assert names == Counter({"MARTIN": 4, "MARIE": 2, "ANNE MARIE": 1})
    assert skipped == {"placeholder": 1, "empty": 1, "missing": 1, "unknown_characters": 1}


def test_the_default_extra_file_is_empty(repo_root):
    assert read_extra_names(repo_root / "configs" / "extra-names.csv") == (Counter(), {})


def test_extra_names_without_counts_count_once(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("FILENAME,IDENTITY\na.jpg,LEA\nb.jpg,LEA\nc.jpg,NOE\n")
    assert read_extra_names(path)[0] == Counter({"LEA": 2, "NOE": 1})


@pytest.mark.parametrize("text, culprit", [
    ("NAME\nLEA\n", "no IDENTITY column"),
    ("IDENTITY,count\nLEA,2\nNOE,two\n", "line 3"),
    ("IDENTITY,count\nLEA,0\n", "line 2"),
    ("IDENTITY,count\nLEA,1.5\n", "line 2"),
    ("", "not a readable"),
])
def test_bad_extra_files_are_one_line_errors(tmp_path, text, culprit):
    path = tmp_path / "extra.csv"
    path.write_text(text)
    with pytest.raises(HwrError, match=culprit) as info:
        read_extra_names(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(HwrError, match="not found"):
        read_extra_names(tmp_path / "absent.csv")


def test_build_write_and_load(tmp_path):
    names = build_names(["LEA", "NOE", "LEA"], Counter({"NOE": 5, "ZOE": 1}))
    assert names == Counter({"NOE": 6, "LEA": 2, "ZOE": 1})
    write_lexicon(tmp_path, names, order=3)
    written = pd.read_csv(tmp_path / NAMES_FILE, keep_default_na=False)
    assert written.values.tolist() == [["NOE", 6], ["LEA", 2], ["ZOE", 1]]  # most frequent first
    assert (tmp_path / LM_FILE).read_text().startswith("\n\\data\\")
    lexicon = load_lexicon(tmp_path)
    assert "ZOE" in lexicon and "ZO" not in lexicon and len(lexicon) == 3
    assert {"", "Z", "ZO", "ZOE"} <= lexicon.prefixes and "ZA" not in lexicon.prefixes


def test_missing_lexicon_says_how_to_build_it(tmp_path):
    with pytest.raises(HwrError, match="dvc repro lexicon"):
        lexicon_files(tmp_path)


def test_a_lexicon_is_built_only_with_both_its_files(tmp_path):
    assert not lexicon_built(tmp_path)
    (tmp_path / NAMES_FILE).write_text("IDENTITY,count\nLEA,1\n")
    assert not lexicon_built(tmp_path)  # the character model is missing: the beam decoders need it too
    (tmp_path / LM_FILE).write_text("\n\\data\\\n")
    assert lexicon_built(tmp_path)


def test_oov_rate_counts_label_rows():
    lexicon = Lexicon.of(["LEA", "NOE"])
    assert lexicon.oov_rate(["LEA", "LEA", "ZOE", "NOE"]) == 0.25
    assert lexicon.oov_rate([]) is None


def test_the_kit_covers_two_thirds_of_the_real_test_names(names_kit, real_sample):
    names, skipped = read_extra_names(names_kit)
    assert len(names) > 30000 and not skipped  # the kit is already clean
    test = pd.read_csv(real_sample / "written_name_test_v2.csv", dtype=str, keep_default_na=False)
    labels = [t for t in test["IDENTITY"] if t and t != "EMPTY"]
    assert len(labels) == 149
    assert 0.25 < Lexicon.of(names).oov_rate(labels) < 0.45  # the kit's README: about 66 % covered
