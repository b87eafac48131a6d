from pathlib import Path

import pytest

from hwr.core import layout
from hwr.core.errors import HwrError


def test_the_study_runs_are_every_rnn_on_every_subset_in_table_order():
    assert layout.STUDY_RUNS == ("gru-first", "lstm-first", "gru-full", "lstm-full")
    assert set(layout.STUDY_RUNS) == {layout.run_name(r, s) for r in layout.RNNS for s in layout.SUBSETS}


def test_check_train_run_gives_the_run_s_settings_or_names_the_stage_and_the_runs():
    runs = {"gru-full": {"rnn": "gru"}, "gru-wide": {"rnn": "gru", "cnn": "wide"}}
    assert layout.check_train_run("train", "gru-wide", runs) == {"rnn": "gru", "cnn": "wide"}
    with pytest.raises(HwrError, match=r"evaluate: unknown run 'rnn-full'; params.yaml's train.runs has gru-full, "
                       r"gru-wide") as info:
        layout.check_train_run("evaluate", "rnn-full", runs)
    assert "\n" not in str(info.value)


def test_a_run_s_files_are_under_its_name_in_the_given_project(tmp_path):
    assert layout.model_file("gru-full") == Path("models/gru-full/model.pt")
    assert layout.model_file("mine", tmp_path) == tmp_path / "models" / "mine" / "model.pt"
    assert layout.calibration_file("mine", tmp_path) == tmp_path / "eval" / "mine" / "calibration.json"
    assert layout.eval_metrics("gru-first") == Path("metrics/eval/gru-first.json")
    assert layout.train_curve("gru-first", "cer") == Path("metrics/train/gru-first/plots/metrics/validation/cer.tsv")
    assert layout.adaptation_work("finetune", "mine") == Path("checkpoints/finetune/mine")


def test_find_project_walks_up_to_the_folder_with_dvc_yaml(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    deep = tmp_path / "scans" / "2024"
    deep.mkdir(parents=True)
    assert layout.find_project(deep) == tmp_path.resolve()
    assert layout.find_project(tmp_path.parent) is None or layout.find_project(tmp_path.parent) != tmp_path


def test_the_kaggle_names_are_params_defaults(repo_root):
    import yaml

    data = yaml.safe_load((repo_root / "params.yaml").read_text())["data"]
    assert (data["zip_name"], data["csv_name"]) == (layout.KAGGLE_ZIP, layout.KAGGLE_CSV)


def test_split_files_are_the_kaggle_names_unless_told():
    zip_path, csv_path = layout.split_files("data/kaggle", "validation")
    assert zip_path == Path("data/kaggle/validation_v2.zip")
    assert csv_path == Path("data/kaggle/written_name_validation_v2.csv")
    assert layout.split_files("d", "test", "{split}.zip", "{split}.csv") == (Path("d/test.zip"), Path("d/test.csv"))
