import pytest
from _support import jpeg_bytes, write_zip

from hwr.core.errors import HwrError
from hwr.data.archive import index_images, open_zip, unsafe_reason

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


# ---------------------------------------------------------------- reading entries: bounds and integrity

import struct  # noqa: E402
import tracemalloc  # noqa: E402
import zipfile  # noqa: E402

from hwr.data.archive import DamagedEntry, Entry, EntryTooLarge, locate_images, read_entry  # noqa: E402

PAYLOAD = bytes(range(256)) * 40  # 10 kB, distinct bytes


def one_entry_zip(path, data: bytes, method=zipfile.ZIP_STORED, name="a/x.jpg"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=method)
    return path, locate_images(path)[name.rsplit("/", 1)[-1]]


def read(path, entry, max_bytes=None):
    with open(path, "rb") as handle:
        return read_entry(handle, entry, max_bytes)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_every_readable_method_gives_zipfiles_bytes(tmp_path, method):
    path, entry = one_entry_zip(tmp_path / "a.zip", PAYLOAD, method)
    assert entry.method == method and entry.file_size == len(PAYLOAD)
    with zipfile.ZipFile(path) as archive:
        assert read(path, entry) == archive.read("a/x.jpg") == PAYLOAD


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_overwritten_bytes_fail_the_crc(tmp_path, method):
    """200 bytes zeroed inside an entry's data (a bad disk block): the zip still opens, its directory
    is intact, but the entry's bytes no longer match their CRC-32 (or no longer inflate)."""
    path, entry = one_entry_zip(tmp_path / "a.zip", PAYLOAD, method)
    raw = bytearray(path.read_bytes())
    data_start = entry.offset + 30 + sum(struct.unpack("<HH", raw[entry.offset + 26 : entry.offset + 30]))
    spot = data_start + min(entry.size // 2, 40)
    raw[spot : spot + min(200, entry.size // 4)] = bytes(min(200, entry.size // 4))
    path.write_bytes(bytes(raw))
    with pytest.raises(DamagedEntry) as info:
        read(path, entry)
    assert info.value.reason == "damaged_entry"


def test_sizes_that_disagree_with_the_directory(tmp_path):
    path, entry = one_entry_zip(tmp_path / "a.zip", PAYLOAD, zipfile.ZIP_DEFLATED)
    with pytest.raises(DamagedEntry, match="more than the 100 bytes"):
        read(path, entry._replace(file_size=100))
    with pytest.raises(DamagedEntry, match="truncated"):
        read(path, entry._replace(file_size=len(PAYLOAD) + 5))
    with pytest.raises(DamagedEntry, match="local file header"):
        read(path, entry._replace(offset=entry.offset + 1))


def bomb(path, size: int, method=zipfile.ZIP_DEFLATED) -> tuple:
    """A zip whose one entry is ``size`` zero bytes, compressed ~1000:1, written in blocks."""
    info = zipfile.ZipInfo("a/bomb.jpg", (2024, 1, 1, 0, 0, 0))
    info.compress_type = method
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open(info, "w", force_zip64=True) as out:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(block)
    return path, locate_images(path)["bomb.jpg"]


def peak_allocated(call) -> int:
    tracemalloc.start()
    try:
        call()
    except (DamagedEntry, EntryTooLarge):
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, method):
    """A 16 MiB entry (16 kB compressed) against a 1 MiB cap: refused from the directory's size; and
    where the directory lies (says 10 kB), inflating stops one byte past what it declared."""
    path, entry = bomb(tmp_path / "bomb.zip", 16 << 20, method)
    assert entry.size < 1 << 20 and entry.file_size == 16 << 20
    with pytest.raises(EntryTooLarge) as info:
        read(path, entry, max_bytes=1 << 20)
    assert info.value.reason == "too_large" and "preprocess.max_image_bytes" in str(info.value)
    assert "16,777,216 bytes" in str(info.value)
    lying = entry._replace(file_size=10_000)
    with pytest.raises(DamagedEntry, match="more than the 10,000 bytes"):
        read(path, lying, max_bytes=1 << 20)
    assert peak_allocated(lambda: read(path, lying, max_bytes=1 << 20)) < 4 << 20  # not 16 MiB


def test_a_forged_compressed_size_is_refused_before_reading(tmp_path):
    path, entry = one_entry_zip(tmp_path / "a.zip", PAYLOAD, zipfile.ZIP_DEFLATED)
    with pytest.raises(EntryTooLarge):
        read(path, entry._replace(size=1 << 40), max_bytes=1 << 20)


def patch_central_directory(path, offset_in_header: int, value: bytes):
    raw = bytearray(path.read_bytes())
    at = raw.index(b"PK\x01\x02") + offset_in_header
    raw[at : at + len(value)] = value
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("field,value,words", [
    (10, struct.pack("<H", 9), "deflate64 (method 9)"),
    (10, struct.pack("<H", 98), "ppmd (method 98)"),
    (8, struct.pack("<H", 0x1), "is encrypted"),
])
def test_unreadable_entries_refuse_the_archive_at_once(tmp_path, field, value, words):
    """An entry hwr cannot read is refused when the zip is indexed, naming the entry and the fix,
    rather than every image of the split being skipped later."""
    path, _ = one_entry_zip(tmp_path / "a.zip", PAYLOAD)
    patch_central_directory(path, field, value)
    with pytest.raises(HwrError) as info:
        locate_images(path)
    message = str(info.value)
    assert words in message and "'a/x.jpg'" in message and str(path) in message and "\n" not in message


def test_entry_records_what_the_directory_says(tmp_path):
    path, entry = one_entry_zip(tmp_path / "a.zip", PAYLOAD, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("a/x.jpg")
    assert entry == Entry("a/x.jpg", info.header_offset, info.compress_size, zipfile.ZIP_DEFLATED, info.CRC,
                          len(PAYLOAD))


def test_truncated_zip_is_one_line(tmp_path):
    path, _ = one_entry_zip(tmp_path / "a.zip", PAYLOAD)
    path.write_bytes(path.read_bytes()[: len(PAYLOAD) // 2])
    with pytest.raises(HwrError) as info:
        locate_images(path)
    assert "not a valid zip" in str(info.value) and "\n" not in str(info.value)
