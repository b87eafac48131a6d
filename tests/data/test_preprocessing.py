import numpy as np
import pandas as pd
from _support import jpeg_bytes, write_split

from hwr.core.alphabet import decode
from hwr.data import preprocessing
from hwr.data.images import to_model_input
from hwr.data.store import open_store


def rows_for(zip_rows, split="train"):
    return pd.DataFrame({"FILENAME": [n for n, _ in zip_rows], "IDENTITY": [t for _, t in zip_rows],
                         "member": [f"{split}_v2/{split}/{n}" for n, _ in zip_rows]})


def test_decodes_in_order_and_skips_undecodable(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(preprocessing, "CHUNK", 2)  # several chunks, failures inside and across them
    rows = [(f"I{i}.jpg", label) for i, label in enumerate(["ANNA", "LL", "BAD", "TOM", "BAD", "D'ARC", "JO"])]
    data = {n: (b"garbage" if label == "BAD" else jpeg_bytes(seed=i)) for i, (n, label) in enumerate(rows)}
    zip_path, _ = write_split(tmp_path / "raw", "train", rows, images=data)
    report = preprocessing.preprocess_split(str(zip_path), rows_for(rows), str(tmp_path / "out"), resize="fit", jobs=1)
    assert report["rows"] == 7 and report["written"] == 5 and report["skipped"]["undecodable"] == 2
    assert sum(report["skipped"].values()) == 2
    assert [e["file"] for e in report["skipped_examples"]] == ["I2.jpg", "I4.jpg"]
    assert {e["reason"] for e in report["skipped_examples"]} == {"undecodable"}
    for name in ("I2.jpg", "I4.jpg"):  # each skip is logged with its file and reason
        assert any(name in r.message and "undecodable" in r.message for r in caplog.records)
    store = open_store(tmp_path / "out")
    assert store.filenames == ["I0.jpg", "I1.jpg", "I3.jpg", "I5.jpg", "I6.jpg"]
    assert store.texts == ["ANNA", "LL", "TOM", "D'ARC", "JO"]
    assert [decode(row) for row in store.labels] == store.texts
    assert store.meta["resize"] == "fit"
    for position, name in enumerate(store.filenames):  # each image sits beside its own label
        np.testing.assert_array_equal(store.images[position], to_model_input(data[name], "fit"))


def test_entries_are_read_at_recorded_offsets_whatever_the_method(tmp_path):
    """Workers read entries by their recorded location without the zip's directory; every method
    the zip tools write gives the bytes zipfile itself gives."""
    import zipfile

    from hwr.data.archive import locate_images, read_entry

    path = tmp_path / "mixed.zip"
    methods = {"a/s.jpg": zipfile.ZIP_STORED, "a/d.jpg": zipfile.ZIP_DEFLATED, "a/b.jpg": zipfile.ZIP_BZIP2,
               "a/l.jpg": zipfile.ZIP_LZMA}
    payloads = {name: jpeg_bytes(seed=i) for i, name in enumerate(methods)}
    with zipfile.ZipFile(path, "w") as archive:
        for name, method in methods.items():
            archive.writestr(name, payloads[name], compress_type=method)
    located = locate_images(path)
    with open(path, "rb") as handle:
        for entry in located.values():
            assert read_entry(handle, entry) == payloads[entry.member]
    assert {e.method for e in located.values()} == set(methods.values())


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
    assert streamed == whole and [e["file"] for e in whole["skipped_examples"]] == ["I3.jpg"]
    assert whole["written"] == 6
    for name in ("images.u8", "labels.npy", "index.csv"):
        assert (tmp_path / "streamed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_rows_without_locations_read_the_zip_directory_once(tmp_path, monkeypatch):
    """Rows that lack the unzip stage's (offset, size, method) columns are looked up in the zip's
    directory: read once for the split, not once per block of work."""
    import zipfile

    from hwr.data.splits import index_split

    monkeypatch.setattr(preprocessing, "CHUNK", 2)  # blocks of 2 x jobs x 8 rows: 3 blocks here
    rows = [(f"I{i}.jpg", "ANNA") for i in range(40)]
    zip_path, csv_path = write_split(tmp_path / "raw", "train", rows,
                                     images={n: jpeg_bytes(seed=i) for i, (n, _) in enumerate(rows)})
    located, _ = index_split(zip_path, csv_path)  # what the unzip stage records: where, and what, each entry is
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


def test_every_kind_of_bad_image_is_skipped_under_its_own_reason(tmp_path, caplog):
    """One split holding one of each bad image, between good ones, decoded by two workers: each bad
    one is skipped and counted under its reason, logged with its file, and every good row is kept,
    in order, beside its own label."""
    import zipfile

    from PIL import Image

    from hwr.data.splits import index_split

    good = {f"G{i}.jpg": jpeg_bytes(seed=i) for i in range(6)}
    sos = good["G0.jpg"].index(b"\xff\xda")
    bad = {
        "damaged.jpg": good["G0.jpg"][: sos + 40] + bytes(200) + good["G0.jpg"][sos + 240 :],
        "huge.png": _png(Image.new("L", (500, 500), 255)),  # 250,000 pixels, over the limit below
        "bomb.jpg": bytes(300_000),  # inflates past the size cap below
        "crc.jpg": jpeg_bytes(seed=40),  # overwritten in the zip below
        "text.jpg": b"not an image at all",
    }
    order = ["G0.jpg", "damaged.jpg", "G1.jpg", "huge.png", "G2.jpg", "bomb.jpg", "G3.jpg", "crc.jpg", "G4.jpg",
             "text.jpg", "G5.jpg"]
    rows = [(name, "ANNA" if name.startswith("G") else "BAD") for name in order]
    zip_path = tmp_path / "raw" / "train_v2.zip"
    zip_path.parent.mkdir()
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name in order:
            archive.writestr(f"train_v2/train/{name}", {**good, **bad}[name], compress_type=zipfile.ZIP_DEFLATED)
    csv_path = tmp_path / "raw" / "written_name_train_v2.csv"
    csv_path.write_text("FILENAME,IDENTITY\n" + "".join(f"{n},{t}\n" for n, t in rows))
    located, _ = index_split(zip_path, csv_path)
    crc = located.set_index("FILENAME").loc["crc.jpg"]
    raw = bytearray(zip_path.read_bytes())  # 20 bytes overwritten in the middle of the entry's data
    middle = int(crc["offset"]) + 30 + len("train_v2/train/crc.jpg") + int(crc["size"]) // 2
    raw[middle : middle + 20] = bytes(20)
    zip_path.write_bytes(bytes(raw))

    report = preprocessing.preprocess_split(str(zip_path), located, str(tmp_path / "out"), jobs=2,
                                            max_pixels=100_000, max_image_bytes=200_000)
    assert report["rows"] == 11 and report["written"] == 6
    assert report["skipped"] == {"damaged_entry": 1, "too_large": 1, "too_many_pixels": 1, "damaged": 1,
                                 "undecodable": 1}
    reasons = {e["file"]: e["reason"] for e in report["skipped_examples"]}
    assert reasons == {"damaged.jpg": "damaged", "huge.png": "too_many_pixels", "bomb.jpg": "too_large",
                       "crc.jpg": "damaged_entry", "text.jpg": "undecodable"}
    for name, reason in reasons.items():
        assert any(name in r.message and preprocessing.SKIP_REASONS[reason] in r.message for r in caplog.records)
    store = open_store(tmp_path / "out")
    assert store.filenames == [f"G{i}.jpg" for i in range(6)]
    for position, name in enumerate(store.filenames):
        np.testing.assert_array_equal(store.images[position], to_model_input(good[name]))
    kept = preprocessing.preprocess_split(str(zip_path), located, str(tmp_path / "kept"), jobs=1,
                                          max_pixels=100_000, max_image_bytes=200_000, keep_damaged=True)
    assert kept["written"] == 7 and kept["skipped"]["damaged"] == 0  # kept on request


def _png(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_build_store_decodes_a_seeded_selection_of_the_clean_rows(tmp_path):
    """``limit``: only that many clean rows are decoded, the same seeded choice each time, nested
    (fine-tuning's synthetic names); a label the clean rules drop is never among them."""
    rows = [(f"I{i}.jpg", "UNREADABLE" if i == 3 else f"NAME{chr(65 + i)}") for i in range(10)]
    zip_path, csv_path = write_split(tmp_path / "raw", "train", rows)
    whole = preprocessing.build_store(zip_path, csv_path, tmp_path / "whole", jobs=1)
    assert len(whole) == 9 and "I3.jpg" not in whole.filenames
    few = preprocessing.build_store(zip_path, csv_path, tmp_path / "few", jobs=1, limit=4, seed=2)
    more = preprocessing.build_store(zip_path, csv_path, tmp_path / "more", jobs=1, limit=6, seed=2)
    assert len(few) == 4 and set(few.filenames) < set(more.filenames) <= set(whole.filenames)
    for name, text in zip(few.filenames, few.texts):
        assert text == dict(rows)[name]
        np.testing.assert_array_equal(few.images[few.filenames.index(name)],
                                      whole.images[whole.filenames.index(name)])
    again = preprocessing.build_store(zip_path, csv_path, tmp_path / "again", jobs=1, limit=4, seed=2)
    assert again.filenames == few.filenames
