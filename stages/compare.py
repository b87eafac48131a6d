"""Stage compare: the study's comparison table of the four models, from their training summaries
and test metrics (no inference here), the headline metrics of the model `rnn` names, and the
pictures: the four runs' validation curves and the character confusions of the `rnn` model."""

import csv
import json
from pathlib import Path

from common import log, run

from hwr import figures, report
from hwr.errors import HwrError
from hwr.files import write_json, write_text

CURVES = Path("metrics/train/{run}/plots/metrics/validation/{metric}.tsv")
FIGURES = Path("metrics/figures")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwrError(f"compare: {path} is missing; run the pipeline (dvc repro)") from None


def main(params):
    summaries = {name: _read(Path("metrics/train") / name / "summary.json") for name in report.RUNS}
    tests = {name: _read(Path("metrics/eval") / f"{name}.json") for name in report.RUNS}
    product = f"{params.rnn}-full"
    table = report.build(summaries, tests, product=product)
    pictures = draw_figures(product)
    write_json("metrics/comparison.json", table)
    write_text("metrics/comparison.md", report.to_markdown(table, pictures))
    write_json("metrics/metrics.json", report.headline(tests[f"{params.rnn}-full"], params.rnn))
    for name in report.RUNS:
        log.info("compare: %s: test word accuracy %.4f", name, tests[name]["word_accuracy"])


def draw_figures(product: str) -> list[tuple[str, str]]:
    """Writes the PNGs; returns (caption, path relative to metrics/) for the Markdown."""
    curves = {}
    for name in report.RUNS:
        curves[name] = {}
        for metric, _ in figures.CURVES:
            path = Path(str(CURVES).format(run=name, metric=metric))
            if not path.is_file():
                raise HwrError(f"compare: {path} is missing; run the pipeline (dvc repro)")
            curves[name][metric] = figures.read_curve(path)
    figures.learning_curves(curves, FIGURES / "learning_curves.png")
    pairs_path = Path("eval") / product / "confusion.csv"
    try:
        with open(pairs_path, encoding="utf-8", newline="") as f:
            pairs = [(row["actual"], row["predicted"]) for row in csv.DictReader(f)]
    except FileNotFoundError:
        raise HwrError(f"compare: {pairs_path} is missing; run the pipeline (dvc repro)") from None
    figures.confusion_matrix(pairs, product, FIGURES / "confusion.png")
    return [("Validation word accuracy and CER by optimiser step", "figures/learning_curves.png"),
            (f"Character confusions of {product} on the test split", "figures/confusion.png")]


if __name__ == "__main__":
    run(main)
