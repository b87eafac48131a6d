"""Safe zip reading: images are found by file name at any depth; unsafe entries are refused; every
entry read is bounded and checked.

The pipeline never extracts the archive (decoding reads straight from the zip), but an archive
with an absolute path or a ``..`` component is refused all the same: it is either corrupt or
hostile, and a user extracting it by hand would be hurt by it.

An entry is read (:func:`read_entry`) from where the zip's directory says it lies, without the
directory itself; the directory's declared sizes are checked against a cap before anything is
read, the inflation is bounded by the declared size (a header that lies cannot make it inflate
more), and the bytes are checked against the directory's CRC-32.
"""

from __future__ import annotations

import bz2
import lzma
import posixpath
import struct
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

from hwr.core.errors import HwrError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Compression methods read here (zipfile's names): what zip tools write by default, and the two
# that Python reads without extra packages
READABLE_METHODS = {zipfile.ZIP_STORED: "store", zipfile.ZIP_DEFLATED: "deflate",
                    zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
_LOCAL_HEADER = 30
_READ_BLOCK = 1 << 20  # compressed bytes fed to a decompressor at a time


class Entry(NamedTuple):
    """Where one zip entry's bytes lie and what they must be, from the zip's directory."""

    member: str  # name inside the zip
    offset: int  # of its local header
    size: int  # compressed size
    method: int  # compression method (zipfile.ZIP_*)
    crc: int  # CRC-32 of the inflated bytes
    file_size: int  # inflated size


LOCATION_COLUMNS = list(Entry._fields[1:])  # an entry's record without its name, as the rows CSVs hold it


class DamagedEntry(ValueError):
    """An entry whose bytes do not match the zip's directory: truncated, overwritten or forged."""

    reason = "damaged_entry"


class EntryTooLarge(ValueError):
    """An entry that inflates to more than the cap (checked before anything is inflated)."""

    reason = "too_large"


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
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise HwrError(f"{path}: not a valid zip ({exc}); re-download or re-create it") from None


def index_images(path: str | Path) -> dict[str, str]:
    """Map image file name (basename) -> member name inside the zip, at any depth.

    Raises HwrError on an unsafe entry or on two images with the same file name (the CSV names
    images by file name alone, so such a zip is ambiguous).
    """
    return {name: entry.member for name, entry in locate_images(path).items()}


def _unreadable_reason(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in READABLE_METHODS:
        name = zipfile.compressor_names.get(info.compress_type, "unknown")
        return f"is compressed with {name} (method {info.compress_type})"
    return None


def locate_images(path: str | Path) -> dict[str, Entry]:
    """Like :func:`index_images`, with where each entry's bytes lie and what they must be (an
    :class:`Entry`). Readers given these need not load the zip's directory (hundreds of MB for
    400k entries) to read an image.

    An image entry that cannot be read (encrypted, or a compression method other than store,
    deflate, bzip2 and lzma) refuses the archive here, before any work, rather than losing each
    image later."""
    index: dict[str, Entry] = {}
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
                    f"{path}: two entries named {base!r} ({index[base].member!r} and {info.filename!r}); "
                    "file names must be unique within a split"
                )
            unreadable = _unreadable_reason(info)
            if unreadable:
                raise HwrError(f"{path}: entry {info.filename!r} {unreadable}, which hwr cannot read; "
                               "re-create the zip unencrypted with store or deflate (e.g. `zip -r`)")
            index[base] = Entry(info.filename, info.header_offset, info.compress_size, info.compress_type,
                                info.CRC, info.file_size)
    return index


class _ZipLzma:
    """The LZMA of zip entries: a 4-byte header (version, properties size), LZMA1 properties, then
    a raw LZMA1 stream. The dictionary is capped at the entry's declared size: a stream's match
    distances never reach past what it has produced, so no valid entry needs more, and a forged
    header cannot make the decoder reserve gigabytes."""

    def __init__(self, file_size: int):
        self._file_size = file_size
        self._head = b""
        self._decoder: lzma.LZMADecompressor | None = None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._decoder is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            props_size = struct.unpack("<H", self._head[2:4])[0]
            if props_size != 5:
                raise lzma.LZMAError(f"unexpected LZMA properties size {props_size}")
            if len(self._head) < 4 + props_size:
                return b""
            props, data = self._head[4:9], self._head[9:]
            lc_lp_pb, dict_size = props[0], int.from_bytes(props[1:5], "little")
            if lc_lp_pb >= 9 * 5 * 5:
                raise lzma.LZMAError("bad LZMA properties")
            self._decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{
                "id": lzma.FILTER_LZMA1, "lc": lc_lp_pb % 9, "lp": lc_lp_pb // 9 % 5, "pb": lc_lp_pb // 45,
                "dict_size": max(4096, min(dict_size, self._file_size + 1))}])
        return self._decoder.decompress(data, max_length)


def _decompressor(method: int, file_size: int):
    if method == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-zlib.MAX_WBITS)
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    if method == zipfile.ZIP_LZMA:
        return _ZipLzma(file_size)
    raise DamagedEntry(f"unsupported compression method {method}")


def _inflate(handle, size: int, method: int, file_size: int) -> bytes:
    """Inflate ``size`` compressed bytes from ``handle`` into at most ``file_size + 1`` bytes: one
    more than the directory declares is enough to tell that it lied."""
    decompressor = _decompressor(method, file_size)
    out, left = bytearray(), size
    while left and len(out) <= file_size:
        block = handle.read(min(left, _READ_BLOCK))
        if not block:
            raise DamagedEntry(f"compressed data ends {left} bytes early (truncated zip)")
        left -= len(block)
        # input past the bound stays in the decompressor, never inflated; the loop then ends
        out += decompressor.decompress(block, file_size + 1 - len(out))
    return bytes(out)


def read_entry(handle, entry: Entry | tuple, max_bytes: int | None = None) -> bytes:
    """The bytes of one zip entry from an open binary file, given its :func:`locate_images` record.

    Raises :class:`EntryTooLarge` when the entry declares more than ``max_bytes`` inflated (or a
    compressed size no data of that size needs), before reading it; :class:`DamagedEntry` when its
    bytes disagree with the directory (size, CRC-32) or cannot be inflated. At most
    ``min(declared size, max_bytes) + 1`` bytes are ever inflated."""
    _, offset, size, method, crc, file_size = entry
    if max_bytes is not None and (file_size > max_bytes or size > max_bytes + max_bytes // 64 + 4096):
        declared = max(file_size, size)
        raise EntryTooLarge(f"declares {declared:,} bytes, over the {max_bytes:,}-byte limit "
                            "(preprocess.max_image_bytes)")
    handle.seek(offset)
    header = handle.read(_LOCAL_HEADER)
    if len(header) < _LOCAL_HEADER or header[:4] != b"PK\x03\x04":
        raise DamagedEntry(f"no local file header at offset {offset}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    handle.seek(offset + _LOCAL_HEADER + name_length + extra_length)
    try:
        if method == zipfile.ZIP_STORED:
            data = handle.read(size)
        else:
            data = _inflate(handle, size, method, file_size)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, MemoryError) as exc:
        raise DamagedEntry(f"cannot inflate ({exc})") from None
    if len(data) > file_size:
        raise DamagedEntry(f"inflates to more than the {file_size:,} bytes the zip's directory declares")
    if len(data) < file_size:
        raise DamagedEntry(f"holds {len(data):,} of the {file_size:,} bytes the zip's directory declares "
                           "(truncated zip)")
    if zlib.crc32(data) != crc:
        raise DamagedEntry("CRC-32 mismatch: the bytes differ from those the zip was made with")
    return data
