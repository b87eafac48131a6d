"""The comparison's pictures as PNG files (matplotlib, Agg), which open on any git host, and the page
template that makes ``dvc plots show`` work offline.

- learning curves: validation word accuracy and CER by optimiser step, one line per run;
- character confusions: for each actual character, the share read as each character (``∅``: a
  missing or extra character), from the evaluate stage's aligned pairs;
- coverage: word accuracy on the most confident share of the names, per *full* run.

Files are written atomically and carry no matplotlib version or date, so a re-run with the same
inputs writes the same bytes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwr.core.alphabet import ALPHABET, GAP
from hwr.core.files import write_bytes

if TYPE_CHECKING:
    import pandas as pd

CURVES = (("word_accuracy", "validation word accuracy"), ("cer", "validation CER"))


def read_curve(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one dvclive TSV (columns step, <metric>)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or rows[0][0] != "step":
        raise ValueError(f"{path}: not a dvclive curve (no step column)")
    data = np.array([[float(x) for x in row[:2]] for row in rows[1:] if row], dtype=float).reshape(-1, 2)
    return data[:, 0], data[:, 1]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(figure)
    write_bytes(path, buffer.getvalue())


def learning_curves(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: str | Path) -> None:
    """curves: run -> metric ('word_accuracy', 'cer') -> (steps, values). One panel per metric."""
    _save(curves_figure(curves), path)


def confusion_matrix(pairs: list[tuple[str, str]], run: str, path: str | Path) -> None:
    """pairs: (actual, predicted) characters aligned by edit distance (see :func:`confusion_figure`)."""
    _save(confusion_figure(pairs, run), path)


def coverage_plot(curves: dict[str, "pd.DataFrame"], path: str | Path) -> None:
    """curves: run -> its eval/<run>/coverage.csv (coverage, word_accuracy, greedy_word_accuracy)."""
    _save(coverage_figure(curves), path)


def coverage_figure(curves: dict[str, "pd.DataFrame"]):
    """Word accuracy on the most confident share of the names, for the configured decoder (solid)
    and greedy decoding (dashed), one colour per run."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for i, (run, frame) in enumerate(curves.items()):
        colour = f"C{i}"
        ax.plot(frame["coverage"], frame["word_accuracy"], color=colour, linewidth=1.8, label=run)
        ax.plot(frame["coverage"], frame["greedy_word_accuracy"], color=colour, linewidth=1.2, linestyle="--",
                label=f"{run}, greedy")
    ax.set(title="word accuracy of the most confident names (test split)", xlabel="coverage: share of names kept",
           ylabel="word accuracy", xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def offline_page_template() -> str:
    """An HTML page template for `dvc plots show` (``plots.html_template`` in .dvc/config) that
    carries Vega, Vega-Lite and Vega-Embed inline, from vl-convert's bundle: DVC's own page loads
    them from a CDN, a blank page without internet. DVC fills ``{plot_divs}``; its ``{scripts}``
    placeholder (the CDN tags) is left out on purpose."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()  # assigns window.vegaEmbed, vega, vegaLite
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>hwr plots</title>\n"
            f"<script type=\"text/javascript\">\n{bundle}\n</script>\n"
            "<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")


def curves_figure(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]):
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(CURVES), figsize=(11, 4), layout="constrained")
    for ax, (metric, title) in zip(axes, CURVES):
        for run, by_metric in curves.items():
            if metric in by_metric:
                steps, values = by_metric[metric]
                ax.plot(steps, values, label=run, linewidth=1.6)
        ax.set(title=title, xlabel="optimiser step", ylim=(0, 1.02 if metric == "word_accuracy" else None))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def confusion_figure(pairs: list[tuple[str, str]], run: str):
    """Rows are the characters that occur, in the alphabet's order (GAP last); each row sums to 1."""
    plt = _pyplot()
    order = ALPHABET + GAP
    seen = sorted({c for pair in pairs for c in pair}, key=lambda c: order.index(c) if c in order else len(order))
    index = {c: i for i, c in enumerate(seen)}
    if not seen:
        seen = [GAP]  # nothing aligned (an empty split): an empty matrix, still a picture
    counts = np.zeros((len(seen), len(seen)))
    for actual, predicted in pairs:
        counts[index[actual], index[predicted]] += 1
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    labels = ["␣" if c == " " else c for c in seen]
    size = max(4.0, 0.28 * len(seen) + 2)
    figure, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(seen)), labels)
    ax.set_yticks(range(len(seen)), labels)
    ax.set(xlabel="predicted", ylabel="actual",
           title=f"character confusions: {run} on test ({int(counts.sum()):,} aligned characters)")
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the actual character")
    return figure
