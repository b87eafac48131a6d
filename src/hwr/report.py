"""The comparison table: the study's table for our four models, beside the study's own figures."""

from __future__ import annotations

STUDY = {
    "gru-first": {"word_accuracy": 0.744, "letter_accuracy": 0.899, "train_seconds": 397, "overfitting": "none", "parameters": 6689822, "train_images": 64000},
    "lstm-first": {"word_accuracy": 0.781, "letter_accuracy": 0.913, "train_seconds": 441, "overfitting": "+", "parameters": 8856606, "train_images": 64000},
    "gru-full": {"word_accuracy": 0.810, "letter_accuracy": 0.920, "train_seconds": 1872, "overfitting": "+", "parameters": 6689822, "train_images": 300800},
    "lstm-full": {"word_accuracy": 0.828, "letter_accuracy": 0.925, "train_seconds": 2011, "overfitting": "++", "parameters": 8856606, "train_images": 300800},
}
KAGGLE_BASELINE = {"word_accuracy": 0.6910, "letter_accuracy": 0.8216}
RUNS = ("gru-first", "lstm-first", "gru-full", "lstm-full")

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


def build(summaries: dict[str, dict], tests: dict[str, dict]) -> dict:
    """summaries: run -> training summary; tests: run -> test metrics. Returns the JSON table."""
    columns = {}
    for run in RUNS:
        s, t = summaries.get(run), tests.get(run)
        if s is None:
            continue
        columns[run] = {
            "test_word_accuracy": t and t["word_accuracy"],
            "test_letter_accuracy": t and t["letter_accuracy"],
            "test_cer": t and t["cer"],
            "validation_word_accuracy": s["validation"]["word_accuracy"],
            "validation_letter_accuracy": s["validation"]["letter_accuracy"],
            "validation_cer": s["validation"]["cer"],
            "train_seconds": s["train_seconds"],
            "images_per_second": s["images_per_second"],
            "overfitting": s["overfitting"],
            "best_epoch": s["best_epoch"],
            "epochs": s["epochs"],
            "train_images": s["train_images"],
            "parameters": s["parameters"],
        }
    return {"runs": columns, "study": STUDY, "kaggle_baseline": KAGGLE_BASELINE,
            "overfitting_definition": OVERFITTING_DEFINITION}


def to_markdown(table: dict) -> str:
    runs = table["runs"]
    names = list(runs)
    header = ["", *[f"{n} (ours)" for n in names], *[f"{n} (study)" for n in RUNS], "Kaggle baseline"]
    study, kaggle = table["study"], table["kaggle_baseline"]

    def row(label, ours, theirs, baseline="–"):
        return [label, *[ours(runs[n]) for n in names], *[theirs(study[n]) for n in RUNS], baseline]

    rows = [
        row("word accuracy % (test)", lambda r: _pct(r["test_word_accuracy"]), lambda s: _pct(s["word_accuracy"]),
            _pct(kaggle["word_accuracy"])),
        row("letter accuracy % (test)", lambda r: _pct(r["test_letter_accuracy"]), lambda s: _pct(s["letter_accuracy"]),
            _pct(kaggle["letter_accuracy"])),
        row("CER % (test)", lambda r: _pct(r["test_cer"]), lambda s: "–"),
        row("word accuracy % (validation, best epoch)", lambda r: _pct(r["validation_word_accuracy"]), lambda s: "–"),
        row("training time", lambda r: _duration(r["train_seconds"]), lambda s: _duration(s["train_seconds"])),
        row("training images/s", lambda r: f"{r['images_per_second']:.1f}", lambda s: "–"),
        row("overfitting (pp)", lambda r: f"{100 * r['overfitting']:+.1f}", lambda s: s["overfitting"]),
        row("best epoch / epochs", lambda r: f"{r['best_epoch']}/{r['epochs']}", lambda s: "–/10"),
        row("training images", lambda r: f"{r['train_images']:,}", lambda s: f"{s['train_images']:,}"),
        row("parameters", lambda r: f"{r['parameters']:,}", lambda s: f"{s['parameters']:,}"),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    note = ("\n\nStudy columns: the published figures (validation, Kaggle data). "
            f"{table['overfitting_definition'][0].upper()}{table['overfitting_definition'][1:]}.\n")
    return "# Model comparison\n\n" + "\n".join(lines) + note
