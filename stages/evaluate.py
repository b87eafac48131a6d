"""Stage evaluate@{rnn}-{subset}: one trained model on the `evaluate.split` split (test by default),
read by greedy decoding and by the `evaluate.decoder`, confidences calibrated on the validation split.

Usage: python stages/evaluate.py RNN SUBSET
"""

import sys
from pathlib import Path

from common import log, run

from hwr.beam import decoder_settings, make_decoder
from hwr.errors import HwrError
from hwr.evaluation import evaluate_model
from hwr.files import write_csv, write_json
from hwr.params import RNN_CHOICES, SUBSET_CHOICES
from hwr.store import open_store


def main(params, rnn, subset):
    if rnn not in RNN_CHOICES or subset not in SUBSET_CHOICES:
        raise HwrError(f"evaluate: unknown run {rnn}-{subset}; use RNN in {RNN_CHOICES} and SUBSET in {SUBSET_CHOICES}")
    e, name = params.evaluate, f"{rnn}-{subset}"
    validation = None
    if e.calibrate:
        validation = open_store(Path("data/tensors/validation"))
        if e.split == "validation":
            log.warning("evaluate: confidences are calibrated on the split they are measured on (validation)")
    result = evaluate_model(Path("models") / name / "model.pt", open_store(Path("data/tensors") / e.split),
                            batch_size=e.batch_size, top=e.top_confusions,
                            decoder=(e.decoder, make_decoder(e.decoder, e)), validation=validation)
    out = Path("eval") / name
    write_json(Path("metrics/eval") / f"{name}.json", {"run": name, "split": e.split, **result.metrics})
    write_csv(out / "predictions.csv", result.predictions)
    write_csv(out / "confusion.csv", result.pairs)
    write_csv(out / "coverage.csv", result.coverage)
    if e.decoder in result.calibrations:
        result.calibrations[e.decoder].save(out / "calibration.json", **decoder_settings(e.decoder, e))
    m, g = result.metrics, result.metrics["decoders"]["greedy"]
    log.info("evaluate: %s on %s, %s decoding: word accuracy %.4f (greedy %.4f), CER %.4f (greedy %.4f), "
             "most confident half %.4f", name, e.split, e.decoder, m["word_accuracy"], g["word_accuracy"],
             m["cer"], g["cer"], m["word_accuracy_at_coverage"]["50"] or 0.0)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python stages/evaluate.py RNN SUBSET   (e.g. gru full)")
    run(main, sys.argv[1], sys.argv[2])
