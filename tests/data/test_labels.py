import pandas as pd
import pytest

from hwr.core.errors import HwrError
from hwr.data.labels import REASONS, clean_labels, read_labels


def frame(*labels):
    return pd.DataFrame({"FILENAME": [f"F_{i:03d}.jpg" for i in range(len(labels))], "IDENTITY": list(labels)})


def kept(cleaned):
    return cleaned["IDENTITY"].tolist()


# ---------------------------------------------------------------- reading


def test_read_labels_keeps_everything_as_text(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("FILENAME,IDENTITY\n a.jpg ,NA\nb.jpg,\nc.jpg,NAN\nd.jpg,NULL\ne.jpg,BILEL\n", encoding="utf-8")
    labels = read_labels(path)
    assert list(labels.columns) == ["FILENAME", "IDENTITY"]
    assert labels["FILENAME"].tolist() == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    # real surnames such as NA or NAN stay names; the empty field (the study's NaN) is ''
    assert labels["IDENTITY"].tolist() == ["NA", "", "NAN", "NULL", "BILEL"]


def test_read_labels_tolerates_header_spaces_bom_and_extra_columns(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("\ufeff FILENAME , IDENTITY ,NOTE\nx.jpg,ANNA,1\n".encode("utf-8"))
    labels = read_labels(path)
    assert labels.to_dict("records") == [{"FILENAME": "x.jpg", "IDENTITY": "ANNA"}]


@pytest.mark.parametrize("content,words", [
    (b"FILENAME,LABEL\na.jpg,ANNA\n", ["no IDENTITY column", "FILENAME,LABEL"]),
    (b"NAME,IDENTITY\na.jpg,ANNA\n", ["no FILENAME column"]),
    (b"", ["empty file"]),
    (b"FILENAME,IDENTITY\na.jpg,\xe9LISE\n", ["not UTF-8", "line 2, column 7: byte 0xe9"]),
    # far into a long Latin-1 file: the place in the file, not an offset inside pandas' chunk
    (b"FILENAME,IDENTITY\n" + b"".join(b"f%d.jpg,ANNA\n" % i for i in range(20000)) + b"z.jpg,CL\xc9MENT\n",
     ["line 20002, column 9: byte 0xc9"]),
])
def test_read_labels_errors_are_one_line_naming_the_file(tmp_path, content, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(HwrError) as info:
        read_labels(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


def test_read_labels_missing_file(tmp_path):
    with pytest.raises(HwrError, match="not found"):
        read_labels(tmp_path / "nope.csv")


# ---------------------------------------------------------------- cleaning rules


def test_default_rules_and_per_reason_counts():
    labels = frame("BILEL", "", "   ", "UNREADABLE", "EMPTY", "LEA?", "A" * 25, "A" * 24, "jean-paul", "D'ARC",
                   "unreadable", "  LE   BRUN ")
    cleaned, report = clean_labels(labels)
    assert kept(cleaned) == ["BILEL", "A" * 24, "JEAN-PAUL", "D'ARC", "LE BRUN"]
    assert cleaned["FILENAME"].tolist() == ["F_000.jpg", "F_007.jpg", "F_008.jpg", "F_009.jpg", "F_011.jpg"]
    assert report.rows == 12 and report.kept == 5
    assert report.as_dict()["dropped"] == {"missing": 2, "placeholder": 2, "empty": 1, "unknown_characters": 1,
                                           "too_long": 1}
    assert report.uppercased == 2  # jean-paul and unreadable
    assert report.rows == report.kept + sum(report.dropped.values())


def test_nan_label_counts_as_missing():
    labels = frame("ANNA", float("nan"), None)
    cleaned, report = clean_labels(labels)
    assert kept(cleaned) == ["ANNA"]
    assert report.dropped["missing"] == 2


def test_empty_policy_keep_learns_the_word():
    cleaned, report = clean_labels(frame("EMPTY", "empty", "TOM"), empty_policy="keep")
    assert kept(cleaned) == ["EMPTY", "EMPTY", "TOM"]
    assert report.dropped["empty"] == 0


def test_empty_policy_drop():
    cleaned, report = clean_labels(frame("EMPTY", "TOM"), empty_policy="drop")
    assert kept(cleaned) == ["TOM"] and report.dropped["empty"] == 1


def test_without_uppercasing_lower_case_is_unknown():
    cleaned, report = clean_labels(frame("Marie", "MARIE"), uppercase=False)
    assert kept(cleaned) == ["MARIE"]
    assert report.dropped["unknown_characters"] == 1 and report.uppercased == 0


@pytest.mark.parametrize("label", ["LEA?", "ÉLODIE", "JEAN.PAUL", "ANNA1", "O’NEIL"])
def test_unknown_characters_dropped(label):
    _, report = clean_labels(frame(label))
    assert report.kept == 0 and report.dropped["unknown_characters"] == 1


def test_max_length_param():
    cleaned, report = clean_labels(frame("ABCDEFGHIJ", "ABCDEFGHIJK"), max_length=10)
    assert kept(cleaned) == ["ABCDEFGHIJ"] and report.dropped["too_long"] == 1


def test_custom_placeholders_case_insensitive():
    cleaned, report = clean_labels(frame("ILLISIBLE", "Unreadable", "ANNA"), drop_labels=["illisible"])
    assert kept(cleaned) == ["UNREADABLE", "ANNA"]  # UNREADABLE is only dropped when listed
    assert report.dropped["placeholder"] == 1


def test_one_reason_per_row_first_rule_wins():
    # 30 characters *and* an unknown character: counted once, as unknown_characters (checked first)
    _, report = clean_labels(frame("A" * 29 + "?"))
    assert report.dropped == {"unknown_characters": 1}


def test_report_dict_lists_every_reason_and_examples_name_the_row():
    labels = frame("ANNA", "LEA?", "TOM?")
    labels.insert(0, "row", [10, 11, 12])  # CSV line numbers, as the unzip stage writes them
    _, report = clean_labels(labels)
    assert set(report.as_dict()["dropped"]) == set(REASONS)
    assert report.examples["unknown_characters"] == (11, "F_001.jpg", "LEA?")


def test_empty_frame():
    cleaned, report = clean_labels(frame())
    assert len(cleaned) == 0 and report.rows == report.kept == 0


def test_rows_written_by_an_earlier_stage_are_read_as_strings_or_named_missing(tmp_path):
    from hwr.data.labels import read_rows

    path = tmp_path / "train.csv"
    path.write_text("FILENAME,IDENTITY,row\nA.jpg,NA,2\nB.jpg,,3\n", encoding="utf-8")
    frame = read_rows(path, "unzip")
    assert frame["IDENTITY"].tolist() == ["NA", ""] and frame["row"].tolist() == ["2", "3"]
    with pytest.raises(HwrError) as info:
        read_rows(tmp_path / "none.csv", "unzip")
    assert str(tmp_path / "none.csv") in str(info.value) and "dvc repro unzip" in str(info.value)
