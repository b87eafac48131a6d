"""Bad input, stage by stage, as a user meets it: ``python stages/<stage>.py`` in a work folder.

User errors exit 2 with one line that starts with ``error:`` and names the culprit; damaged data
that still trains (a corrupt image, a missing image, a bad label) is counted and warned about."""

import json

import yaml
from _support import default_rows, describe, error_lines, write_split


def assert_one_line_error(result, *words, code=2):
    assert result.returncode == code, describe(result)
    errors = error_lines(result.stderr)
    assert len(errors) == 1, describe(result)
    for word in words:
        assert word in errors[0], describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    return errors[0]


def read_json(path):
    return json.loads(path.read_text())


def test_valid_data_passes_every_data_stage(stage_dir, run_stage):
    for stage in ("unzip", "clean", "preprocess"):
        result = run_stage(stage_dir, stage)
        assert result.returncode == 0, describe(result)
    assert read_json(stage_dir / "metrics/unzip.json")["train"]["found"] == 4
    assert read_json(stage_dir / "metrics/clean.json")["test"]["kept"] == 4
    assert read_json(stage_dir / "metrics/preprocess.json")["validation"]["written"] == 4


def test_corrupt_jpeg_is_skipped_and_counted(stage_dir, raw_dataset, run_stage):
    rows = default_rows("train")
    bad_name = rows[1][0]
    write_split(raw_dataset, "train", rows, images={bad_name: b"\xff\xd8\xff\xe0 this is not a JPEG"})
    for stage in ("unzip", "clean"):
        assert run_stage(stage_dir, stage).returncode == 0
    result = run_stage(stage_dir, "preprocess")
    assert result.returncode == 0, describe(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING") and bad_name in line]
    assert warnings, describe(result)
    report = read_json(stage_dir / "metrics/preprocess.json")
    assert report["train"]["skipped_undecodable"] == 1 and report["train"]["written"] == 3
    assert report["validation"]["skipped_undecodable"] == 0
    index = (stage_dir / "data/tensors/train/index.csv").read_text()
    assert bad_name not in index and rows[0][0] in index


def test_image_missing_from_zip_is_counted(stage_dir, raw_dataset, run_stage):
    rows = default_rows("validation")
    gone = rows[2][0]
    write_split(raw_dataset, "validation", rows, missing=(gone,))
    result = run_stage(stage_dir, "unzip")
    assert result.returncode == 0, describe(result)
    assert any(line.startswith("WARNING") and gone in line for line in result.stderr.splitlines()), describe(result)
    report = read_json(stage_dir / "metrics/unzip.json")
    assert report["validation"]["missing_images"] == 1 and report["validation"]["found"] == 3
    assert report["train"]["missing_images"] == 0
    assert gone not in (stage_dir / "data/interim/validation.csv").read_text()


def test_csv_without_identity_column(stage_dir, raw_dataset, run_stage):
    _, csv_path = write_split(raw_dataset, "test", default_rows("test"), header="FILENAME,LABEL")
    result = run_stage(stage_dir, "unzip")
    assert_one_line_error(result, str(csv_path), "IDENTITY")
    assert not (stage_dir / "metrics/unzip.json").exists()


def test_zip_slip_entry_refuses_the_archive(stage_dir, raw_dataset, run_stage):
    zip_path, _ = write_split(raw_dataset, "train", default_rows("train"), extra_entries={"../evil.jpg": b"x"})
    result = run_stage(stage_dir, "unzip")
    assert_one_line_error(result, str(zip_path), "'../evil.jpg'")
    assert not (stage_dir.parent / "evil.jpg").exists() and not (raw_dataset.parent / "evil.jpg").exists()


def test_absolute_entry_refuses_the_archive(stage_dir, raw_dataset, run_stage):
    zip_path, _ = write_split(raw_dataset, "test", default_rows("test"), extra_entries={"/tmp/evil.jpg": b"x"})
    assert_one_line_error(run_stage(stage_dir, "unzip"), str(zip_path), "'/tmp/evil.jpg'", "absolute")


def test_label_with_question_mark_is_dropped_and_counted(stage_dir, raw_dataset, run_stage):
    rows = default_rows("train")
    rows[2] = (rows[2][0], "LE?")
    write_split(raw_dataset, "train", rows)
    assert run_stage(stage_dir, "unzip").returncode == 0
    result = run_stage(stage_dir, "clean")
    assert result.returncode == 0, describe(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING") and "LE?" in line]
    assert warnings, describe(result)
    assert rows[2][0] in warnings[0] and "line 4" in warnings[0]  # the CSV row: header is line 1
    report = read_json(stage_dir / "metrics/clean.json")
    assert report["train"]["dropped"]["unknown_characters"] == 1 and report["train"]["kept"] == 3
    assert "LE?" not in (stage_dir / "data/clean/train.csv").read_text()


def test_unknown_rnn_fails_before_any_work(stage_dir, run_stage):
    params = yaml.safe_load((stage_dir / "params.yaml").read_text())
    params["rnn"] = "foo"
    (stage_dir / "params.yaml").write_text(yaml.safe_dump(params))
    for stage, args in (("unzip", ()), ("train", ("gru", "first")), ("evaluate", ())):
        result = run_stage(stage_dir, stage, *args)
        assert_one_line_error(result, "rnn", "'foo'")
    assert not (stage_dir / "data").exists() and not (stage_dir / "metrics").exists()


def test_missing_raw_data_names_the_zip(stage_dir, raw_dataset, run_stage):
    (raw_dataset / "validation_v2.zip").unlink()
    assert_one_line_error(run_stage(stage_dir, "unzip"), str(raw_dataset / "validation_v2.zip"), "data.raw_dir")


def test_stage_order_mistake_is_one_line(stage_dir, run_stage):
    assert_one_line_error(run_stage(stage_dir, "train", "gru", "first"), "data/tensors/train", "preprocess")



def test_bad_style_mix_is_a_params_error(stage_dir, run_stage):
    params = yaml.safe_load((stage_dir / "params.yaml").read_text())
    params["synth"]["style_mix"] = {"hershey": 1.0, "comic": 1.0}
    (stage_dir / "params.yaml").write_text(yaml.safe_dump(params))
    assert_one_line_error(run_stage(stage_dir, "synth"), "style_mix", "comic")
    assert not (stage_dir / "data").exists()
