"""The one exception type users see, and how the stages and the CLI turn errors into exit codes."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

USER_ERROR = 2  # a HwrError: bad input or params, said in one line
INTERRUPTED = 130  # Ctrl-C or SIGTERM, as shells report a SIGINT


class HwrError(Exception):
    """An error caused by the user's input or params; stages and the CLI print it as one line."""


def _terminate(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def exit_codes():
    """Runs the body of a command (a stage script, ``hwr``): a HwrError is printed to stderr as
    ``error: <message>`` and exits 2; Ctrl-C, or SIGTERM (turned into Ctrl-C here, so that a
    stopped stage cleans up as an interrupted one does), exits 130 with a line saying so. Anything
    else is a bug and keeps its traceback."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        yield
    except HwrError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(USER_ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished outputs are intact; re-run to continue\n")
        sys.exit(INTERRUPTED)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
