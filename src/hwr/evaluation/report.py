"""The comparison table: the study's table for our models (its four runs and any beside them), beside
the study's own figures."""

from __future__ import annotations

from hwr.core.layout import STUDY_RUNS  # the study's columns: first then full, GRU then LSTM

STUDY = {
    "gru-first": {"word_accuracy": 0.744, "letter_accuracy": 0.899, "train_seconds": 397, "overfitting": "none", "parameters": 6689822, "train_images": 64000},
    "lstm-first": {"word_accuracy": 0.781, "letter_accuracy": 0.913, "train_seconds": 441, "overfitting": "+", "parameters": 8856606, "train_images": 64000},
    "gru-full": {"word_accuracy": 0.810, "letter_accuracy": 0.920, "train_seconds": 1872, "overfitting": "+", "parameters": 6689822, "train_images": 300800},
    "lstm-full": {"word_accuracy": 0.828, "letter_accuracy": 0.925, "train_seconds": 2011, "overfitting": "++", "parameters": 8856606, "train_images": 300800},
}
KAGGLE_BASELINE = {"word_accuracy": 0.6910, "letter_accuracy": 0.8216}

OVERFITTING_DEFINITION = (
    "overfitting = word accuracy on a fixed sample of the training subset minus validation word "
    "accuracy, both at the best epoch (percentage points; the study gave only none/+/++)"
)


def _pct(x):
    return "–" if x is None else f"{100 * x:.1f}"


def _duration(seconds):
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}'{secs:02d}\""


def build(summaries: dict[str, dict], tests: dict[str, dict], product: str | None = None,
          reader: str | None = None) -> dict:
    """summaries: run -> training summary, in the table's order; tests: run -> test metrics; product:
    the run of the headline metrics; reader: the run ``hwr predict`` reads with. Returns the JSON table:
    our figures only (the study's constant figures go into the Markdown text, not into the metrics)."""
    columns = {}
    for run in summaries:
        s, t = summaries.get(run), tests.get(run)
        if s is None:
            continue
        greedy = (t or {}).get("decoders", {}).get("greedy", {})
        columns[run] = {
            "test_decoder": (t or {}).get("decoder", "greedy") if t else None,
            "test_word_accuracy": t and t["word_accuracy"],
            "test_greedy_word_accuracy": greedy.get("word_accuracy", t and t["word_accuracy"]),
            "test_letter_accuracy": t and t["letter_accuracy"],
            "test_cer": t and t["cer"],
            "validation_word_accuracy": s["validation"]["word_accuracy"],
            "validation_cer": s["validation"]["cer"],
            "steps_to_cer_below_half": s.get("steps_to_cer_below_half"),
            "train_seconds": s["train_seconds"],
            "images_per_second": s["images_per_second"],
            "overfitting": s["overfitting"],
            "best_step": s.get("best_step"),
            "steps": s.get("steps"),
            "train_images": s["train_images"],
            "parameters": s["parameters"],
            "cnn": s.get("cnn", "study"),
        }
    return {"runs": columns, "product": product, "reader": reader}


RUN_HEADLINE = ("test_word_accuracy", "test_greedy_word_accuracy", "test_cer", "steps_to_cer_below_half")


def run_headlines(table: dict) -> dict:
    """Per run, the figures worth a column in `dvc exp show` (the comparison table keeps the rest:
    seconds, images/s, parameters, best step... are bookkeeping, not what experiments are compared on)."""
    return {run: {key: column[key] for key in RUN_HEADLINE} for run, column in table["runs"].items()}


HEADLINE = ("decoder", "samples", "word_accuracy", "letter_accuracy", "cer", "loss", "word_accuracy_at_coverage",
            "ece")


def headline(test: dict, rnn: str) -> dict:
    """The numbers `dvc metrics diff` shows for the model `rnn` names (its *full* run): those of the
    configured decoder, and greedy decoding's word accuracy beside them."""
    greedy = test.get("decoders", {}).get("greedy", {})
    return {"rnn": rnn, "subset": "full", "split": test.get("split"),
            **{key: test[key] for key in HEADLINE if key in test},
            **({"greedy_word_accuracy": greedy["word_accuracy"]} if "word_accuracy" in greedy else {})}


def to_markdown(table: dict, figures: list[tuple[str, str]] = ()) -> str:
    """The table, then each figure (caption, path relative to the Markdown file) as an image link."""
    runs = table["runs"]
    names = list(runs)
    ours = [f"{n} (ours)" if runs[n].get("cnn", "study") == "study" else f"{n} (ours, {runs[n]['cnn']} network)"
            for n in names]  # a run with another network than the study's says which
    header = ["", *ours, *[f"{n} (study)" for n in STUDY_RUNS], "Kaggle baseline"]
    study, kaggle = STUDY, KAGGLE_BASELINE

    def row(label, ours, theirs, baseline="–"):
        return [label, *[ours(runs[n]) for n in names], *[theirs(study[n]) for n in STUDY_RUNS], baseline]

    def steps(r):
        return "–" if r.get("steps_to_cer_below_half") is None else f"{r['steps_to_cer_below_half']:,}"

    # the study decoded greedily: its figures go beside our greedy readings; a beam decoder's row,
    # when one is configured, comes first with no study figure to compare with
    decoders = {r.get("test_decoder") for r in runs.values()} - {None, "greedy"}
    decoded = [row(f"word accuracy % (test, {d} decoding)",
                   lambda r, d=d: _pct(r["test_word_accuracy"]) if r.get("test_decoder") == d else "–",
                   lambda s: "–") for d in sorted(decoders)]
    greedy_label = "word accuracy % (test, greedy)" if decoders else "word accuracy % (test)"
    rows = [
        *decoded,
        row(greedy_label, lambda r: _pct(r.get("test_greedy_word_accuracy", r["test_word_accuracy"])),
            lambda s: _pct(s["word_accuracy"]), _pct(kaggle["word_accuracy"])),
        row("letter accuracy % (test)", lambda r: _pct(r["test_letter_accuracy"]), lambda s: _pct(s["letter_accuracy"]),
            _pct(kaggle["letter_accuracy"])),
        row("CER % (test)", lambda r: _pct(r["test_cer"]), lambda s: "–"),
        row("word accuracy % (validation, best)", lambda r: _pct(r["validation_word_accuracy"]), lambda s: "–"),
        row("steps until validation CER < 0.5", steps, lambda s: "–"),
        row("training time", lambda r: _duration(r["train_seconds"]), lambda s: _duration(s["train_seconds"])),
        row("training images/s", lambda r: f"{r['images_per_second']:.1f}", lambda s: "–"),
        row("overfitting (pp)", lambda r: f"{100 * r['overfitting']:+.1f}", lambda s: s["overfitting"]),
        row("best step / steps", lambda r: f"{r['best_step']:,}/{r['steps']:,}" if r.get("steps") else "–",
            lambda s: "–"),
        row("training images", lambda r: f"{r['train_images']:,}", lambda s: f"{s['train_images']:,}"),
        row("parameters", lambda r: f"{r['parameters']:,}", lambda s: f"{s['parameters']:,}"),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    product = ""
    if table.get("product"):
        product = f"\n\nHeadline metrics (metrics/metrics.json): **{table['product']}** (params: `rnn`)."
    if table.get("reader"):
        product += f" `hwr predict` reads with **{table['reader']}** (params: `reader`)."
    note = ("\n\nStudy columns: the published figures (validation, Kaggle data, 10 epochs at batch 128, greedy "
            "decoding). Letter accuracy and CER: the configured decoder's (evaluate.decoder). "
            f"{OVERFITTING_DEFINITION[0].upper()}{OVERFITTING_DEFINITION[1:]}.\n")
    pictures = "".join(f"\n## {caption}\n\n![{caption}]({path})\n" for caption, path in figures)
    return "# Model comparison\n\n" + "\n".join(lines) + product + note + pictures
