"""Stage compare: the study's comparison table of every train run (the study's four and those beside
them), from their training summaries and test metrics (no inference here), the headline metrics of
the model `rnn` names, and the pictures: the runs' validation curves, the character confusions of the
`rnn` model, and the study's *full* runs' word accuracy at coverage."""

import csv
import json
from pathlib import Path

import pandas as pd
from common import log, run

from hwr.core import layout
from hwr.core.errors import HwrError
from hwr.core.files import write_json, write_text
from hwr.evaluation import figures, report

FIGURES = layout.FIGURES
FULL_RUNS = [layout.run_name(rnn, "full") for rnn in layout.RNNS]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwrError(f"compare: {path} is missing; run the pipeline (dvc repro)") from None


def main(params):
    runs = list(params.train.runs)
    summaries = {name: _read(layout.train_metrics(name) / "summary.json") for name in runs}
    tests = {name: _read(layout.eval_metrics(name)) for name in runs}
    product = layout.run_name(params.rnn, "full")
    table = report.build(summaries, tests, product=product, reader=params.reader)
    pictures = draw_figures(runs, product)
    write_json(layout.COMPARISON.with_suffix(".json"), table)
    write_text(layout.COMPARISON.with_suffix(".md"), report.to_markdown(table, pictures))
    write_json(layout.RUN_METRICS, report.run_headlines(table))
    write_json(layout.HEADLINE, report.headline(tests[product], params.rnn))
    for name in runs:
        log.info("compare: %s: test word accuracy %.4f", name, tests[name]["word_accuracy"])


def draw_figures(runs: list[str], product: str) -> list[tuple[str, str]]:
    """Writes the PNGs; returns (caption, path relative to metrics/) for the Markdown."""
    curves = {}
    for name in runs:
        curves[name] = {}
        for metric, _ in figures.CURVES:
            path = layout.train_curve(name, metric)
            if not path.is_file():
                raise HwrError(f"compare: {path} is missing; run the pipeline (dvc repro)")
            curves[name][metric] = figures.read_curve(path)
    figures.learning_curves(curves, FIGURES / "learning_curves.png")
    pairs_path = layout.eval_dir(product) / "confusion.csv"
    try:
        with open(pairs_path, encoding="utf-8", newline="") as f:
            pairs = [(row["actual"], row["predicted"]) for row in csv.DictReader(f)]
    except FileNotFoundError:
        raise HwrError(f"compare: {pairs_path} is missing; run the pipeline (dvc repro)") from None
    figures.confusion_matrix(pairs, product, FIGURES / "confusion.png")
    coverage = {}
    for name in FULL_RUNS:
        path = layout.eval_dir(name) / "coverage.csv"
        if not path.is_file():
            raise HwrError(f"compare: {path} is missing; run the pipeline (dvc repro)")
        coverage[name] = pd.read_csv(path)
    figures.coverage_plot(coverage, FIGURES / "coverage.png")
    return [("Validation word accuracy and CER by optimiser step", "figures/learning_curves.png"),
            (f"Character confusions of {product} on the test split", "figures/confusion.png"),
            ("Word accuracy of the most confident names, test split", "figures/coverage.png")]


if __name__ == "__main__":
    run(main)
