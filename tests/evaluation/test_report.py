import json

import pytest

from hwr.core.layout import STUDY_RUNS
from hwr.evaluation import report


def summary(run, word, seconds, steps_to_half=350):
    rnn, subset = run.split("-")
    return {
        "rnn": rnn, "subset": subset, "parameters": {"gru": 6_689_822, "lstm": 8_856_606}[rnn], "train_images": 48,
        "validation_images": 16, "epochs": 3, "steps": 1200, "best_step": 1150, "train_seconds": seconds,
        "images_per_second": 12.345, "overfitting": 0.125, "steps_to_cer_below_half": steps_to_half,
        "validation": {"word_accuracy": word, "letter_accuracy": 0.5, "cer": 0.25},
        "train": {"word_accuracy": word + 0.125},
    }


TESTS = {run: {"word_accuracy": 0.25 + i / 10, "letter_accuracy": 0.75, "cer": 0.125, "loss": 0.5, "samples": 9,
               "split": "test", "top_confusions": [{"true": "N", "predicted": "M", "count": 3}]}
         for i, run in enumerate(STUDY_RUNS)}


def test_build_collects_the_four_runs_and_no_constants():
    summaries = {run: summary(run, 0.5, 65) for run in STUDY_RUNS}
    table = report.build(summaries, TESTS, product="gru-full")
    assert list(table["runs"]) == list(STUDY_RUNS) and table["product"] == "gru-full"
    col = table["runs"]["lstm-full"]
    assert col["test_word_accuracy"] == TESTS["lstm-full"]["word_accuracy"] and col["test_cer"] == 0.125
    assert col["validation_word_accuracy"] == 0.5 and col["parameters"] == 8_856_606
    assert col["steps_to_cer_below_half"] == 350 and col["best_step"] == 1150
    # the study's published figures are text in the table, never metrics DVC would list per experiment
    assert "74.4" not in json.dumps(table) and "study" not in table


def test_run_headlines_keep_what_experiments_are_compared_on():
    """metrics/runs.json, what `dvc exp show` lists: four figures a run, not the bookkeeping."""
    table = report.build({run: summary(run, 0.5, 65) for run in STUDY_RUNS}, TESTS, product="gru-full")
    headlines = report.run_headlines(table)
    assert list(headlines) == list(STUDY_RUNS)
    assert headlines["gru-full"] == {"test_word_accuracy": TESTS["gru-full"]["word_accuracy"],
                                     "test_greedy_word_accuracy": TESTS["gru-full"]["word_accuracy"],
                                     "test_cer": 0.125, "steps_to_cer_below_half": 350}


def test_markdown_table():
    summaries = {run: summary(run, 0.5, 397) for run in STUDY_RUNS}
    summaries["lstm-first"]["steps_to_cer_below_half"] = None  # never left the blank phase
    text = report.to_markdown(report.build(summaries, TESTS, product="lstm-full"))
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["", *[f"{r} (ours)" for r in STUDY_RUNS], *[f"{r} (study)" for r in STUDY_RUNS],
                      "Kaggle baseline"]
    widths = {len(line.strip("|").split("|")) for line in lines}
    assert widths == {len(header)}  # every row has every column
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:]}
    assert rows["word accuracy % (test)"] == ["25.0", "35.0", "45.0", "55.0", "74.4", "78.1", "81.0", "82.8", "69.1"]
    assert rows["letter accuracy % (test)"][-1] == "82.2"
    assert rows["steps until validation CER < 0.5"][:4] == ["350", "–", "350", "350"]
    assert rows["training time"][:5] == ["6'37\""] * 4 + ["6'37\""]  # 397 s, like the study's gru-first
    assert rows["overfitting (pp)"][:4] == ["+12.5"] * 4 and rows["overfitting (pp)"][4:8] == ["none", "+", "+", "++"]
    assert rows["best step / steps"][0] == "1,150/1,200"
    assert rows["parameters"][:2] == ["6,689,822", "8,856,606"]
    assert rows["training images/s"][0] == "12.3"
    assert "Overfitting = " in text and "Headline metrics (metrics/metrics.json): **lstm-full**" in text


def test_a_run_beside_the_study_s_four_gets_a_column_that_names_its_network():
    summaries = {run: summary(run, 0.5, 397) for run in STUDY_RUNS}
    summaries["gru-wide"] = {**summary("gru-full", 0.75, 400), "cnn": "wide", "parameters": 3_211_166}
    tests = {**TESTS, "gru-wide": {**TESTS["gru-full"], "word_accuracy": 0.875}}
    table = report.build(summaries, tests, product="gru-full", reader="gru-wide")
    assert list(table["runs"]) == [*STUDY_RUNS, "gru-wide"] and table["reader"] == "gru-wide"
    text = report.to_markdown(table)
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[1:6] == [*[f"{r} (ours)" for r in STUDY_RUNS], "gru-wide (ours, wide network)"]
    assert header[6:10] == [f"{r} (study)" for r in STUDY_RUNS]  # the study has no column for it
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:]}
    assert rows["word accuracy % (test)"][4] == "87.5" and rows["parameters"][4] == "3,211,166"
    assert "`hwr predict` reads with **gru-wide** (params: `reader`)" in text


def test_missing_test_metrics_and_runs():
    summaries = {"gru-first": summary("gru-first", 0.5, 10)}
    table = report.build(summaries, {})
    assert list(table["runs"]) == ["gru-first"]
    assert table["runs"]["gru-first"]["test_word_accuracy"] is None
    text = report.to_markdown(table)
    assert "gru-first (ours)" in text and "lstm-full (ours)" not in text and "lstm-full (study)" in text
    assert "| word accuracy % (test) | – |" in text


def test_headline_keeps_the_numbers_not_the_error_lists():
    head = report.headline(TESTS["lstm-full"], "lstm")
    assert head == {"rnn": "lstm", "subset": "full", "split": "test", "samples": 9,
                    "word_accuracy": TESTS["lstm-full"]["word_accuracy"], "letter_accuracy": 0.75, "cer": 0.125,
                    "loss": 0.5}


def test_headline_gives_the_configured_decoder_and_greedy_beside_it():
    test = {**TESTS["gru-full"], "decoder": "lexicon", "word_accuracy": 0.6, "ece": 0.05,
            "word_accuracy_at_coverage": {"50": 0.9, "80": 0.7, "100": 0.6},
            "decoders": {"greedy": {"word_accuracy": 0.5}, "lexicon": {"word_accuracy": 0.6}}}
    head = report.headline(test, "gru")
    assert head["decoder"] == "lexicon" and head["word_accuracy"] == 0.6 and head["greedy_word_accuracy"] == 0.5
    assert head["word_accuracy_at_coverage"]["50"] == 0.9 and head["ece"] == 0.05 and "decoders" not in head


@pytest.mark.parametrize("seconds,text", [(0, "0'00\""), (59.6, "1'00\""), (1872, "31'12\""), (None, "–")])
def test_duration(seconds, text):
    assert report._duration(seconds) == text


def test_markdown_links_the_figures():
    summaries = {run: summary(run, 0.5, 397) for run in STUDY_RUNS}
    figures = [("Validation curves", "figures/learning_curves.png"), ("Confusions", "figures/confusion.png")]
    text = report.to_markdown(report.build(summaries, TESTS), figures)
    assert text.endswith("\n## Validation curves\n\n![Validation curves](figures/learning_curves.png)\n"
                         "\n## Confusions\n\n![Confusions](figures/confusion.png)\n")
    assert "![" not in report.to_markdown(report.build(summaries, TESTS))


def test_a_beam_decoder_gets_its_own_row_and_the_study_stays_beside_greedy():
    summaries = {run: summary(run, 0.5, 397) for run in STUDY_RUNS}
    tests = {run: {**t, "decoder": "lexicon", "word_accuracy": t["word_accuracy"] + 0.25,
                   "decoders": {"greedy": {"word_accuracy": t["word_accuracy"]}}} for run, t in TESTS.items()}
    table = report.build(summaries, tests)
    assert table["runs"]["gru-first"]["test_decoder"] == "lexicon"
    assert table["runs"]["gru-first"]["test_greedy_word_accuracy"] == TESTS["gru-first"]["word_accuracy"]
    text = report.to_markdown(table)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in text.splitlines()[4:] if line.startswith("|")}
    assert rows["word accuracy % (test, lexicon decoding)"] == ["50.0", "60.0", "70.0", "80.0"] + ["–"] * 5
    assert rows["word accuracy % (test, greedy)"] == ["25.0", "35.0", "45.0", "55.0", "74.4", "78.1", "81.0", "82.8",
                                                      "69.1"]
    assert "word accuracy % (test)" not in rows
