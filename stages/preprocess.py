"""Stage preprocess: decode every kept image from its zip into a uint8 (N, 64, 256) memmap store."""

from pathlib import Path

import pandas as pd
from common import log, run

from hwr.dataset import split_paths
from hwr.files import write_json
from hwr.params import SPLITS
from hwr.preprocessing import preprocess_split


def main(params):
    d, p = params.data, params.preprocess
    report = {}
    for split in SPLITS:
        zip_path, _ = split_paths(d.raw_dir, d.zip_name, d.csv_name, split)
        rows = pd.read_csv(Path("data/clean") / f"{split}.csv", dtype=str, keep_default_na=False)
        r = preprocess_split(str(zip_path), rows, Path("data/tensors") / split, resize=p.resize, jobs=p.jobs,
                             desc=f"preprocess {split}")
        if r["skipped_undecodable"]:
            log.warning("preprocess: %s: skipped %d undecodable image(s) in %s (e.g. %s)", split,
                        r["skipped_undecodable"], zip_path, ", ".join(r["skipped_examples"][:3]))
        log.info("preprocess: %s: %d images (%s)", split, r["written"], p.resize)
        report[split] = r
    write_json("metrics/preprocess.json", {"resize": p.resize, **report})


if __name__ == "__main__":
    run(main)
