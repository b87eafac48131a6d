"""Stage synth: the built-in default dataset, synthetic handwritten names in the Kaggle layout.

The dataset is written into a staging folder and moved into place whole once every split is done
(hwr.core.staging): an interrupted run leaves the last dataset as it was."""

from pathlib import Path

from common import log, run

from hwr.core.errors import HwrError
from hwr.core.staging import Outputs
from hwr.synth import generate_dataset, validate_style_mix


def main(params):
    p = params.synth
    try:
        validate_style_mix(p.style_mix)
    except ValueError as exc:  # one line naming synth.style_mix, not a traceback
        raise HwrError(f"params: synth.{exc}") from None
    out_dir = Path(p.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise HwrError(f"synth: synth.out_dir={p.out_dir!r} is a file, not a folder; choose a folder")
    with Outputs(out_dir) as outputs:
        stats = generate_dataset(outputs[out_dir], dict(p.sizes), seed=p.seed, jobs=p.jobs or None,
                                 style_mix=dict(p.style_mix), progress=True, names_source=p.names)
        outputs.publish()
    for split, s in stats.items():
        log.info("synth: %s: %d images in %s", split, s["images"], p.out_dir)


if __name__ == "__main__":
    run(main)
