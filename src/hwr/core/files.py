"""Atomic outputs: a reader (or a crash) never sees a half-written file or folder.

Every file hwr writes goes through here: a temporary name beside the target, renamed over it when
complete (``os.replace``, atomic on one file system), removed if the writing fails. Folders, and a
stage's several outputs at once, are staged by :mod:`hwr.core.staging`. Files and
folders get the permissions of the user's umask, as any other tool's would (0644 / 0755 by
default), not the private 0600 / 0700 of ``tempfile.mkstemp`` / ``mkdtemp``.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w"):
    """``with atomic_file(path, "wb") as f:`` writes ``f`` under a temporary name and renames it to
    ``path`` when the block ends without an error (it is removed otherwise). Text modes write UTF-8
    with ``\\n`` line endings."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a new file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0666 less the umask
    try:
        text = {"encoding": "utf-8", "newline": "\n"} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_file(path, "w") as f:
        f.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def cache_dir() -> Path:
    """Where hwr keeps what it can rebuild (compiled kernels, name lists): ``$HWR_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/hwr``, else ``~/.cache/hwr``."""
    if os.environ.get("HWR_CACHE_DIR"):
        return Path(os.environ["HWR_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwr"
