"""``python -m hwr.params.verify [FILE]``: check a params file (default: params.yaml) before DVC reads it.

DVC builds its stage graph from params.yaml before any stage runs, and a value it cannot use as a
path (``data.raw_dir: ""``) stops it with "ERROR: unexpected error", naming nothing. This check
runs first (``make repro`` calls it) and names the key, in one line, as the check_params stage would.
"""

import sys

from hwr.core.errors import exit_codes
from hwr.params.loading import load


def main(argv: list[str]) -> None:
    path = argv[0] if argv else "params.yaml"
    with exit_codes():
        load(path)
    print(f"{path}: every value checked")


if __name__ == "__main__":
    main(sys.argv[1:])
