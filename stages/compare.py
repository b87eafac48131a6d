"""Stage compare: the study's comparison table for the four trained models, beside the study's figures."""

import json
from pathlib import Path

from common import log, run

from hwr import report
from hwr.evaluation import evaluate_model
from hwr.files import write_json, write_text
from hwr.store import open_store


def main(params):
    e = params.evaluate
    store = open_store(Path("data/tensors") / e.split)
    summaries, tests = {}, {}
    for name in report.RUNS:
        summaries[name] = json.loads((Path("metrics/train") / name / "summary.json").read_text())
        metrics, _, _ = evaluate_model(Path("models") / name / "model.pt", store, batch_size=e.batch_size,
                                       top=e.top_confusions)
        tests[name] = metrics
        log.info("compare: %s: test word accuracy %.4f", name, metrics["word_accuracy"])
    table = report.build(summaries, tests)
    write_json("metrics/comparison.json", table)
    write_text("metrics/comparison.md", report.to_markdown(table))


if __name__ == "__main__":
    run(main, fast_allocator=True)
