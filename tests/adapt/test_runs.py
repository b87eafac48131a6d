"""hwr.adapt.runs: fine-tuning and self-training runs, end to end on tiny data (seconds each).

The labelled data is three tiny stores (train 10, validation 4, test 4 random images with names);
the synthetic data a tiny Kaggle-layout split of JPEGs; training takes 1-2 steps of batch 8 in fp32
on one thread, without dvclive."""

import dataclasses
import json

import pandas as pd
import pytest
import torch
from _support import default_rows, jpeg_bytes, tiny_model, tiny_store, write_split, write_zip

from hwr.adapt.runs import Labelled, RunPaths, base_parts, finetune, selftrain
from hwr.data.store import open_store
from hwr.model.checkpoints import load_model
from hwr.params import FinetuneRun, SelftrainRun, from_dict


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Labelled stores, the synthetic split, tiny params, one torch thread."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tensors = tmp_path / "data" / "tensors"
    tiny_store(tensors / "train", 10, 1)
    tiny_store(tensors / "validation", 4, 2, texts=["A", "ANNA", "A", "LEA"])
    tiny_store(tensors / "test", 4, 3)
    synth = tmp_path / "synth"
    write_split(synth, "train", default_rows("train", 6))
    params = from_dict({"synth": {"out_dir": str(synth)},
                        "train": {"precision": "fp32", "eval_batch_size": 8, "train_eval_size": 4, "eval_every": 0},
                        "evaluate": {"batch_size": 8, "decoder": "greedy"}, "preprocess": {"jobs": 1}})
    yield tmp_path, Labelled.open(tensors), params
    torch.set_num_threads(threads)


def _paths(tmp_path, stage, name):
    return dataclasses.replace(RunPaths.of(stage, name, root=tmp_path), live=False)


def test_labelled_selections_are_nested_and_repeated(project, tmp_path):
    _, data, params = project
    small = base_parts(FinetuneRun(labelled=3, repeat=4, seed=5), data, tmp_path / "synth", tmp_path / "work")
    large = base_parts(FinetuneRun(labelled=6, seed=5), data, tmp_path / "synth", tmp_path / "work")
    everything = base_parts(FinetuneRun(), data, tmp_path / "synth", tmp_path / "work")
    assert len(small) == len(large) == 1  # no synthetic names asked for
    assert len(small[0].rows) == 3 and small[0].repeat == 4
    assert set(small[0].rows) < set(large[0].rows) and len(everything[0].rows) == 10


def test_finetune_trains_from_the_start_model_on_the_mix_and_evaluates(project):
    tmp_path, data, params = project
    start = tiny_model(tmp_path / "pretrained" / "gru.pt", "gru", seed=3)
    run = FinetuneRun(init_from=str(start), steps=2, batch_size=8, labelled=5, repeat=2, synthetic=4, seed=1)
    paths = _paths(tmp_path, "finetune", "mine")
    result = finetune("mine", run, params, paths, data=data)

    assert result["train_images"] == 5 * 2 + 4 and result["steps"] == 2 and result["init_from"] == str(start)
    _, config = load_model(paths.model)
    assert (config["rnn"], config["subset"], config["resize"]) == ("gru", "mine", "crop")
    evaluation = json.loads((paths.metrics / "evaluation.json").read_text())
    assert (evaluation["run"], evaluation["split"], evaluation["init_from"]) == ("mine", "test", str(start))
    assert (evaluation["labelled"], evaluation["repeat"], evaluation["synthetic"]) == (5, 2, 4)
    assert evaluation["samples"] == 4 and evaluation["word_accuracy"] == result["evaluation"]["word_accuracy"]
    assert json.loads((paths.metrics / "summary.json").read_text())["train_images"] == 14
    predictions = pd.read_csv(paths.eval / "predictions.csv", dtype=str, keep_default_na=False)
    assert predictions["FILENAME"].tolist() == open_store(data.tensors / "test").filenames
    assert (paths.eval / "calibration.json").is_file()
    assert not paths.work.exists(), "a finished run removes its scratch folder"


def test_a_wide_start_model_is_fine_tuned_at_its_width_with_synthetic_names_as_wide(tmp_path, monkeypatch):
    """A model that reads 384-px crops fine-tunes at 384 on 384-px stores, its synthetic names
    decoded as wide (a mix of widths cannot be concatenated)."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    tensors = tmp_path / "data" / "tensors"
    for split, seed in (("train", 1), ("validation", 2), ("test", 3)):
        tiny_store(tensors / split, 6, seed, width=384)
    synth = tmp_path / "synth"
    write_split(synth, "train", default_rows("train", 4))
    params = from_dict({"synth": {"out_dir": str(synth)},
                        "train": {"precision": "fp32", "eval_batch_size": 8, "train_eval_size": 4, "eval_every": 0},
                        "evaluate": {"batch_size": 8, "decoder": "greedy"}, "preprocess": {"jobs": 1}})
    start = tiny_model(tmp_path / "wide.pt", "gru", seed=3, width=384)
    run = FinetuneRun(init_from=str(start), steps=1, batch_size=8, synthetic=4, seed=1)
    paths = _paths(tmp_path, "finetune", "wide")
    result = finetune("wide", run, params, paths, data=Labelled.open(tensors))
    model, config = load_model(paths.model)
    assert result["width"] == config["width"] == model.width == 384 and result["train_images"] == 6 + 4


def test_a_selftrain_round_pseudo_labels_trains_and_measures(project):
    """Two rounds from a model that reads every image "A": with threshold 0, every readable
    unlabelled image is a pseudo-label "A" in round 1 and joins the labelled images in its mix;
    round 2 starts from round 1's model; the last round's model is the run's."""
    tmp_path, data, params = project
    start = tiny_model(tmp_path / "models" / "ft" / "model.pt", "gru", reads="A")
    entries = {f"u/U{i}.jpg": jpeg_bytes(seed=10 + i) for i in range(5)}
    entries["u/broken.jpg"] = b"\xff\xd8\xff\xe0 not really a JPEG"
    scans = write_zip(tmp_path / "unlabelled.zip", entries)
    run = SelftrainRun(init_from=str(start), unlabeled=str(scans), rounds=2, threshold=0.0, steps=1, batch_size=8,
                       labelled=4, repeat=2, synthetic=3, seed=0)
    paths = _paths(tmp_path, "selftrain", "mine")
    rounds = selftrain("mine", run, params, paths, data=data)

    first = json.loads((paths.metrics / "round-1.json").read_text())
    assert first == rounds[0] and first["round"] == 1 and first["init_from"] == str(start)
    assert (first["unlabeled"]["images"], first["unlabeled"]["read"], first["unlabeled"]["skipped"]) == (6, 5, 1)
    assert first["unlabeled"]["skipped_by_reason"] == {"undecodable image": 1}
    assert first["pseudo_labels"] == first["unlabeled"]["kept"] == 5 and first["threshold"] == 0.0
    assert first["train_images"] == 4 * 2 + 3 + 5
    assert first["evaluation"]["split"] == "test"
    assert set(first["evaluation"]) >= {"decoder", "word_accuracy", "cer", "word_accuracy_at_coverage"}
    assert set(first["validation"]) == {"word_accuracy", "letter_accuracy", "cer"}
    labels = pd.read_csv(paths.pseudo / "round-1" / "pseudo-labels.csv", dtype={"IDENTITY": str}, keep_default_na=False)
    assert labels.columns.tolist() == ["FILENAME", "IDENTITY", "confidence"]
    assert labels["FILENAME"].tolist() == [f"U{i}.jpg" for i in range(5)] and set(labels["IDENTITY"]) == {"A"}
    assert labels["confidence"].between(0, 1).all()

    second = json.loads((paths.metrics / "round-2.json").read_text())
    assert second["init_from"] == str(paths.work / "round-1" / "model.pt")
    assert (paths.pseudo / "round-2" / "pseudo-labels.csv").is_file()
    _, config = load_model(paths.model)
    assert config["subset"] == "mine-round-2"
    evaluation = json.loads((paths.metrics / "evaluation.json").read_text())
    assert evaluation["word_accuracy"] == second["evaluation"]["word_accuracy"] and evaluation["rounds"] == 2
    assert (paths.eval / "predictions.csv").is_file() and not paths.work.exists()
