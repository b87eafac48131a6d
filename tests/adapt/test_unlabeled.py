"""hwr.adapt.unlabeled: unlabelled scans (a zip or a folder) into a store, unreadable images counted."""

import logging

import pytest
from _support import jpeg_bytes, write_zip

from hwr.adapt.unlabeled import unlabeled_store
from hwr.core.errors import HwrError
from hwr.params import PreprocessParams

ONE_JOB = PreprocessParams(jobs=1)


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
