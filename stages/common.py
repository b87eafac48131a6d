"""What every stage script shares: logging set-up, params loading, one-line errors, clean stops."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from hwr import params as params_module
from hwr.core.errors import exit_codes

log = logging.getLogger("hwr")


def run(main: Callable[..., None], *args: str) -> None:
    """Load and validate params.yaml, then call ``main(params, *args)``; a user error (HwrError)
    exits 2 with one line, Ctrl-C or SIGTERM exits 130 (:func:`hwr.core.errors.exit_codes`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    with exit_codes():
        main(params_module.load("params.yaml"), *args)
