"""Bad input, stage by stage, as a user meets it: ``python stages/<stage>.py`` in a work folder.

User errors exit 2 with one line that starts with ``error:`` and names the culprit; damaged data
that still trains (a corrupt image, a missing image, a bad label) is counted and warned about."""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import yaml
from _support import default_rows, describe, error_lines, jpeg_bytes, ran_stages, run, subprocess_env, write_split
from PIL import Image


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
    assert report["train"]["skipped"]["undecodable"] == 1 and report["train"]["written"] == 3
    assert sum(report["validation"]["skipped"].values()) == 0
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
    for stage, args in (("check_params", ()), ("unzip", ()), ("train", ("gru-first",)),
                        ("evaluate", ("gru-full",))):
        result = run_stage(stage_dir, stage, *args)
        assert_one_line_error(result, "rnn", "'foo'")
    assert not (stage_dir / "data").exists() and not (stage_dir / "metrics").exists()


def test_missing_raw_data_names_the_zip(stage_dir, raw_dataset, run_stage):
    (raw_dataset / "validation_v2.zip").unlink()
    assert_one_line_error(run_stage(stage_dir, "unzip"), str(raw_dataset / "validation_v2.zip"), "data.raw_dir")


def test_stage_order_mistake_is_one_line(stage_dir, run_stage):
    assert_one_line_error(run_stage(stage_dir, "train", "gru-first"), "data/tensors/train", "preprocess")



def test_bad_style_mix_is_a_params_error(stage_dir, run_stage):
    params = yaml.safe_load((stage_dir / "params.yaml").read_text())
    params["synth"]["style_mix"] = {"hershey": 1.0, "comic": 1.0}
    (stage_dir / "params.yaml").write_text(yaml.safe_dump(params))
    assert_one_line_error(run_stage(stage_dir, "synth"), "style_mix", "comic")
    assert not (stage_dir / "data").exists()


# ---------------------------------------------------------------- bad inputs, built here (small)

def damaged_jpeg(seed: int = 0) -> bytes:
    """A JPEG whose scan data lost its second half (a partial copy; the end marker kept): Pillow
    decodes it without a word, the lost half grey; libjpeg reports corrupt data."""
    data = jpeg_bytes(seed=seed)
    sos = data.index(b"\xff\xda")
    return data[: sos + (len(data) - sos) // 2] + b"\xff\xd9"


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def ink_16_bit() -> bytes:
    """A 16-bit grayscale PNG of dark strokes on white (clipped to 8 bits, the strokes turn white)."""
    gray = np.asarray(Image.open(io.BytesIO(jpeg_bytes(seed=77))).convert("L"))
    return png_bytes(gray.astype(np.uint16) * 257)


def overwrite_entry(zip_path, member: str, count: int = 20) -> None:
    """Zero ``count`` bytes in the middle of ``member``'s data: the zip still opens, its CRC fails."""
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(member)
    raw = bytearray(zip_path.read_bytes())
    start = info.header_offset + 30 + sum(struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30]))
    middle = start + info.compress_size // 2
    raw[middle : middle + count] = bytes(count)
    zip_path.write_bytes(bytes(raw))


def zip_with_method(path, entries: dict, method: int):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=method)
    return path


def set_params(work, **groups):
    params = yaml.safe_load((work / "params.yaml").read_text())
    for group, values in groups.items():
        if isinstance(values, dict):
            params.setdefault(group, {}).update(values)
        else:
            params[group] = values
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def leftovers(root) -> list[str]:
    """Hidden siblings a stage left (staged outputs, temporary stores)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if ".dvc" not in p.parts and p.name != ".gitignore"
                  and not p.name.startswith((".git", ".dvc")))


# Train: good rows among one of each bad kind; the rows a user should get back are GOOD_TRAIN.
GOOD_TRAIN = [f"TRAIN_{i:04d}.jpg" for i in range(1, 7)] + ["DEEP16.png"]
BAD_IMAGES = {"DAMAGED.jpg": "damaged", "CRC.jpg": "damaged_entry", "BOMB.jpg": "too_large",
              "HUGE.png": "too_many_pixels", "TEXT.jpg": "undecodable"}
BAD_LABELS = {"QUESTION.jpg": ("LE?", "unknown_characters"), "UNREAD.jpg": ("UNREADABLE", "placeholder"),
              "BLANK.jpg": ("", "missing"), "EMPTYFIELD.jpg": ("EMPTY", "empty"),
              "LONG.jpg": ("A" * 30, "too_long")}
LIMITS = {"max_pixels": 100_000, "max_image_bytes": 200_000}


def write_every_bad_input(raw) -> None:
    """A raw folder holding one of each bad input the pipeline skips and counts, in the Kaggle layout;
    validation is a bzip2 zip and test an lzma zip (read, not lost)."""
    rows = [(name, "ANNA") for name in GOOD_TRAIN[:3]] + [(n, "BAD") for n in BAD_IMAGES]
    rows += [(name, "MARIE") for name in GOOD_TRAIN[3:]] + [(n, label) for n, (label, _) in BAD_LABELS.items()]
    rows += [("MISSING.jpg", "GONE"), (GOOD_TRAIN[0], "REPEATED")]
    images = {"DAMAGED.jpg": damaged_jpeg(), "BOMB.jpg": bytes(300_000), "HUGE.png": png_bytes(np.full((400, 400), 255,
              np.uint8)), "TEXT.jpg": b"this is not an image", "DEEP16.png": ink_16_bit()}
    zip_path, _ = write_split(raw, "train", rows, images=images, missing=("MISSING.jpg",), extra_entries={
        "train_v2/train/EXTRA.jpg": jpeg_bytes(seed=5), "train_v2/README.txt": b"notes"})
    with zipfile.ZipFile(zip_path) as archive:  # the bomb deflated (300 kB of zeros in ~300 bytes)
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, data in entries.items():
            method = zipfile.ZIP_DEFLATED if name.endswith("BOMB.jpg") else zipfile.ZIP_STORED
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=method)
    overwrite_entry(zip_path, "train_v2/train/CRC.jpg")
    for split, method in (("validation", zipfile.ZIP_BZIP2), ("test", zipfile.ZIP_LZMA)):
        rows = default_rows(split)
        write_split(raw, split, rows)
        zip_with_method(raw / f"{split}_v2.zip",
                        {f"{split}_v2/{split}/{n}": jpeg_bytes(seed=i) for i, (n, _) in enumerate(rows)}, method)


@pytest.mark.slow
def test_dvc_repro_over_every_bad_input_counts_each_and_loses_no_good_row(make_pipeline, tmp_path):
    raw = tmp_path / "raw"
    write_every_bad_input(raw)
    pipeline = make_pipeline("every-bad-input", {"data": {"raw_dir": str(raw)}, "preprocess": {"jobs": 2, **LIMITS}})
    result = pipeline.dvc("repro", "preprocess")
    assert ran_stages(result)[:1] == ["check_params"], describe(result)
    unzip = pipeline.json("metrics/unzip.json")["train"]
    assert {k: unzip[k] for k in ("csv_rows", "zip_images", "found", "missing_images", "unlisted_images",
                                  "repeated_rows")} == {"csv_rows": 19, "zip_images": 18, "found": 17,
                                                        "missing_images": 1, "unlisted_images": 1, "repeated_rows": 1}
    assert unzip["missing_examples"] == ["MISSING.jpg"] and unzip["unlisted_examples"] == ["EXTRA.jpg"]
    clean = pipeline.json("metrics/clean.json")["train"]
    assert clean["rows"] == 17 and clean["kept"] == 12
    assert clean["dropped"] == {reason: 1 for _, reason in BAD_LABELS.values()}
    report = pipeline.json("metrics/preprocess.json")
    assert report["train"]["rows"] == 12 and report["train"]["written"] == len(GOOD_TRAIN)
    assert report["train"]["skipped"] == {reason: 1 for reason in BAD_IMAGES.values()}
    assert {e["file"]: e["reason"] for e in report["train"]["skipped_examples"]} == BAD_IMAGES
    for name, reason in BAD_IMAGES.items():  # each skip named in the log, with its reason
        assert any(name in line and "skipped" in line for line in result.stderr.splitlines()), describe(result)
    for split in ("validation", "test"):  # bzip2 and lzma zips: read, every row kept
        assert report[split]["written"] == 4 and sum(report[split]["skipped"].values()) == 0
    index = (pipeline.repo / "data/tensors/train/index.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in index[1:]] == GOOD_TRAIN  # no good row lost, in CSV order
    from hwr.data.store import open_store

    store = open_store(pipeline.repo / "data/tensors/train")
    assert store.images[GOOD_TRAIN.index("DEEP16.png")].min() < 100  # the 16-bit image kept its ink
    assert leftovers(pipeline.repo / "data") == [] and leftovers(pipeline.repo / "metrics") == []

    # a typo in a key no stage tracks, and an impossible value, on an up-to-date pipeline: the
    # project's one-line message, and nothing runs after the check
    params = pipeline.params()
    for change, words in (({"train": {**params["train"], "epoch": 5}}, ["unknown key train.epoch"]),
                          ({"rnn": "foo"}, ["rnn='foo'", "gru, lstm"]),
                          ({"evaluate": {**params["evaluate"], "split": "dev"}}, ["evaluate.split='dev'"])):
        pipeline.set_params({**params, **change})
        failed = pipeline.dvc("repro", check=False)
        assert failed.returncode != 0 and ran_stages(failed) == ["check_params"], describe(failed)
        errors = error_lines(failed.stderr + failed.stdout)
        assert len(errors) == 1 and all(w in errors[0] for w in words), describe(failed)
        assert "No such file" not in failed.stderr + failed.stdout, describe(failed)
    pipeline.set_params(params)
    again = pipeline.dvc("repro", "preprocess")
    assert set(ran_stages(again)) <= {"check_params"}, describe(again)  # passing re-runs nothing else (or
    # nothing at all: DVC's run cache knows these params passed)


@pytest.mark.slow
def test_dvc_exp_run_stops_on_a_typo_or_an_impossible_value(make_pipeline):
    pipeline = make_pipeline("exp-typo", {})
    for setting, words in (("+train.epoch=5", "unknown key train.epoch"),  # '+' adds a key (DVC's syntax)
                           ("preprocess.max_pixels=0", "preprocess.max_pixels=0 is impossible")):
        failed = pipeline.dvc("exp", "run", "--set-param", setting, check=False)
        assert failed.returncode != 0 and ran_stages(failed) == ["check_params"], describe(failed)
        errors = error_lines(failed.stderr + failed.stdout)
        assert len(errors) == 1 and words in errors[0], describe(failed)
        pipeline.git("checkout", "params.yaml")  # a failed experiment leaves its params in the workspace


@pytest.mark.parametrize("field,value,words", [(10, 9, "deflate64 (method 9)"), (8, 1, "is encrypted")])
def test_a_zip_hwr_cannot_read_is_refused_at_unzip(stage_dir, raw_dataset, run_stage, field, value, words):
    """Not every image skipped later at exit 0: the archive is refused at once, naming entry and fix."""
    zip_path, _ = write_split(raw_dataset, "validation", default_rows("validation"))
    raw = bytearray(zip_path.read_bytes())
    at = raw.index(b"PK\x01\x02") + field
    raw[at : at + 2] = struct.pack("<H", value)
    zip_path.write_bytes(bytes(raw))
    line = assert_one_line_error(run_stage(stage_dir, "unzip"), str(zip_path), words, "VALIDATION_0001.jpg")
    assert "zip -r" in line
    assert not (stage_dir / "data").exists()


def test_truncated_zip_is_one_line(stage_dir, raw_dataset, run_stage):
    zip_path = raw_dataset / "train_v2.zip"
    zip_path.write_bytes(zip_path.read_bytes()[: zip_path.stat().st_size // 2])
    assert_one_line_error(run_stage(stage_dir, "unzip"), str(zip_path), "not a valid zip")


def test_non_utf8_csv_is_one_line(stage_dir, raw_dataset, run_stage):
    csv_path = raw_dataset / "written_name_test_v2.csv"
    csv_path.write_bytes("FILENAME,IDENTITY\nTEST_0001.jpg,CÉLINE\n".encode("latin-1"))
    assert_one_line_error(run_stage(stage_dir, "unzip"), str(csv_path), "UTF-8")


def test_a_split_empty_after_cleaning_stops_preprocess_naming_the_split_and_reasons(stage_dir, raw_dataset,
                                                                                     run_stage):
    rows = [(name, "UNREADABLE") for name, _ in default_rows("test")]
    rows[0] = (rows[0][0], "")
    write_split(raw_dataset, "test", rows)
    for stage in ("unzip", "clean"):
        assert run_stage(stage_dir, stage).returncode == 0
    line = assert_one_line_error(run_stage(stage_dir, "preprocess"), "test split is empty after cleaning",
                                 "placeholder 3", "missing 1", "4 rows")
    assert "train" not in line.replace("to train", "")
    assert not (stage_dir / "data/tensors").exists() and not (stage_dir / "metrics/preprocess.json").exists()
    assert leftovers(stage_dir / "data") == []


def test_a_split_with_no_usable_image_stops_preprocess_and_keeps_the_last_outputs(stage_dir, raw_dataset,
                                                                                  run_stage):
    """A direct run failing on the last split leaves every output of the last good run, unchanged,
    and nothing else: all new or all old."""
    for stage in ("unzip", "clean", "preprocess"):
        assert run_stage(stage_dir, stage).returncode == 0
    before = {p: p.read_bytes() for p in (stage_dir / "data/tensors").rglob("*") if p.is_file()}
    before[stage_dir / "metrics/preprocess.json"] = (stage_dir / "metrics/preprocess.json").read_bytes()
    rows = default_rows("test")
    write_split(raw_dataset, "test", rows, images={n: damaged_jpeg(i) for i, (n, _) in enumerate(rows)})
    for stage in ("unzip", "clean"):
        assert run_stage(stage_dir, stage).returncode == 0
    line = assert_one_line_error(run_stage(stage_dir, "preprocess"), "test split has no usable image", "damaged 4")
    assert "train" not in line.replace("to train", "")
    after = {p: p.read_bytes() for p in (stage_dir / "data/tensors").rglob("*") if p.is_file()}
    after[stage_dir / "metrics/preprocess.json"] = (stage_dir / "metrics/preprocess.json").read_bytes()
    assert after == before
    assert leftovers(stage_dir / "data") == [] and leftovers(stage_dir / "metrics") == []


def test_unzip_failing_on_a_later_split_keeps_the_last_outputs(stage_dir, raw_dataset, run_stage):
    assert run_stage(stage_dir, "unzip").returncode == 0
    before = {p: p.read_bytes() for p in [*(stage_dir / "data/interim").iterdir(), stage_dir / "metrics/unzip.json"]}
    write_split(raw_dataset, "train", default_rows("train", 6))  # a change the failed run must not publish
    write_split(raw_dataset, "test", default_rows("test"), extra_entries={"../evil.jpg": b"x"})
    assert_one_line_error(run_stage(stage_dir, "unzip"), "'../evil.jpg'")
    assert {p: p.read_bytes() for p in before} == before
    assert leftovers(stage_dir / "data") == []


def test_preprocess_killed_by_sigkill_leaves_nothing_to_clean(stage_dir, raw_dataset, tmp_path):
    """kill -9 in the middle of a direct run: the last outputs stay as they were, the staged ones
    are left hidden, and the next run removes them and finishes."""
    image = jpeg_bytes(seed=3)
    rows = [(f"TRAIN_{i:05d}.jpg", "ANNA") for i in range(4000)]
    write_split(raw_dataset, "train", rows, images={n: image for n, _ in rows})
    env = subprocess_env(tmp_path)
    for stage in ("unzip", "clean", "preprocess"):
        result = run([sys.executable, f"stages/{stage}.py"], stage_dir, env)
        assert result.returncode == 0, describe(result)
    before = (stage_dir / "metrics/preprocess.json").read_bytes()
    index_before = (stage_dir / "data/tensors/train/index.csv").read_bytes()
    proc = subprocess.Popen([sys.executable, "stages/preprocess.py"], cwd=stage_dir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        store = None
        while store is None and proc.poll() is None and time.monotonic() < deadline:
            staged = [p for p in (stage_dir / "data").glob(".tensors.*.new")]
            store = next((p for p in staged if (p / "train").exists() or any(p.glob(".train.*"))), None)
            time.sleep(0.005)
        assert store is not None and proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert leftovers(stage_dir / "data")  # what the killed run was building, hidden
    assert (stage_dir / "metrics/preprocess.json").read_bytes() == before
    assert (stage_dir / "data/tensors/train/index.csv").read_bytes() == index_before
    rerun = run([sys.executable, "stages/preprocess.py"], stage_dir, env)
    assert rerun.returncode == 0, describe(rerun)
    assert leftovers(stage_dir / "data") == [] and leftovers(stage_dir / "metrics") == []
    assert (stage_dir / "data/tensors/train/index.csv").read_bytes() == index_before


def test_hwr_synth_onto_a_file_is_one_line(tmp_path):
    target = tmp_path / "existing.txt"
    target.write_text("mine\n")
    result = run([sys.executable, "-m", "hwr.app.cli", "synth", str(target), "--train", "1", "--validation", "1",
                  "--test", "1", "--jobs", "1"], tmp_path, subprocess_env(tmp_path))
    assert_one_line_error(result, str(target), "not a folder")
    assert target.read_text() == "mine\n"
    result = run([sys.executable, "-m", "hwr.app.cli", "synth", "--preview", str(target / "sheet.png")], tmp_path,
                 subprocess_env(tmp_path))
    assert_one_line_error(result, str(target / "sheet.png"))
