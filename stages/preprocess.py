"""Stage preprocess: decode every kept image from its zip into a uint8 (N, 64, preprocess.width) store per split.

Every split's store is built in a staging folder and all are moved into place together, once
every split is done (hwr.core.staging): a failure on the last split leaves the last run's stores."""

import json

from common import log, run

from hwr.core import layout
from hwr.core.errors import HwrError
from hwr.core.files import write_json
from hwr.core.layout import SPLITS, split_files
from hwr.core.staging import Outputs
from hwr.data.labels import rows_file
from hwr.data.preprocessing import SKIP_REASONS, count_rows, preprocess_split, rows_in_chunks

IN = layout.CLEAN
OUT = layout.TENSORS
METRICS = layout.stage_metrics("preprocess")


def _counts(counts: dict) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items() if n) or "none"


def _why_empty(split: str) -> str:
    """How the rows of ``split`` were lost before this stage, from the earlier stages' metrics."""
    try:
        found = json.loads(layout.stage_metrics("unzip").read_text(encoding="utf-8"))[split]
        kept = json.loads(layout.stage_metrics("clean").read_text(encoding="utf-8"))[split]
    except (OSError, ValueError, KeyError):
        return "see metrics/unzip.json and metrics/clean.json"
    return (f"the CSV has {found['csv_rows']} rows, {found['found']} with an image in the zip "
            f"({found['missing_images']} missing); clean dropped {kept['rows'] - kept['kept']}: "
            f"{_counts(kept['dropped'])}")


def main(params):
    d, p = params.data, params.preprocess
    for split in SPLITS:  # every split checked before any is decoded
        if count_rows(rows_file(IN / f"{split}.csv", "clean")) == 0:
            raise HwrError(f"preprocess: the {split} split is empty after cleaning ({_why_empty(split)}); "
                           "nothing to train or measure on: check its CSV and zip, and the clean params")
    report = {}
    with Outputs(OUT, METRICS) as outputs:
        for split in SPLITS:
            zip_path, _ = split_files(d.raw_dir, split, d.zip_name, d.csv_name)
            rows, total = rows_in_chunks(IN / f"{split}.csv")  # one chunk of rows in memory at a time
            r = preprocess_split(str(zip_path), rows, outputs[OUT] / split, resize=p.resize, width=p.width,
                                 jobs=p.jobs, desc=f"preprocess {split}", total=total, max_pixels=p.max_pixels,
                                 max_image_bytes=p.max_image_bytes, keep_damaged=p.keep_damaged)
            if r["written"] == 0:
                raise HwrError(f"preprocess: the {split} split has no usable image: all {r['rows']} skipped "
                               f"({_counts(r['skipped'])}); see the warnings above")
            for reason, n in r["skipped"].items():
                if n:
                    log.warning("preprocess: %s: skipped %d image(s) in %s: %s", split, n, zip_path,
                                SKIP_REASONS[reason])
            log.info("preprocess: %s: %d images (%s, %d px wide)", split, r["written"], p.resize, p.width)
            report[split] = r
        write_json(outputs[METRICS], {"resize": p.resize, **report})
        outputs.publish()


if __name__ == "__main__":
    run(main)
