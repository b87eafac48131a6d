"""Stage clean: the study's label rules (and ours), with per-split, per-reason counts.

Every split is cleaned before anything is written (hwr.core.staging): all outputs new, or all old."""

from common import log, run

from hwr.core import layout
from hwr.core.files import write_csv, write_json
from hwr.core.layout import SPLITS
from hwr.core.staging import Outputs
from hwr.data.labels import clean_labels, read_rows

IN = layout.INTERIM
OUT = layout.CLEAN
METRICS = layout.stage_metrics("clean")
DESCRIPTIONS = {
    "missing": "empty label",
    "placeholder": "placeholder label",
    "empty": "label EMPTY (blank field)",
    "unknown_characters": "characters outside the alphabet",
    "too_long": "label too long",
}


def main(params):
    c = params.clean
    report, cleaned = {}, {}
    for split in SPLITS:
        frame = read_rows(IN / f"{split}.csv", "unzip")
        cleaned[split], r = clean_labels(frame, uppercase=c.uppercase, drop_labels=c.drop_labels,
                                         empty_policy=c.empty_policy, max_length=c.max_length)
        for reason, count in r.dropped.items():
            line, name, label = r.examples[reason]
            log.warning("clean: %s: dropped %d row(s): %s (first: line %s, %s, %r)", split, count,
                        DESCRIPTIONS[reason], line, name, label)
        log.info("clean: %s: kept %d of %d rows", split, r.kept, r.rows)
        report[split] = r.as_dict()
    with Outputs(OUT, METRICS) as outputs:
        for split in SPLITS:
            write_csv(outputs[OUT] / f"{split}.csv", cleaned[split])
        write_json(outputs[METRICS], report)
        outputs.publish()


if __name__ == "__main__":
    run(main)
