"""What ``hwr predict`` writes per image (a TSV line or a JSON line), and where (``-o``)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path

from hwr.core.files import atomic_file


def escape(text: str) -> str:
    """A path safe in a TSV field: tab, newline and backslash escaped as in Python literals."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def tsv_line(path: str, reading) -> str:
    """path, text, confidence, then (text, confidence) of each alternative, tab-separated."""
    fields = [escape(path), reading.text, f"{reading.confidence:.4f}"]
    for text, confidence in reading.alternatives:
        fields += [text, f"{confidence:.4f}"]
    return "\t".join(fields) + "\n"


def json_line(path: str, reading) -> str:
    """One JSON object a line: path, text, confidence, and alternatives when the decoder gives them."""
    obj = {"path": path, "text": reading.text, "confidence": round(reading.confidence, 6)}
    if reading.alternatives:
        obj["alternatives"] = [{"text": t, "confidence": round(c, 6)} for t, c in reading.alternatives]
    return json.dumps(obj, ensure_ascii=False) + "\n"


# /dev/stdout and /dev/fd/N lead to /proc/<pid>/fd/N, a file this process has open: a pipe or a
# terminal (whose link target, pipe:[123], is no path) or a file the shell opened (maybe with >>),
# so it is written into, never replaced.
_DESCRIPTORS = "/proc/"
_MAX_LINKS = 40  # as the kernel's limit on links followed in one lookup


def _link_chain(path: str) -> list[str]:
    """``path`` and each symlink target it leads to, their folders resolved; the last is no link."""
    hop, chain = os.path.abspath(path), []
    while len(chain) <= _MAX_LINKS:
        hop = os.path.join(os.path.realpath(os.path.dirname(hop)), os.path.basename(hop))
        chain.append(hop)
        if not os.path.islink(hop):
            break
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))  # relative targets: from the link's folder
    return chain


def _streamed(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode  # every link followed, the kernel's /proc links included
    except FileNotFoundError:  # a new file, or a link to one: created, atomically
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "a folder; give a file name", path)
    if mode is not None and not stat.S_ISREG(mode):
        return True  # a FIFO, a terminal, /dev/null: cannot be replaced, only written into
    return any(hop.startswith(_DESCRIPTORS) for hop in _link_chain(path))


@contextlib.contextmanager
def open_target(path: str | Path):
    """``with open_target(path) as out:`` a text file to write ``hwr predict``'s lines to.

    A regular file (new or existing) is written whole or not at all (``hwr.core.files.atomic_file``);
    through a symlink, the file it points to is replaced and the link kept. A FIFO, a character
    device or an open descriptor (/dev/stdout) cannot be replaced: it is written into as the lines
    come, so a reader sees them as they are read. Raises OSError (IsADirectoryError for a folder)."""
    path = os.fspath(path)
    if _streamed(path):
        # appending: a file behind /dev/stdout keeps what the shell's >> left in it (and > emptied it)
        with open(path, "a", encoding="utf-8", newline="\n") as out:
            yield out
    else:
        # the link's final target, resolved: the temporary file goes beside it, on its file system
        with atomic_file(os.path.realpath(path)) as out:
            yield out
