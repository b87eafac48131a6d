"""What every stage script shares: logging set-up, params loading, one-line errors, clean stops."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Callable

from hwr import params as params_module
from hwr.errors import HwrError

log = logging.getLogger("hwr")


def _terminate(signum, frame):  # SIGTERM stops a stage like Ctrl-C does
    raise KeyboardInterrupt


def run(main: Callable[..., None], *args: str) -> None:
    """Load and validate params.yaml, then call ``main(params, *args)``.

    A user error (HwrError) is printed as one line and exits 2; Ctrl-C or SIGTERM exits 130."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main(params_module.load("params.yaml"), *args)
    except HwrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished outputs are intact; re-run to continue", file=sys.stderr)
        sys.exit(130)
