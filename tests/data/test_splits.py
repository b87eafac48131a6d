"""hwr.data.splits: pairing a split's CSV with its zip."""


import pytest
from _support import write_split

from hwr.core.errors import HwrError
from hwr.data.splits import index_split


def test_pairs_rows_with_members_and_counts_the_rest(tmp_path):
    rows = [("A.jpg", "ANNA"), ("B.jpg", "BOB"), ("C.jpg", ""), ("B.jpg", "BOBBY"), ("D.jpg", "DORA")]
    zip_path, csv_path = write_split(tmp_path, "train", rows, missing=("D.jpg",),
                                     extra_entries={"train_v2/train/EXTRA.jpg": b"x"})
    found, report = index_split(zip_path, csv_path)
    assert found.columns.tolist() == ["row", "FILENAME", "IDENTITY", "member", "offset", "size", "method", "crc",
                                     "file_size"]
    assert found["FILENAME"].tolist() == ["A.jpg", "B.jpg", "C.jpg"]
    assert found["IDENTITY"].tolist() == ["ANNA", "BOB", ""]  # first of repeated rows kept; labels untouched
    assert found["row"].tolist() == [2, 3, 4]  # CSV line numbers (header is line 1)
    assert found["member"].tolist() == ["train_v2/train/A.jpg", "train_v2/train/B.jpg", "train_v2/train/C.jpg"]
    assert report == {
        "csv_rows": 5, "zip_images": 4, "found": 3, "missing_images": 1, "unlisted_images": 1, "repeated_rows": 1,
        "repeated_with_another_label": 1, "repeated_examples": ["B.jpg"],
        "conflict_examples": ["B.jpg: line 3 'BOB', line 5 'BOBBY'"],
        "missing_examples": ["D.jpg"], "unlisted_examples": ["EXTRA.jpg"],
    }


def test_a_repeat_with_the_same_label_is_not_a_conflict(tmp_path):
    rows = [("A.jpg", "ANNA"), ("A.jpg", "ANNA"), ("B.jpg", "BOB")]
    _, report = index_split(*write_split(tmp_path, "train", rows))
    assert report["repeated_rows"] == 1 and report["repeated_with_another_label"] == 0
    assert report["conflict_examples"] == []


def test_errors_name_the_file(tmp_path):
    zip_path, csv_path = write_split(tmp_path, "test", [("A.jpg", "ANNA")], header="FILENAME,LABEL")
    with pytest.raises(HwrError, match="IDENTITY"):
        index_split(zip_path, csv_path)
    with pytest.raises(HwrError, match="zip not found"):
        index_split(tmp_path / "none.zip", csv_path)


def test_rows_record_what_each_entry_must_be(tmp_path):
    """Each row carries its entry's CRC-32 and inflated size from the zip's directory: what the
    preprocess workers check the bytes they read against."""
    import zipfile

    rows = [("A.jpg", "ANNA"), ("B.jpg", "BOB")]
    zip_path, csv_path = write_split(tmp_path, "train", rows)
    found, _ = index_split(zip_path, csv_path)
    with zipfile.ZipFile(zip_path) as archive:
        for row in found.itertuples():
            info = archive.getinfo(row.member)
            assert (row.crc, row.file_size, row.size, row.offset) == (info.CRC, info.file_size, info.compress_size,
                                                                      info.header_offset)
