import numpy as np
import pandas as pd
import pytest
import torch

from hwr.alphabet import encode_many
from hwr.checkpoints import save_model
from hwr.errors import HwrError
from hwr.evaluation import GAP, evaluate_model
from hwr.metrics import summarise
from hwr.model import CRNN
from hwr.store import StoreWriter, open_store

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
    metrics, predictions, pairs = evaluate_model(model_path, store, batch_size=2, top=3, device=torch.device("cpu"))
    assert predictions.columns.tolist() == ["FILENAME", "IDENTITY", "PREDICTION", "confidence", "correct",
                                             "letters_correct", "length"]
    assert predictions["confidence"].between(0, 1).all()
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
