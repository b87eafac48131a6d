"""Safe zip reading: images are found by file name at any depth; unsafe entries are refused.

The pipeline never extracts the archive (decoding reads straight from the zip), but an archive
with an absolute path or a ``..`` component is refused all the same: it is either corrupt or
hostile, and a user extracting it by hand would be hurt by it.
"""

from __future__ import annotations

import posixpath
import zipfile
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
    index: dict[str, str] = {}
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
                    f"{path}: two entries named {base!r} ({index[base]!r} and {info.filename!r}); "
                    "file names must be unique within a split"
                )
            index[base] = info.filename
    return index
