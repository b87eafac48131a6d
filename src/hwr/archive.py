"""Safe zip reading: images are found by file name at any depth; unsafe entries are refused.

The pipeline never extracts the archive (decoding reads straight from the zip), but an archive
with an absolute path or a ``..`` component is refused all the same: it is either corrupt or
hostile, and a user extracting it by hand would be hurt by it.
"""

from __future__ import annotations

import posixpath
import struct
import zipfile
import zlib
from pathlib import Path

from hwr.errors import HwrError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def unsafe_reason(name: str) -> str | None:
    """Why a zip entry name is unsafe to extract, or None if it is safe."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return "absolute path"
    if ".." in normalised.split("/"):
        return "parent-directory ('..') component"
    return None


def open_zip(path: str | Path) -> zipfile.ZipFile:
    """Open a zip, turning a missing or corrupt file into a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: zip not found; check data.raw_dir and data.zip_name in params.yaml")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise HwrError(f"{path}: not a valid zip ({exc}); re-download or re-create it") from None


def index_images(path: str | Path) -> dict[str, str]:
    """Map image file name (basename) -> member name inside the zip, at any depth.

    Raises HwrError on an unsafe entry or on two images with the same file name (the CSV names
    images by file name alone, so such a zip is ambiguous).
    """
    return {name: entry[0] for name, entry in locate_images(path).items()}


def locate_images(path: str | Path) -> dict[str, tuple[str, int, int, int]]:
    """Like :func:`index_images`, with where each entry's bytes lie: file name ->
    (member, local header offset, compressed size, compression method). Readers given these
    need not load the zip's directory (hundreds of MB for 400k entries) to read an image."""
    index: dict[str, tuple[str, int, int, int]] = {}
    with open_zip(path) as archive:
        for info in archive.infolist():
            reason = unsafe_reason(info.filename)
            if reason:
                raise HwrError(
                    f"{path}: unsafe zip entry {info.filename!r} ({reason}); refusing the archive"
                )
            if info.is_dir():
                continue
            base = posixpath.basename(info.filename.replace("\\", "/"))
            if base.startswith(".") or not base.lower().endswith(IMAGE_SUFFIXES):
                continue  # e.g. __MACOSX/._x.jpg resource forks or a README inside the zip
            if "__MACOSX/" in info.filename:
                continue
            if base in index:
                raise HwrError(
                    f"{path}: two entries named {base!r} ({index[base][0]!r} and {info.filename!r}); "
                    "file names must be unique within a split"
                )
            method = info.compress_type if not info.flag_bits & 0x1 else -1  # -1: encrypted
            index[base] = (info.filename, info.header_offset, info.compress_size, method)
    return index


def read_entry(handle, offset: int, size: int, method: int) -> bytes:
    """The bytes of one zip entry from an open binary file, given its :func:`locate_images` record."""
    handle.seek(offset)
    header = handle.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local file header at offset {offset}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    handle.seek(offset + 30 + name_length + extra_length)
    data = handle.read(size)
    if method == zipfile.ZIP_STORED:
        return data
    if method == zipfile.ZIP_DEFLATED:
        return zlib.decompress(data, -zlib.MAX_WBITS)
    raise zipfile.BadZipFile(f"unsupported compression method {method} (store or deflate the zip)")
