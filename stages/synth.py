"""Stage synth: the built-in default dataset, synthetic handwritten names in the Kaggle layout."""

from common import log, run

from hwr.synth import generate_dataset


def main(params):
    p = params.synth
    stats = generate_dataset(p.out_dir, dict(p.sizes), seed=p.seed, jobs=p.jobs or None,
                             style_mix=dict(p.style_mix), progress=True)
    for split, s in stats.items():
        log.info("synth: %s: %d images in %s", split, s["images"], p.out_dir)


if __name__ == "__main__":
    run(main)
