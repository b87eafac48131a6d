import json

import numpy as np
import pandas as pd
import pytest

from hwr.alphabet import encode_many
from hwr.errors import HwrError
from hwr.store import IMAGES, Store, StoreWriter, gather, open_store


def images(n, start=0):
    return np.stack([np.full((64, 256), (start + i) % 256, np.uint8) for i in range(n)]) if n else np.zeros((0, 64, 256), np.uint8)


def index(texts):
    return pd.DataFrame({"FILENAME": [f"F{i}.jpg" for i in range(len(texts))], "IDENTITY": texts})


def leftovers(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_round_trip(tmp_path):
    texts = ["ANNA", "LL", "NA", "JEAN-PAUL", "D'ARC"]
    with StoreWriter(tmp_path / "train", len(texts)) as writer:
        writer.append(images(2))
        writer.append(images(3, start=2))
        writer.commit(encode_many(texts), index(texts), {"resize": "crop"})
    store = open_store(tmp_path / "train")
    assert isinstance(store, Store) and len(store) == 5
    np.testing.assert_array_equal(store.images, images(5))
    np.testing.assert_array_equal(store.labels, encode_many(texts))
    assert store.texts == texts  # "NA" stays a name
    assert store.filenames == [f"F{i}.jpg" for i in range(5)]
    assert store.meta["resize"] == "crop" and store.meta["count"] == 5 and store.meta["shape"] == [5, 64, 256]
    assert not leftovers(tmp_path)


def test_truncated_when_images_are_skipped(tmp_path):
    with StoreWriter(tmp_path / "s", 10) as writer:
        writer.append(images(3))
        writer.append(images(0))
        writer.append(images(1, start=3))
        writer.commit(encode_many(["A"] * 4), index(["A"] * 4), {})
    assert (tmp_path / "s" / IMAGES).stat().st_size == 4 * 64 * 256
    store = open_store(tmp_path / "s")
    assert len(store) == 4
    np.testing.assert_array_equal(store.images, images(4))


def test_all_skipped_and_empty(tmp_path):
    with StoreWriter(tmp_path / "none_written", 3) as writer:
        writer.commit(encode_many([]), index([]), {})
    with StoreWriter(tmp_path / "zero_capacity", 0) as writer:
        writer.commit(encode_many([]), index([]), {})
    for name in ("none_written", "zero_capacity"):
        store = open_store(tmp_path / name)
        assert len(store) == 0 and store.images.shape == (0, 64, 256)


def test_failure_leaves_no_partial_directory(tmp_path):
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path / "train", 4) as writer:
            writer.append(images(2))
            raise RuntimeError("decoder crashed")
    assert not (tmp_path / "train").exists()
    assert not leftovers(tmp_path)


def test_failure_keeps_the_previous_store(tmp_path):
    with StoreWriter(tmp_path / "train", 2) as writer:
        writer.append(images(2))
        writer.commit(encode_many(["A", "B"]), index(["A", "B"]), {"version": 1})
    with pytest.raises(KeyboardInterrupt):
        with StoreWriter(tmp_path / "train", 3) as writer:
            writer.append(images(3, start=50))
            raise KeyboardInterrupt
    store = open_store(tmp_path / "train")
    assert store.meta["version"] == 1 and store.texts == ["A", "B"]
    assert not leftovers(tmp_path)


def test_commit_replaces_the_previous_store(tmp_path):
    for version, texts in ((1, ["A", "B", "C"]), (2, ["Z"])):
        with StoreWriter(tmp_path / "train", len(texts)) as writer:
            writer.append(images(len(texts), start=version))
            writer.commit(encode_many(texts), index(texts), {"version": version})
    store = open_store(tmp_path / "train")
    assert store.meta["version"] == 2 and store.texts == ["Z"]
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["images.u8", "index.csv", "labels.npy", "meta.json"]


def test_commit_refuses_mismatched_labels(tmp_path):
    with pytest.raises(ValueError):
        with StoreWriter(tmp_path / "train", 3) as writer:
            writer.append(images(3))
            writer.commit(encode_many(["A", "B"]), index(["A", "B"]), {})
    assert not (tmp_path / "train").exists() and not leftovers(tmp_path)


def test_writer_without_commit_leaves_nothing(tmp_path):
    with StoreWriter(tmp_path / "train", 2) as writer:
        writer.append(images(1))
    assert not (tmp_path / "train").exists() and not leftovers(tmp_path)


def test_open_store_errors(tmp_path):
    with pytest.raises(HwrError, match="preprocess"):
        open_store(tmp_path / "missing")
    with StoreWriter(tmp_path / "s", 2) as writer:
        writer.append(images(2))
        writer.commit(encode_many(["A", "B"]), index(["A", "B"]), {})
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    np.save(tmp_path / "s" / "labels.npy", encode_many(["A"]))
    with pytest.raises(HwrError, match="inconsistent"):
        open_store(tmp_path / "s")
    assert meta["count"] == 2


def test_gather_keeps_the_requested_order(tmp_path):
    texts = [chr(ord("A") + i) for i in range(6)]
    with StoreWriter(tmp_path / "s", 6) as writer:
        writer.append(images(6))
        writer.commit(encode_many(texts), index(texts), {})
    store = open_store(tmp_path / "s")
    idx = np.array([4, 0, 5, 0])
    batch, labels = gather(store, idx)
    assert [int(b[0, 0]) for b in batch] == [4, 0, 5, 0]
    np.testing.assert_array_equal(labels, store.labels[idx])


def test_append_beyond_capacity_is_refused(tmp_path):
    with pytest.raises(ValueError):
        with StoreWriter(tmp_path / "s", 2) as writer:
            writer.append(images(2))
            writer.append(images(1))
    assert not (tmp_path / "s").exists() and not leftovers(tmp_path)
