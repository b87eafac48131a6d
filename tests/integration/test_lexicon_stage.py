"""The lexicon stage on a tiny dataset: ``python stages/lexicon.py`` in a work folder."""

import json

import pandas as pd
import yaml
from _support import default_rows, describe, error_lines, write_split

from hwr.decoding.charlm import load_arpa
from hwr.decoding.lexicon import load_lexicon


def set_extra(stage_dir, path):
    params = yaml.safe_load((stage_dir / "params.yaml").read_text())
    params["lexicon"] = {**params.get("lexicon", {}), "extra": str(path)}
    (stage_dir / "params.yaml").write_text(yaml.safe_dump(params))


def test_lexicon_from_training_labels_and_extra_names(stage_dir, raw_dataset, run_stage, tmp_path):
    write_split(raw_dataset, "validation", [("V1.jpg", "ZOE"), ("V2.jpg", "LEA"), ("V3.jpg", "ZOE"), ("V4.jpg", "NOE")])
    extra = tmp_path / "names.csv"
    extra.write_text("IDENTITY,count\nnoe,7\nUNREADABLE,2\n")
    set_extra(stage_dir, extra)
    for stage in ("unzip", "clean", "lexicon"):
        result = run_stage(stage_dir, stage)
        assert result.returncode == 0, describe(result)
    train_names = {name for _, name in default_rows("train")}
    lexicon = load_lexicon(stage_dir / "data/lexicon")
    assert lexicon.names == train_names | {"NOE"}  # never the validation-only ZOE
    stats = json.loads((stage_dir / "metrics/lexicon.json").read_text())
    assert stats["names"] == len(train_names) + 1 and stats["extra_names"] == 1 and stats["extra_rows"] == 7
    assert stats["extra_skipped"] == {"placeholder": 1}
    assert stats["validation_oov_rate"] == 0.5  # ZOE twice of four
    assert stats["validation_perplexity"] > 1
    assert "skipped 1 name(s)" in result.stderr
    names = pd.read_csv(stage_dir / "data/lexicon/names.csv", keep_default_na=False)
    assert names.iloc[0].tolist() == ["NOE", 7]
    load_arpa(stage_dir / "data/lexicon/chars.arpa")


def test_missing_extra_file_and_missing_labels_are_one_line(stage_dir, run_stage, tmp_path):
    result = run_stage(stage_dir, "lexicon")
    errors = error_lines(result.stderr)
    assert result.returncode == 2 and len(errors) == 1 and "clean" in errors[0], describe(result)
    for stage in ("unzip", "clean"):
        assert run_stage(stage_dir, stage).returncode == 0
    set_extra(stage_dir, tmp_path / "absent.csv")
    result = run_stage(stage_dir, "lexicon")
    errors = error_lines(result.stderr)
    assert result.returncode == 2 and len(errors) == 1 and "absent.csv" in errors[0], describe(result)
    assert "Traceback" not in result.stderr and not (stage_dir / "data/lexicon").exists()
