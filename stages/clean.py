"""Stage clean: the study's label rules (and ours), with per-split, per-reason counts."""

from pathlib import Path

import pandas as pd
from common import log, run

from hwr.files import write_csv, write_json
from hwr.labels import clean_labels
from hwr.params import SPLITS

DESCRIPTIONS = {
    "missing": "empty label",
    "placeholder": "placeholder label",
    "empty": "label EMPTY (blank field)",
    "unknown_characters": "characters outside the alphabet",
    "too_long": "label too long",
}


def main(params):
    c = params.clean
    report = {}
    for split in SPLITS:
        frame = pd.read_csv(Path("data/interim") / f"{split}.csv", dtype=str, keep_default_na=False)
        cleaned, r = clean_labels(frame, uppercase=c.uppercase, drop_labels=c.drop_labels,
                                  empty_policy=c.empty_policy, max_length=c.max_length)
        for reason, count in r.dropped.items():
            line, name, label = r.examples[reason]
            log.warning("clean: %s: dropped %d row(s): %s (first: line %s, %s, %r)", split, count,
                        DESCRIPTIONS[reason], line, name, label)
        log.info("clean: %s: kept %d of %d rows", split, r.kept, r.rows)
        report[split] = r.as_dict()
        write_csv(Path("data/clean") / f"{split}.csv", cleaned)
    write_json("metrics/clean.json", report)


if __name__ == "__main__":
    run(main)
