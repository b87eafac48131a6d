"""Stage unzip: index each split's zip against its label CSV (images are read from the zip later).

Every split is indexed before anything is written: a bad zip or CSV in one split leaves the last
run's outputs as they were (hwr.core.staging)."""

from common import log, run

from hwr.core import layout
from hwr.core.files import write_csv, write_json
from hwr.core.layout import SPLITS, split_files
from hwr.core.staging import Outputs
from hwr.data.splits import index_split

OUT = layout.INTERIM
METRICS = layout.stage_metrics("unzip")


def main(params):
    d = params.data
    report, rows = {}, {}
    for split in SPLITS:
        zip_path, csv_path = split_files(d.raw_dir, split, d.zip_name, d.csv_name)
        rows[split], report[split] = index_split(zip_path, csv_path)
        r = report[split]
        if r["missing_images"]:
            log.warning("unzip: %s: %d image(s) listed in %s are not in %s, skipped (e.g. %s)", split,
                        r["missing_images"], csv_path, zip_path, ", ".join(r["missing_examples"]))
        if r["unlisted_images"]:
            log.warning("unzip: %s: %d image(s) in %s have no row in %s, ignored (e.g. %s)", split,
                        r["unlisted_images"], zip_path, csv_path, ", ".join(r["unlisted_examples"]))
        if r["repeated_rows"]:
            differ = (f"; {r['repeated_with_another_label']} of them label the image differently "
                      f"(e.g. {'; '.join(r['conflict_examples'])})" if r["repeated_with_another_label"] else
                      "; all with the same label")
            log.warning("unzip: %s: %d repeated FILENAME row(s) in %s, the first row of each kept (e.g. %s)%s", split,
                        r["repeated_rows"], csv_path, ", ".join(r["repeated_examples"]), differ)
        log.info("unzip: %s: %d labelled images", split, r["found"])
    with Outputs(OUT, METRICS) as outputs:
        for split in SPLITS:
            write_csv(outputs[OUT] / f"{split}.csv", rows[split])
        write_json(outputs[METRICS], report)
        outputs.publish()


if __name__ == "__main__":
    run(main)
