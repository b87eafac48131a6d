"""Stage preprocess: decode every kept image from its zip into a uint8 (N, 64, 256) memmap store."""

from pathlib import Path

from common import log, run

from hwr.dataset import split_paths
from hwr.files import write_json
from hwr.params import SPLITS
from hwr.preprocessing import preprocess_split, rows_in_chunks


def main(params):
    d, p = params.data, params.preprocess
    report = {}
    for split in SPLITS:
        zip_path, _ = split_paths(d.raw_dir, d.zip_name, d.csv_name, split)
        csv_path = Path("data/clean") / f"{split}.csv"
        rows, total = rows_in_chunks(csv_path)  # one chunk of rows in memory at a time
        r = preprocess_split(str(zip_path), rows, Path("data/tensors") / split, resize=p.resize, jobs=p.jobs,
                             desc=f"preprocess {split}", total=total)
        if r["skipped_undecodable"]:
            log.warning("preprocess: %s: skipped %d undecodable image(s) in %s (e.g. %s)", split,
                        r["skipped_undecodable"], zip_path, ", ".join(r["skipped_examples"][:3]))
        log.info("preprocess: %s: %d images (%s)", split, r["written"], p.resize)
        report[split] = r
    write_json("metrics/preprocess.json", {"resize": p.resize, **report})


if __name__ == "__main__":
    run(main)
