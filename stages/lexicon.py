"""Stage lexicon: the names list and the character language model that beam decoding reads, from
the cleaned training labels (never validation or test labels), the `lexicon.extra` names file and the
real names of `lexicon.sources` (e.g. names-dataset:FR)."""

from collections import Counter

import pandas as pd
from common import log, run

from hwr.core import layout
from hwr.core.errors import HwrError
from hwr.core.files import write_json
from hwr.decoding.charlm import load_arpa, perplexity
from hwr.decoding.lexicon import LM_FILE, Lexicon, build_names, read_extra_names, write_lexicon
from hwr.decoding.name_sources import read_source

OUT = layout.LEXICON_DIR


def _labels(split: str) -> list[str]:
    path = layout.CLEAN / f"{split}.csv"
    if not path.is_file():
        raise HwrError(f"lexicon: {path} is missing; run the clean stage first (dvc repro clean)")
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)["IDENTITY"].tolist()


def main(params):
    lx, c = params.lexicon, params.clean
    train = _labels("train")
    extra, dropped = read_extra_names(lx.extra, uppercase=c.uppercase, drop_labels=c.drop_labels,
                                      empty_policy=c.empty_policy, max_length=c.max_length)
    for reason, count in dropped.items():
        log.warning("lexicon: %s: skipped %d name(s): %s", lx.extra, count, reason)
    sourced, per_source = Counter(), {}
    for source in lx.sources:
        found, skipped = read_source(source, uppercase=c.uppercase, drop_labels=c.drop_labels,
                                     empty_policy=c.empty_policy, max_length=c.max_length)
        for reason, count in skipped.items():
            log.info("lexicon: %s: left out %d name(s): %s", source, count, reason)
        sourced.update(found)
        per_source[source] = {"names": len(found), "skipped": skipped}
    names = build_names(train, extra + sourced)
    write_lexicon(OUT, names, lx.order)
    validation = _labels("validation")
    lexicon = Lexicon.of(names)
    stats = {
        "names": len(names), "label_rows": sum(names.values()),
        "train_labels": len(train), "train_names": len(set(train)),
        "extra": lx.extra, "extra_names": len(extra), "extra_rows": sum(extra.values()), "extra_skipped": dropped,
        "sources": per_source,
        "order": lx.order,
        "validation_labels": len(validation), "validation_oov_rate": lexicon.oov_rate(validation),
        "validation_perplexity": perplexity(load_arpa(OUT / LM_FILE), validation),
    }
    write_json(layout.stage_metrics("lexicon"), stats)
    log.info("lexicon: %d names (%d from training labels, %d extra); validation OOV rate %s, per-symbol "
             "perplexity %s", stats["names"], stats["train_names"], stats["extra_names"],
             _fmt(stats["validation_oov_rate"]), _fmt(stats["validation_perplexity"]))


def _fmt(x):
    return "–" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    run(main)
