"""Stage compare: the study's comparison table of the four models, from their training summaries
and test metrics (no inference here), and the headline metrics of the model `rnn` names."""

import json
from pathlib import Path

from common import log, run

from hwr import report
from hwr.errors import HwrError
from hwr.files import write_json, write_text


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwrError(f"compare: {path} is missing; run the pipeline (dvc repro)") from None


def main(params):
    summaries = {name: _read(Path("metrics/train") / name / "summary.json") for name in report.RUNS}
    tests = {name: _read(Path("metrics/eval") / f"{name}.json") for name in report.RUNS}
    table = report.build(summaries, tests, product=f"{params.rnn}-full")
    write_json("metrics/comparison.json", table)
    write_text("metrics/comparison.md", report.to_markdown(table))
    write_json("metrics/metrics.json", report.headline(tests[f"{params.rnn}-full"], params.rnn))
    for name in report.RUNS:
        log.info("compare: %s: test word accuracy %.4f", name, tests[name]["word_accuracy"])


if __name__ == "__main__":
    run(main)
