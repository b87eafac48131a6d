"""Stage synth: the built-in default dataset, synthetic handwritten names in the Kaggle layout."""

from common import log, run

from hwr.errors import HwrError
from hwr.synth import generate_dataset, validate_style_mix


def main(params):
    p = params.synth
    try:
        validate_style_mix(p.style_mix)
    except ValueError as exc:  # one line naming synth.style_mix, not a traceback
        raise HwrError(f"params: synth.{exc}") from None
    stats = generate_dataset(p.out_dir, dict(p.sizes), seed=p.seed, jobs=p.jobs or None,
                             style_mix=dict(p.style_mix), progress=True)
    for split, s in stats.items():
        log.info("synth: %s: %d images in %s", split, s["images"], p.out_dir)


if __name__ == "__main__":
    run(main)
