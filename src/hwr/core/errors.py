"""The one exception type users see, and how the stages and the CLI turn errors into exit codes."""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading

USER_ERROR = 2  # a HwrError: bad input or params, said in one line
INTERRUPTED = 130  # Ctrl-C or SIGTERM, as shells report a SIGINT

# what the machine refuses, not a bug: said in one line, with what to do
_STORAGE = {
    errno.ENOSPC: "the disk is full; free some space (or point DVC's cache and the outputs elsewhere) and re-run",
    errno.EDQUOT: "the disk quota is used up; free some space and re-run",
    errno.EROFS: "the file system is read-only; run where outputs can be written",
}


class HwrError(Exception):
    """An error caused by the user's input or params; stages and the CLI print it as one line."""


def _storage_error(exc: BaseException | None) -> OSError | None:
    """The full-disk (or quota, read-only) OSError in ``exc``'s chain of causes, if there is one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _STORAGE:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _terminate(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def exit_codes():
    """Runs the body of a command (a stage script, ``hwr``): a HwrError is printed to stderr as
    ``error: <message>`` and exits 2; Ctrl-C, or SIGTERM (turned into Ctrl-C here, so that a
    stopped stage cleans up as an interrupted one does), exits 130 with a line saying so. A full disk,
    a used-up quota or a read-only file system (OSError, however deeply chained) is one line too,
    exit 2. Anything else is a bug and keeps its traceback."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        yield
    except HwrError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(USER_ERROR)
    except Exception as exc:
        full = _storage_error(exc)
        if full is None:
            raise
        where = f"{full.filename}: " if full.filename else ""
        sys.stderr.write(f"error: {where}cannot write: {_STORAGE[full.errno]}; finished outputs are intact\n")
        sys.exit(USER_ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished outputs are intact; re-run to continue\n")
        sys.exit(INTERRUPTED)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
