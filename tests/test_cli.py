import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from _support import describe, jpeg_bytes, run, subprocess_env

from hwr import cli
from hwr.alphabet import ALPHABET
from hwr.checkpoints import save_model
from hwr.model import CRNN


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A freshly initialised GRU model saved as training saves it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, CRNN("gru"), {"rnn": "gru", "subset": "full", "resize": "crop"})
    return path


def hwr_command():
    script = Path(sys.executable).parent / "hwr"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hwr.cli"]


def prediction_lines(out: str) -> dict[str, str]:
    lines = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    for text in lines.values():
        assert set(text) <= set(ALPHABET)
    return lines


def test_predict_subprocess_good_and_bad_files(tmp_path, model_file):
    good = tmp_path / "name.jpg"
    good.write_bytes(jpeg_bytes(324, 36))
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not an image\n")
    result = run([*hwr_command(), "predict", str(good), str(bad), "--model", str(model_file), "--device", "cpu"],
                 tmp_path, subprocess_env(tmp_path), timeout=300)
    assert result.returncode != 0, describe(result)
    assert list(prediction_lines(result.stdout)) == [str(good)], describe(result)  # path<TAB>text
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and str(bad) in errors[0], describe(result)
    assert "Traceback" not in result.stderr


def test_predict_uses_the_model_named_by_params(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    save_model(tmp_path / "models" / "lstm-full" / "model.pt", CRNN("lstm"), {"rnn": "lstm", "resize": "fit"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"rnn": "lstm"}))
    images = []
    for i, size in enumerate([(324, 36), (100, 20), (600, 120)]):
        images.append(tmp_path / f"img{i}.png")
        images[-1].write_bytes(jpeg_bytes(*size, seed=i, fmt="PNG"))
    monkeypatch.chdir(tmp_path)
    cli.main(["predict", *map(str, images), "--device", "cpu", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert list(prediction_lines(out)) == [str(p) for p in images]


def test_predict_real_image(tmp_path, real_sample, model_file, capsys):
    with zipfile.ZipFile(real_sample / "test_v2.zip") as zf:
        member = next(n for n in zf.namelist() if n.endswith(".jpg"))
        image = tmp_path / Path(member).name
        image.write_bytes(zf.read(member))
    cli.main(["predict", str(image), "--model", str(model_file), "--device", "cpu"])
    assert list(prediction_lines(capsys.readouterr().out)) == [str(image)]


def test_predict_non_image_exits_non_zero(tmp_path, model_file, capsys):
    bad = tmp_path / "fake.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    missing = tmp_path / "missing.jpg"
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", str(bad), str(missing), "--model", str(model_file), "--device", "cpu"])
    assert info.value.code != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2
    assert str(bad) in lines[0] and "error" in lines[0]
    assert str(missing) in lines[1] and "error" in lines[1]


def test_predict_without_model(tmp_path, capsys):
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes())
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", str(image), "--model", str(tmp_path / "none.pt"), "--device", "cpu"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "none.pt" in err and len(err.strip().splitlines()) == 1


def test_predict_with_bad_params_names_the_key(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text("rnn: foo\n")
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", str(image)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "rnn" in err and "foo" in err


def test_synth_needs_an_output(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["synth"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: synth: give OUT_DIR")


def test_synth_writes_a_dataset(tmp_path, capsys):
    cli.main(["synth", str(tmp_path / "out"), "--train", "3", "--validation", "1", "--test", "1", "--jobs", "1"])
    assert "train: 3 images" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "test_v2.zip", "train_v2.zip", "validation_v2.zip", "written_name_test_v2.csv", "written_name_train_v2.csv",
        "written_name_validation_v2.csv"]



def test_predict_with_the_lexicon_decoder_and_top_k(tmp_path, monkeypatch, model_file, capsys):
    from collections import Counter

    from hwr.lexicon import write_lexicon

    write_lexicon(tmp_path / "data" / "lexicon", Counter({"MARTIN": 3, "LEA": 2}), order=3)
    image = tmp_path / "name.png"
    image.write_bytes(jpeg_bytes(324, 36, fmt="PNG"))
    monkeypatch.chdir(tmp_path)
    cli.main(["predict", str(image), "--model", str(model_file), "--device", "cpu", "--decoder", "lexicon",
              "--top-k", "3"])
    fields = capsys.readouterr().out.splitlines()[0].split("\t")
    assert fields[0] == str(image) and 2 <= len(fields) <= 4  # name, reading, up to 2 alternatives
    assert len(set(fields[1:])) == len(fields) - 1


@pytest.mark.parametrize("options, message", [
    (["--decoder", "greedy", "--top-k", "2"], "greedy decoding reads one name"),
    (["--decoder", "beam"], "dvc repro lexicon"),
])
def test_predict_decoder_errors_are_one_line(tmp_path, monkeypatch, model_file, capsys, options, message):
    image = tmp_path / "name.png"
    image.write_bytes(jpeg_bytes(324, 36, fmt="PNG"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", str(image), "--model", str(model_file), "--device", "cpu", *options])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
