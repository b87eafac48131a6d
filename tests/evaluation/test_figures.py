import numpy as np
import pytest
from PIL import Image

from hwr.core.alphabet import GAP
from hwr.evaluation import figures

RUNS = ("gru-first", "lstm-first", "gru-full", "lstm-full")


def curve_file(path, metric, values):
    path.write_text(f"step\t{metric}\n" + "".join(f"{50 * i}\t{v}\n" for i, v in enumerate(values)), encoding="utf-8")
    return path


def some_curves():
    return {run: {"word_accuracy": (np.arange(5) * 50.0, np.linspace(0, 0.2 * (i + 1), 5)),
                  "cer": (np.arange(5) * 50.0, np.linspace(1, 0.8 - 0.1 * i, 5))} for i, run in enumerate(RUNS)}


def test_read_curve(tmp_path):
    steps, values = figures.read_curve(curve_file(tmp_path / "cer.tsv", "cer", [0.9, 0.5, 0.25]))
    assert steps.tolist() == [0, 50, 100] and values.tolist() == [0.9, 0.5, 0.25]
    (tmp_path / "other.tsv").write_text("epoch\tcer\n0\t1\n")
    with pytest.raises(ValueError, match="not a dvclive curve"):
        figures.read_curve(tmp_path / "other.tsv")


def test_curves_name_the_four_runs_in_each_panel():
    curves = some_curves()
    figure = figures.curves_figure(curves)
    for ax, (metric, title) in zip(figure.axes, figures.CURVES):
        assert ax.get_title() == title and ax.get_xlabel() == "optimiser step"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == list(RUNS)
        assert [line.get_ydata().tolist() for line in ax.get_lines()] == [curves[r][metric][1].tolist() for r in RUNS]


def test_confusions_are_shares_of_each_actual_character():
    pairs = [("A", "A")] * 3 + [("A", "R")] + [("N", "M"), ("N", "N"), (" ", " "), ("E", GAP), (GAP, "S")]
    figure = figures.confusion_figure(pairs, "gru-full")
    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["␣", "A", "E", "M", "N", "R", "S", GAP]  # the alphabet's order, space shown, gap last
    shares = ax.get_images()[0].get_array()
    row = dict(zip(labels, shares[labels.index("A")]))
    assert row["A"] == 0.75 and row["R"] == 0.25
    assert dict(zip(labels, shares[labels.index("N")]))["M"] == 0.5
    assert np.allclose([r.sum() for r, c in zip(shares, labels) if c not in "MRS"], 1)  # rows that occur as actual
    assert "9 aligned characters" in ax.get_title()


def test_pngs_are_written_whole_and_the_same_each_time(tmp_path):
    figures.learning_curves(some_curves(), tmp_path / "a" / "curves.png")
    figures.learning_curves(some_curves(), tmp_path / "b" / "curves.png")
    first = (tmp_path / "a" / "curves.png").read_bytes()
    assert first == (tmp_path / "b" / "curves.png").read_bytes()  # no date or version inside: a re-run changes nothing
    assert Image.open(tmp_path / "a" / "curves.png").size == (1100, 400)
    figures.confusion_matrix([("A", "A"), ("B", "D")], "lstm-full", tmp_path / "confusion.png")
    figures.confusion_matrix([], "lstm-full", tmp_path / "empty.png")  # an empty split still gets a picture
    assert Image.open(tmp_path / "confusion.png").format == "PNG"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["confusion.png", "curves.png", "curves.png",
                                                                          "empty.png"]


def test_the_plots_page_template_carries_vega_inline(tmp_path):
    from hwr.evaluation.figures import offline_page_template

    page = offline_page_template()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's CDN tags have nowhere to go
    assert "window.vegaEmbed" in page and "https://" not in page.split("<script", 1)[0]
    assert "cdn.jsdelivr" not in page


def test_the_coverage_figure_is_a_png_with_a_line_per_run_and_decoder(tmp_path):
    import pandas as pd

    from hwr.evaluation.figures import coverage_figure, coverage_plot

    frame = pd.DataFrame({"coverage": [0.5, 1.0], "word_accuracy": [0.9, 0.8], "greedy_word_accuracy": [0.8, 0.6]})
    curves = {"gru-full": frame, "lstm-full": frame.assign(word_accuracy=[0.95, 0.85])}
    figure = coverage_figure(curves)
    assert len(figure.axes[0].lines) == 4
    coverage_plot(curves, tmp_path / "coverage.png")
    assert (tmp_path / "coverage.png").read_bytes().startswith(b"\x89PNG")
