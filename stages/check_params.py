"""Stage check_params: params.yaml checked whole, first, whenever any of it changes.

Each stage checks the whole file when it runs, but DVC runs only the stages whose own params
changed: a typo in a key no stage tracks (``train.epoch``) would pass unseen. This stage depends on
the whole file and every other stage comes after it, so ``dvc repro`` and ``dvc exp run`` stop
here, with the one-line message, before any work. Its output never changes: passing the check
re-runs nothing else."""

from common import run

from hwr.core import layout
from hwr.core.errors import HwrError
from hwr.core.files import write_text
from hwr.synth import validate_style_mix

OUT = layout.PARAMS_CHECKED


def main(params):
    try:
        validate_style_mix(params.synth.style_mix)
    except ValueError as exc:
        raise HwrError(f"params: synth.{exc}") from None
    write_text(OUT, "params.yaml passed its checks\n")


if __name__ == "__main__":
    run(main)
