"""A stage's outputs, all new or all old: built beside their final paths, then moved into place
together once every one is complete.

Each output (a file or a folder) is written to a hidden sibling named after this host and process,
``.<name>.<host>-<pid>.new``; :meth:`Outputs.publish` renames each into place (a folder's old
version is first renamed aside, ``.<name>.<host>-<pid>.old``, then removed). A stage that fails
before that changes nothing. One killed, even by SIGKILL, leaves only hidden siblings whose
process is gone; the next run over the same outputs removes them, so nothing is ever cleaned up
by hand. (Between the renames of ``publish``, microseconds, a kill can leave some outputs new
and others old; the stage's next run replaces them all.)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from pathlib import Path

log = logging.getLogger(__name__)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def sibling(path: str | Path, kind: str = "new") -> Path:
    """The hidden sibling of ``path`` that this process stages it in (``kind`` new) or moves its
    old version aside to (``old``)."""
    path = Path(path)
    return path.parent / f".{path.name}.{_host()}-{os.getpid()}.{kind}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(path: str | Path) -> list[Path]:
    """Remove the siblings of ``path`` left by processes of this host that are gone (a killed
    run); those of live processes, and of other hosts sharing the folder, are left alone."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(_host())}-(\d+)\.(new|old)")
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if not match or _alive(int(match.group(1))):
            continue
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
        log.info("removed %s, left by an interrupted run", candidate)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


class Outputs:
    """The outputs of one stage run, staged and published together.

        with Outputs(TENSORS, METRICS) as out:
            build_stores(out[TENSORS])          # a folder, created by whoever writes in it
            write_json(out[METRICS], report)
            out.publish()

    Leaving the block without ``publish`` (an error, Ctrl-C) removes what was staged."""

    def __init__(self, *paths: str | Path):
        self.paths = [Path(p) for p in paths]
        self._staged = {p: sibling(p) for p in self.paths}
        self.published = False

    def __getitem__(self, path: str | Path) -> Path:
        return self._staged[Path(path)]

    def prepare(self) -> Outputs:
        """Remove what killed runs left beside the outputs, and make their parent folders."""
        for path, staged in self._staged.items():
            remove_stale(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            _remove(staged)
        return self

    def discard(self) -> None:
        """Remove what is staged and not yet published."""
        for staged in self._staged.values():
            _remove(staged)

    def __enter__(self) -> Outputs:
        return self.prepare()

    def publish(self) -> None:
        """Move every staged output into place (what was not written is left as it was)."""
        for path, staged in self._staged.items():
            if not (staged.exists() or staged.is_symlink()):
                continue
            if staged.is_dir() and (path.exists() or path.is_symlink()):
                old = sibling(path, "old")
                os.replace(path, old)
                os.replace(staged, path)
                _remove(old)
            else:
                os.replace(staged, path)
        self.published = True

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.discard()
        return False
