"""What ``hwr predict`` reads: image files named on the command line, in folders (recursively),
matched by globs, or listed one a line on standard input (``-``), and their bytes.

Nothing bad is lost silently: a name that matches nothing, a file that cannot be read, an empty
file or one that is not an image becomes a :class:`Skip` with the reason, which the caller reports
and counts. In folders, only files named like images are read (other files are counted as ignored,
hidden ones too), so a README beside the scans is not an error.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

import numpy as np

from hwr.data.images import WIDTH, TooManyPixels, UndecodableImage, to_model_input

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm",
                            ".ppm", ".pbm"})
MAX_FILE_BYTES = 64 * 1024 * 1024  # far above any scan of a name; bounds what one file may take in memory


@dataclass(frozen=True)
class Skip:
    """An input not read, and why (``reason`` is one of a few short words, for the counts)."""

    path: str
    reason: str
    detail: str = ""

    def message(self) -> str:
        return f"skipped {self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Found:
    """The image paths found, in order, the names that gave none, and how many folder entries
    were left out for not being named like images."""

    paths: list[str] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    ignored: int = 0


def _in_folder(folder: str, found: Found) -> None:
    def unreadable(error: OSError) -> None:
        found.skips.append(Skip(error.filename or folder, "unreadable", error.strerror or type(error).__name__))

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                found.ignored += 1
            else:
                found.paths.append(os.path.join(root, name))


def find_images(inputs: Iterable[str], stdin: TextIO | None = None) -> Found:
    """Expands ``inputs``: a file is taken as it is (whatever its name), a folder is walked, a
    glob (``*``, ``?``, ``[...]``, ``**``) is matched, ``-`` reads more inputs from ``stdin``."""
    found = Found()

    def add(item: str, expand_globs: bool = True) -> None:
        if os.path.isdir(item):
            _in_folder(item, found)
        elif os.path.exists(item):
            found.paths.append(item)
        elif expand_globs and glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                found.skips.append(Skip(item, "no match", "no file matches this pattern"))
            for match in matches:
                add(match, expand_globs=False)
        else:
            found.skips.append(Skip(item, "not found"))

    for item in inputs:
        if item == "-":
            if stdin is None:
                continue
            for line in stdin:
                line = line.rstrip("\r\n")
                if line.strip():
                    add(line, expand_globs=False)  # a listed path is a name, not a pattern
        else:
            add(item)
    return found


def load_image(path: str, resize: str, width: int = WIDTH) -> np.ndarray | Skip:
    """The (64, width) model input of the image at ``path``, or the Skip that says why not."""
    try:
        size = os.stat(path).st_size
        if size == 0:
            return Skip(path, "empty file")
        if size > MAX_FILE_BYTES:
            return Skip(path, "too large", f"{size:,} bytes, more than {MAX_FILE_BYTES:,}")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return Skip(path, "unreadable", exc.strerror or type(exc).__name__)
    try:
        return to_model_input(data, resize, width=width)
    except TooManyPixels as exc:  # an image, only too big: not "not an image"
        return Skip(path, "too many pixels", str(exc).splitlines()[0][:200])
    except (UndecodableImage, ValueError) as exc:  # ValueError: what a decoder refuses
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Skip(path, "not an image", detail[:200])


def summary(read: int, skips: list[Skip], ignored: int) -> str:
    """One line: images read, skips counted by reason, folder entries ignored."""
    text = f"read {read} image{'s' if read != 1 else ''}"
    if skips:
        counts = Counter(skip.reason for skip in skips)
        text += f"; skipped {len(skips)}: " + ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    if ignored:
        text += f"; ignored {ignored} other file{'s' if ignored != 1 else ''} in folders (not named like images)"
    return text
