import numpy as np
import pandas as pd
from _support import jpeg_bytes, write_split

from hwr import preprocessing
from hwr.alphabet import decode
from hwr.images import to_model_input
from hwr.store import open_store


def rows_for(zip_rows, split="train"):
    return pd.DataFrame({"FILENAME": [n for n, _ in zip_rows], "IDENTITY": [t for _, t in zip_rows],
                         "member": [f"{split}_v2/{split}/{n}" for n, _ in zip_rows]})


def test_decodes_in_order_and_skips_undecodable(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(preprocessing, "CHUNK", 2)  # several chunks, failures inside and across them
    rows = [(f"I{i}.jpg", label) for i, label in enumerate(["ANNA", "LL", "BAD", "TOM", "BAD", "D'ARC", "JO"])]
    data = {n: (b"garbage" if label == "BAD" else jpeg_bytes(seed=i)) for i, (n, label) in enumerate(rows)}
    zip_path, _ = write_split(tmp_path / "raw", "train", rows, images=data)
    report = preprocessing.preprocess_split(str(zip_path), rows_for(rows), str(tmp_path / "out"), resize="fit", jobs=1)
    assert report["rows"] == 7 and report["written"] == 5 and report["skipped_undecodable"] == 2
    assert report["skipped_examples"] == ["I2.jpg", "I4.jpg"]
    assert "I2.jpg" in caplog.text and "undecodable" in caplog.text
    store = open_store(tmp_path / "out")
    assert store.filenames == ["I0.jpg", "I1.jpg", "I3.jpg", "I5.jpg", "I6.jpg"]
    assert store.texts == ["ANNA", "LL", "TOM", "D'ARC", "JO"]
    assert [decode(row) for row in store.labels] == store.texts
    assert store.meta["resize"] == "fit"
    for position, name in enumerate(store.filenames):  # each image sits beside its own label
        np.testing.assert_array_equal(store.images[position], to_model_input(data[name], "fit"))


def test_entries_are_read_at_recorded_offsets_stored_and_deflated(tmp_path):
    """Workers read entries by (offset, size, method) without the zip's directory; both storage
    methods give the bytes zipfile itself gives."""
    import zipfile

    from hwr.archive import locate_images, read_entry

    path = tmp_path / "mixed.zip"
    payloads = {"a/x.jpg": b"stored bytes" * 10, "a/y.jpg": b"deflated bytes" * 50}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a/x.jpg", payloads["a/x.jpg"], compress_type=zipfile.ZIP_STORED)
        archive.writestr("a/y.jpg", payloads["a/y.jpg"], compress_type=zipfile.ZIP_DEFLATED)
    located = locate_images(path)
    with open(path, "rb") as handle:
        for name, (member, offset, size, method) in located.items():
            assert read_entry(handle, offset, size, method) == payloads[member]
    assert {m for _, _, _, m in located.values()} == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def test_rows_in_chunks_give_the_same_store_as_one_frame(tmp_path, monkeypatch):
    """The stage streams its rows CSV in chunks (flat memory for 414k rows): the store is the
    same, byte for byte, and a failure in a later chunk names its own file."""
    monkeypatch.setattr(preprocessing, "CHUNK", 2)
    labels = ["ANNA", "LL", "TOM", "BAD", "D'ARC", "JO", "EVE"]
    rows = [(f"I{i}.jpg", label) for i, label in enumerate(labels)]
    data = {n: (b"garbage" if label == "BAD" else jpeg_bytes(seed=i)) for i, (n, label) in enumerate(rows)}
    zip_path, _ = write_split(tmp_path / "raw", "train", rows, images=data)
    frame = rows_for(rows)
    whole = preprocessing.preprocess_split(str(zip_path), frame, str(tmp_path / "whole"), resize="crop", jobs=1)
    csv_path = tmp_path / "rows.csv"
    frame.to_csv(csv_path, index=False)
    chunks, total = preprocessing.rows_in_chunks(csv_path, chunksize=3)
    assert total == 7
    streamed = preprocessing.preprocess_split(str(zip_path), chunks, str(tmp_path / "streamed"), resize="crop",
                                              jobs=2, total=total)
    assert streamed == whole and whole["skipped_examples"] == ["I3.jpg"] and whole["written"] == 6
    for name in ("images.u8", "labels.npy", "index.csv"):
        assert (tmp_path / "streamed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_rows_without_locations_read_the_zip_directory_once(tmp_path, monkeypatch):
    """Rows that lack the unzip stage's (offset, size, method) columns are looked up in the zip's
    directory: read once for the split, not once per block of work."""
    import zipfile

    from hwr.dataset import index_split

    monkeypatch.setattr(preprocessing, "CHUNK", 2)  # blocks of 2 x jobs x 8 rows: 3 blocks here
    rows = [(f"I{i}.jpg", "ANNA") for i in range(40)]
    zip_path, csv_path = write_split(tmp_path / "raw", "train", rows,
                                     images={n: jpeg_bytes(seed=i) for i, (n, _) in enumerate(rows)})
    located, _ = index_split(zip_path, csv_path)  # what the unzip stage records: (offset, size, method)
    opened = []

    class CountingZipFile(zipfile.ZipFile):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(preprocessing.zipfile, "ZipFile", CountingZipFile)
    report = preprocessing.preprocess_split(str(zip_path), rows_for(rows), str(tmp_path / "out"), jobs=1)
    assert report["written"] == 40 and opened == [str(zip_path)]
    opened.clear()
    report = preprocessing.preprocess_split(str(zip_path), located, str(tmp_path / "located"), jobs=1)
    assert report["written"] == 40 and opened == []  # recorded locations: the directory is never read
    assert (tmp_path / "located" / "images.u8").read_bytes() == (tmp_path / "out" / "images.u8").read_bytes()
