import pytest
from _support import jpeg_bytes, write_zip

from hwr.archive import index_images, open_zip, unsafe_reason
from hwr.errors import HwrError

JPG = b"\xff\xd8 not decoded here"


def test_images_indexed_by_file_name_at_any_depth(tmp_path):
    path = write_zip(tmp_path / "a.zip", {
        "top.jpg": JPG,
        "train_v2/": b"",
        "train_v2/train/TRAIN_00001.jpg": JPG,
        "deep/er/and/deeper/x.PNG": JPG,
        "one/two.jpeg": JPG,
        "train_v2/README.txt": b"text",
        "__MACOSX/train_v2/._TRAIN_00001.jpg": JPG,
        "train_v2/.hidden.jpg": JPG,
    })
    assert index_images(path) == {
        "top.jpg": "top.jpg",
        "TRAIN_00001.jpg": "train_v2/train/TRAIN_00001.jpg",
        "x.PNG": "deep/er/and/deeper/x.PNG",
        "two.jpeg": "one/two.jpeg",
    }


def test_real_layout(tmp_path):
    path = write_zip(tmp_path / "t.zip", {f"test_v2/test/VALIDATION_{i:04d}.jpg": jpeg_bytes(seed=i) for i in (851, 852)})
    assert sorted(index_images(path)) == ["VALIDATION_0851.jpg", "VALIDATION_0852.jpg"]


@pytest.mark.parametrize("entry,reason", [
    ("../evil.jpg", ".."),
    ("train_v2/../../evil.jpg", ".."),
    ("..\\evil.jpg", ".."),
    ("/etc/evil.jpg", "absolute"),
    ("C:/evil.jpg", "absolute"),
    ("\\\\server\\evil.jpg", "absolute"),
])
def test_unsafe_entries_refuse_the_archive(tmp_path, entry, reason):
    path = write_zip(tmp_path / "bad.zip", {"train_v2/train/ok.jpg": JPG, entry: JPG})
    with pytest.raises(HwrError) as info:
        index_images(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and repr(entry) in message and reason in message


def test_unsafe_directory_entry_is_refused_too(tmp_path):
    path = write_zip(tmp_path / "bad.zip", {"../outside/": b""})
    with pytest.raises(HwrError, match="unsafe"):
        index_images(path)


@pytest.mark.parametrize("name,expected", [
    ("a/b.jpg", None), ("a..b.jpg", None), ("..a/b.jpg", None), ("a/b/", None),
    ("../a.jpg", "parent-directory ('..') component"), ("a/../b.jpg", "parent-directory ('..') component"),
    ("/a.jpg", "absolute path"), ("D:\\a.jpg", "absolute path"),
])
def test_unsafe_reason(name, expected):
    assert unsafe_reason(name) == expected


def test_duplicate_file_names_are_ambiguous(tmp_path):
    path = write_zip(tmp_path / "dup.zip", {"a/x.jpg": JPG, "b/x.jpg": JPG})
    with pytest.raises(HwrError, match="'x.jpg'"):
        index_images(path)


def test_missing_and_corrupt_zip(tmp_path):
    with pytest.raises(HwrError, match="zip not found"):
        open_zip(tmp_path / "none.zip")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(HwrError) as info:
        index_images(bad)
    assert str(bad) in str(info.value) and "not a valid zip" in str(info.value)
