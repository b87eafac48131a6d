"""Stage evaluate: the model chosen by the top-level param `rnn` (trained on `full`) on the test split."""

from pathlib import Path

from common import log, run

from hwr.evaluation import evaluate_model
from hwr.files import write_csv, write_json
from hwr.store import open_store


def main(params):
    e = params.evaluate
    model_path = Path("models") / f"{params.rnn}-full" / "model.pt"
    metrics, predictions, pairs = evaluate_model(model_path, open_store(Path("data/tensors") / e.split),
                                                 batch_size=e.batch_size, top=e.top_confusions)
    write_json("metrics/metrics.json", {"rnn": params.rnn, "subset": "full", "split": e.split, **metrics})
    write_csv("eval/predictions.csv", predictions)
    write_csv("eval/confusion.csv", pairs)
    log.info("evaluate: %s-full on %s: word accuracy %.4f, letter accuracy %.4f, CER %.4f", params.rnn, e.split,
             metrics["word_accuracy"], metrics["letter_accuracy"], metrics["cer"])


if __name__ == "__main__":
    run(main, fast_allocator=True)
