import numpy as np
import pandas as pd
import pytest
import torch

from hwr.core.alphabet import encode_many
from hwr.core.errors import HwrError
from hwr.data.store import StoreWriter, open_store
from hwr.decoding.factory import Decoder
from hwr.decoding.greedy import Reading
from hwr.evaluation.evaluate import GAP, evaluate_model
from hwr.evaluation.metrics import summarise
from hwr.model.checkpoints import save_model
from hwr.model.crnn import CRNN

TEXTS = ["ANNA", "LL", "JEAN-PAUL"]


@pytest.fixture
def store(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 256), dtype=np.uint8)
    with StoreWriter(tmp_path / "test", 3) as writer:
        writer.append(images)
        writer.commit(encode_many(TEXTS), pd.DataFrame({"FILENAME": ["a.jpg", "b.jpg", "c.jpg"], "IDENTITY": TEXTS}),
                      {"resize": "crop"})
    return open_store(tmp_path / "test")


@pytest.fixture
def model_path(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_model(path, CRNN("gru"), {"rnn": "gru", "subset": "full", "resize": "crop"})
    return path


def test_metrics_predictions_and_pairs(store, model_path):
    result = evaluate_model(model_path, store, batch_size=2, top=3, device=torch.device("cpu"))
    metrics, predictions, pairs = result.metrics, result.predictions, result.pairs
    assert predictions.columns.tolist() == ["FILENAME", "IDENTITY", "PREDICTION", "confidence", "raw_confidence",
                                             "correct", "letters_correct", "length"]
    assert predictions["confidence"].between(0, 1).all()
    assert (predictions["confidence"] == predictions["raw_confidence"]).all()  # no validation: not calibrated
    assert metrics["decoder"] == "greedy" and set(metrics["decoders"]) == {"greedy"}
    assert set(metrics["word_accuracy_at_coverage"]) == {"50", "80", "100"} and "ece" not in metrics
    assert result.coverage.columns.tolist() == ["coverage", "word_accuracy", "greedy_word_accuracy"]
    assert result.coverage["coverage"].tolist() == pytest.approx([1 / 3, 2 / 3, 1.0], abs=1e-4)
    assert predictions["FILENAME"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert predictions["length"].tolist() == [4, 2, 9]
    expected = summarise(TEXTS, predictions["PREDICTION"].tolist())
    for key in ("samples", "word_accuracy", "letter_accuracy", "cer"):
        assert metrics[key] == pytest.approx(expected[key])
    assert metrics["loss"] > 0 and len(metrics["top_confusions"]) <= 3
    assert pairs.columns.tolist() == ["actual", "predicted"]
    # every true character appears once as "actual" (or is paired with a gap); insertions are GAP
    assert sorted(c for c in pairs["actual"] if c != GAP) == sorted("".join(TEXTS))


def test_resize_mismatch_is_a_user_error(store, model_path, tmp_path):
    torch.manual_seed(0)
    fit_model = tmp_path / "fit.pt"
    save_model(fit_model, CRNN("gru"), {"rnn": "gru", "subset": "full", "resize": "fit"})
    with pytest.raises(HwrError) as info:
        evaluate_model(fit_model, store, device=torch.device("cpu"))
    assert "fit" in str(info.value) and "crop" in str(info.value) and str(fit_model) in str(info.value)


def test_an_empty_split_is_a_user_error_not_a_score(tmp_path, model_path):
    """No metric is computed over nothing (an all-UNREADABLE test split once gave CER 0.0000)."""
    with StoreWriter(tmp_path / "empty", 0) as writer:
        writer.commit(encode_many([]), pd.DataFrame({"FILENAME": [], "IDENTITY": []}), {"resize": "crop"})
    with pytest.raises(HwrError) as info:
        evaluate_model(model_path, open_store(tmp_path / "empty"), device=torch.device("cpu"))
    assert str(tmp_path / "empty") in str(info.value) and "no images" in str(info.value)


def test_a_second_decoder_beside_greedy_and_calibration(store, model_path):
    """The configured decoder's figures lead, greedy's sit beside them; the validation split
    calibrates both, so every confidence of a decoder that is always wrong maps to 0."""
    def shouting(log_probs):  # a decoder that reads every image as "X", sure of it
        return [Reading("X", 0.99) for _ in range(len(log_probs))]

    result = evaluate_model(model_path, store, batch_size=2, device=torch.device("cpu"),
                            decoder=Decoder("shout", {"decoder": "shout"}, shouting), validation=store)
    metrics = result.metrics
    assert metrics["decoder"] == "shout" and set(metrics["decoders"]) == {"greedy", "shout"}
    assert metrics["word_accuracy"] == 0 and metrics["decoders"]["shout"]["ece_raw"] == pytest.approx(0.99)
    assert metrics["ece"] == pytest.approx(0.0) and (result.predictions["confidence"] == 0).all()
    assert (result.predictions["raw_confidence"] == 0.99).all() and (result.predictions["PREDICTION"] == "X").all()
    greedy = evaluate_model(model_path, store, device=torch.device("cpu"))
    assert metrics["decoders"]["greedy"]["word_accuracy"] == greedy.metrics["word_accuracy"]
    assert result.predictions["greedy"].tolist() == greedy.predictions["PREDICTION"].tolist()
    assert set(result.calibrations) == {"greedy", "shout"}
    assert metrics["decoders"]["shout"]["names_per_second"] > 0


def test_the_evaluation_writes_the_model_again_with_what_reading_it_needs(store, model_path, tmp_path):
    """readers/<run>.pt: the same weights, carrying the decoder's name and settings, the calibration
    fitted on validation and the lexicon; a model read from it alone reads as the project does."""
    from collections import Counter

    from hwr.decoding.bundle import reading_decoder
    from hwr.decoding.lexicon import write_lexicon
    from hwr.evaluation.evaluate import write_evaluation
    from hwr.model.checkpoints import load_model
    from hwr.params import EvaluateParams

    lexicon = tmp_path / "lexicon"
    write_lexicon(lexicon, Counter({"ANNA": 2, "LL": 1}), order=3)
    result = evaluate_model(model_path, store, batch_size=2, device=torch.device("cpu"), validation=store)
    reader = tmp_path / "readers" / "gru-full.pt"
    write_evaluation(result, EvaluateParams(decoder="greedy"), "gru-full", metrics_path=tmp_path / "m.json",
                     out_dir=tmp_path / "eval", reader=(model_path, reader), lexicon_dir=lexicon)
    model, config = load_model(reader)
    original, _ = load_model(model_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), original.state_dict().values()))
    reading = config["reading"]
    assert reading["decoder"] == "greedy" and reading["settings"] == {"decoder": "greedy"}
    assert reading["calibration"] == result.calibrations["greedy"].to_dict()
    assert reading["lexicon"]["names.csv"] == (lexicon / "names.csv").read_text(encoding="utf-8")
    decoder = reading_decoder(reading)
    with torch.no_grad():
        log_probs = model(torch.from_numpy(store.images[:])).float()
    calibrated = [r.confidence for r in decoder(log_probs)]
    assert calibrated == pytest.approx(result.predictions["confidence"].tolist(), abs=1e-6)
