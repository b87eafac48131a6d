"""hwr.synth.writer (generate_dataset): the Kaggle layout, byte-reproducible, validated, atomic."""

import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from hwr.core.alphabet import ALPHABET, MAX_LABEL_LENGTH
from hwr.synth import generate_dataset

WIDTHS = {388, 284, 324}


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_same_seed_same_bytes_any_jobs(tmp_path):
    sizes = {"train": 40, "test": 8}
    a = generate_dataset(tmp_path / "a", sizes, seed=11, jobs=1)
    b = generate_dataset(tmp_path / "b", sizes, seed=11, jobs=2)
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(fa) == ["test_v2.zip", "train_v2.zip", "written_name_test_v2.csv", "written_name_train_v2.csv"]
    assert fa == fb
    assert a == b
    generate_dataset(tmp_path / "c", sizes, seed=12, jobs=2)
    fc = _files(tmp_path / "c")
    assert fc["train_v2.zip"] != fa["train_v2.zip"]
    assert fc["written_name_train_v2.csv"] != fa["written_name_train_v2.csv"]


def test_no_temp_files_left(small_dataset):
    out, _ = small_dataset
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


@pytest.mark.parametrize("split,n", [("train", 60), ("validation", 12), ("test", 12)])
def test_kaggle_layout(small_dataset, split, n):
    out, stats = small_dataset
    assert stats[split]["images"] == n
    assert sum(stats[split]["layouts"].values()) == n
    assert sum(stats[split]["styles"].values()) == n
    raw = (out / f"written_name_{split}_v2.csv").read_bytes()
    assert b"\r" not in raw and raw.startswith(b"FILENAME,IDENTITY\n") and raw.endswith(b"\n")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    assert rows[0] == ["FILENAME", "IDENTITY"] and len(rows) == n + 1
    prefix = split.upper()
    with zipfile.ZipFile(out / f"{split}_v2.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [f"{split}_v2/{split}/{prefix}_{i:05d}.jpg" for i in range(1, n + 1)]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert [r[0] for r in rows[1:]] == [i.filename.rsplit("/", 1)[1] for i in infos]
        for (fname, label), info in zip(rows[1:], infos):
            assert 1 <= len(label) <= MAX_LABEL_LENGTH and set(label) <= set(ALPHABET), label
            assert label == label.strip() and "  " not in label
            im = Image.open(io.BytesIO(zf.read(info)))
            assert im.format == "JPEG" and im.mode == "RGB"
            w, h = im.size
            assert w in WIDTHS
            assert {388: (14, 36), 284: (31, 72), 324: (44, 44)}[w][0] <= h <= {388: 36, 284: 72, 324: 44}[w]


def test_layout_and_style_mix_roughly_right(small_dataset):
    _, stats = small_dataset
    layouts = stats["train"]["layouts"]
    assert set(layouts) <= {"form388", "box284", "box324"} and len(layouts) == 3
    styles = stats["train"]["styles"]
    assert styles.get("hershey", 0) > styles.get("ttf", 0) > 0


def test_style_mix_only_hershey(tmp_path):
    stats = generate_dataset(tmp_path, {"validation": 10}, seed=1, jobs=1, style_mix={"hershey": 1.0})
    assert stats["validation"]["styles"] == {"hershey": 10}


def test_zero_size_split(tmp_path):
    stats = generate_dataset(tmp_path, {"test": 0}, seed=0, jobs=1)
    assert stats["test"]["images"] == 0
    assert (tmp_path / "written_name_test_v2.csv").read_bytes() == b"FILENAME,IDENTITY\n"
    with zipfile.ZipFile(tmp_path / "test_v2.zip") as zf:
        assert zf.namelist() == []


@pytest.mark.parametrize("sizes,word", [
    ({"train": -1}, "train"),
    ({"validation": 2.5}, "validation"),
    ({"test": "3"}, "test"),
    ({"train": True}, "train"),
    ({"dev": 3}, "dev"),
])
def test_invalid_sizes(tmp_path, sizes, word):
    with pytest.raises(ValueError, match=word):
        generate_dataset(tmp_path, sizes)


@pytest.mark.parametrize("mix", [{"hershey": -1.0, "ttf": 1.0}, {"hershey": 0, "ttf": 0}, {"comic": 1.0},
                                 {"hershey": float("nan")}, {"ttf": "a"}, {}])
def test_invalid_style_mix(tmp_path, mix):
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, {"train": 1}, style_mix=mix)
    assert not list(tmp_path.iterdir())  # validated before anything is written


def test_images_look_like_scans(small_dataset):
    out, _ = small_dataset
    with zipfile.ZipFile(out / "train_v2.zip") as zf:
        arrs = [np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("L")) for n in zf.namelist()]
    medians = [np.median(a) for a in arrs]
    means = [a.mean() for a in arrs]
    assert np.median(medians) == 255
    assert 225 < np.mean(means) < 254
