import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwr.core.alphabet import encode_many
from hwr.core.errors import HwrError
from hwr.data.store import IMAGES, Store, StoreWriter, gather, open_store


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


def test_rows_written_by_other_processes_are_taken_over(tmp_path):
    """Workers write rows into images_path at their own positions; take_written keeps the rows marked
    kept, in order, moving later rows down over dropped ones, and the file ends at the last kept row."""
    import os

    from hwr.data.store import write_rows

    with StoreWriter(tmp_path / "s", 6) as writer:
        writer.append(images(2))
        fd = os.open(writer.images_path, os.O_WRONLY)
        write_rows(fd, images(3, start=2), 2)  # another process's chunk, then the next one's
        write_rows(fd, images(3, start=5), 5)
        os.close(fd)
        writer.take_written([True, False, True, True, True, False])  # rows 3 and 7 failed to decode
        with pytest.raises(ValueError, match="capacity"):
            writer.take_written([True, True])
        writer.commit(encode_many(["A"] * 6), index(["A"] * 6), {})
    assert (tmp_path / "s" / IMAGES).stat().st_size == 6 * 64 * 256
    np.testing.assert_array_equal(open_store(tmp_path / "s").images, images(8)[[0, 1, 2, 4, 5, 6]])


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


def test_index_is_read_only_when_its_columns_are_asked_for(tmp_path):
    """Training needs no per-row strings: texts_of decodes labels, and index.csv is parsed only
    for filenames or texts (evaluation), once, and checked against the store then."""
    texts = ["ANNA", "NA", "", "JEAN-PAUL", "D'ARC"]
    with StoreWriter(tmp_path / "s", len(texts)) as writer:
        writer.append(images(len(texts)))
        writer.commit(encode_many(texts), index(texts), {})
    store = open_store(tmp_path / "s")
    assert store.texts_of([3, 0, 2]) == ["JEAN-PAUL", "ANNA", ""]
    assert store.texts_of(np.arange(len(texts))) == texts and store.texts_of([]) == []
    assert store._index is None  # not parsed so far
    assert store.texts == texts and store.filenames[1] == "F1.jpg" and store.texts is store.texts
    index(texts[:4]).to_csv(tmp_path / "s" / "index.csv", index=False)
    short = open_store(tmp_path / "s")  # opens: the index is not read yet
    with pytest.raises(HwrError, match="inconsistent.*4 index rows"):
        short.filenames
    (tmp_path / "s" / "index.csv").unlink()
    with pytest.raises(HwrError, match="index.csv is missing"):
        open_store(tmp_path / "s")


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


def test_rows_streamed_with_add_rows_equal_rows_given_at_commit(tmp_path):
    """Labels and index rows can be written a chunk at a time (flat memory for any split size)."""
    texts = ["ANNA", "LL", "NA", "JEAN-PAUL", "D'ARC"]
    with StoreWriter(tmp_path / "streamed") as writer:
        for start, stop in ((0, 2), (2, 2), (2, 5)):  # an empty chunk too
            writer.append(images(stop - start, start=start))
            writer.add_rows(encode_many(texts[start:stop]), index(texts)[start:stop])
        writer.commit(meta={"resize": "fit"})
    with StoreWriter(tmp_path / "at_once", len(texts)) as writer:
        writer.append(images(5))
        writer.commit(encode_many(texts), index(texts), {"resize": "fit"})
    streamed, at_once = open_store(tmp_path / "streamed"), open_store(tmp_path / "at_once")
    np.testing.assert_array_equal(streamed.labels, at_once.labels)
    assert streamed.labels.dtype == np.int16 and streamed.texts == texts and streamed.filenames == at_once.filenames
    assert (tmp_path / "streamed" / "index.csv").read_bytes() == (tmp_path / "at_once" / "index.csv").read_bytes()
    assert sorted(p.name for p in (tmp_path / "streamed").iterdir()) == ["images.u8", "index.csv", "labels.npy", "meta.json"]


def test_rows_and_images_must_match_at_commit(tmp_path):
    with pytest.raises(ValueError, match="2 rows, 3 images"):
        with StoreWriter(tmp_path / "s") as writer:
            writer.append(images(3))
            writer.add_rows(encode_many(["A", "B"]), index(["A", "B"]))
            writer.commit(meta={})
    assert not (tmp_path / "s").exists() and not leftovers(tmp_path)


def test_store_images_index_like_an_array_without_mapping_the_file(tmp_path):
    """Rows are read on demand (pread), never memory-mapped: a mapped store's touched pages would
    count in the process's memory and grow with the dataset over an epoch."""
    texts = [f"N{'A' * (i % 5)}" for i in range(9)]
    expected = np.stack([np.random.default_rng(i).integers(0, 256, (64, 256), dtype=np.uint8) for i in range(9)])
    with StoreWriter(tmp_path / "s") as writer:
        writer.append(expected)
        writer.commit(encode_many(texts), index(texts), {})
    store = open_store(tmp_path / "s")
    pick = np.array([7, 2, 2, 3, 4, 0, 8])  # unsorted, repeated, with a consecutive run
    np.testing.assert_array_equal(store.images[pick], expected[pick])
    np.testing.assert_array_equal(store.images[-1], expected[-1])
    np.testing.assert_array_equal(store.images[2:6], expected[2:6])
    np.testing.assert_array_equal(store.images[np.arange(9) % 2 == 0], expected[::2])
    np.testing.assert_array_equal(np.asarray(store.images), expected)
    assert store.images[np.array([], dtype=np.int64)].shape == (0, 64, 256)
    images_batch, labels_batch = gather(store, pick)
    np.testing.assert_array_equal(images_batch, expected[pick])
    np.testing.assert_array_equal(labels_batch, encode_many(texts)[pick])
    with pytest.raises(IndexError):
        store.images[np.array([9])]
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(tmp_path / "s" / IMAGES) not in maps.read_text()


def test_truncated_image_file_is_reported(tmp_path):
    with StoreWriter(tmp_path / "s") as writer:
        writer.append(images(3))
        writer.commit(encode_many(["A", "B", "C"]), index(["A", "B", "C"]), {})
    with open(tmp_path / "s" / IMAGES, "r+b") as f:
        f.truncate(64 * 256 * 2)
    with pytest.raises(HwrError, match="shorter than 3 images; re-run preprocess"):
        open_store(tmp_path / "s")


# ---------------------------------------------------------------- select and concat

def test_select_is_seeded_sorted_and_nested():
    from hwr.data.store import select

    small, large = select(100, 10, seed=3), select(100, 30, seed=3)
    assert len(small) == 10 and (np.diff(small) > 0).all() and set(small) <= set(large)
    assert len(select(5, 10, seed=0)) == 5


def _stored(path, texts, start=0, resize="crop"):
    with StoreWriter(path, len(texts)) as writer:
        writer.append(images(len(texts), start))
        writer.commit(encode_many(texts), pd.DataFrame({"FILENAME": [f"{path.name}{i}.jpg" for i in range(len(texts))],
                                                        "IDENTITY": texts}), {"resize": resize})
    return open_store(path)


def test_concat_repeats_selects_and_relabels_parts(tmp_path, monkeypatch):
    """Rows chosen, repeated, relabelled (pseudo-labels), copied a block at a time; in part order."""
    from hwr.data import store as store_module
    from hwr.data.store import Part, concat

    monkeypatch.setattr(store_module, "COPY_ROWS", 2)  # several blocks per part
    real = _stored(tmp_path / "real", ["ANNA", "LEA", "TOM", "JO", "MARC"])
    synth = _stored(tmp_path / "synth", ["ZOE", "LUC"], start=100)
    unlabeled = _stored(tmp_path / "unlabeled", ["", "", ""], start=200)
    mix = concat([Part(real, 2, np.array([0, 2, 4])), (synth, 1), Part(unlabeled, 1, np.array([2, 0]), ["EVE", "IDA"])],
                 tmp_path / "mix")
    assert mix.texts == ["ANNA", "TOM", "MARC"] * 2 + ["ZOE", "LUC", "EVE", "IDA"]
    assert mix.filenames[-2:] == ["unlabeled2.jpg", "unlabeled0.jpg"]
    np.testing.assert_array_equal(mix.labels, encode_many(mix.texts))
    expected = np.concatenate([images(5)[[0, 2, 4]]] * 2 + [images(2, 100), images(3, 200)[[2, 0]]])
    np.testing.assert_array_equal(mix.images, expected)
    assert mix.meta["resize"] == "crop" and mix.meta["count"] == 10


def test_a_store_of_wider_crops_keeps_its_width_and_refuses_narrower_rows(tmp_path):
    from hwr.data.store import check_store_width

    wide = np.stack([np.full((64, 384), i, np.uint8) for i in range(3)])
    with StoreWriter(tmp_path / "wide", 3, width=384) as writer:
        writer.append(wide[:2])
        with pytest.raises(ValueError, match="rows must be 64x384"):
            writer.append(images(1))
        writer.append(wide[2:])
        writer.commit(encode_many(["A", "B", "C"]), index(["A", "B", "C"]), {"resize": "crop"})
    store = open_store(tmp_path / "wide")
    assert store.images.shape == (3, 64, 384) and store.meta["shape"] == [3, 64, 384]
    np.testing.assert_array_equal(store.images[[2, 0]], wide[[2, 0]])
    check_store_width(store, 384, "a model")
    with pytest.raises(HwrError, match=r"wide: its crops are 384 px wide, m\.pt reads 512; set preprocess\.width"):
        check_store_width(store, 512, "m.pt")
    narrow = _stored(tmp_path / "narrow", ["ANNA"])
    from hwr.data.store import concat

    with pytest.raises(HwrError, match="different widths"):
        concat([(narrow, 1), (store, 1)], tmp_path / "mix")
    assert concat([(store, 2)], tmp_path / "mix").images.shape == (6, 64, 384)


def test_concat_refuses_stores_of_different_resize_modes(tmp_path):
    from hwr.data.store import concat

    crop, fit = _stored(tmp_path / "crop", ["ANNA"]), _stored(tmp_path / "fit", ["LEA"], resize="fit")
    with pytest.raises(HwrError, match="resize"):
        concat([(crop, 1), (fit, 1)], tmp_path / "mix")
    assert not (tmp_path / "mix").exists()
