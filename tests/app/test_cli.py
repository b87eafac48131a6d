import io
import json
import os
import socket
import stat
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from _support import describe, fifo_with_reader, jpeg_bytes, run, subprocess_env

from hwr import __version__
from hwr.app import cli
from hwr.core.alphabet import ALPHABET
from hwr.decoding.greedy import Reading
from hwr.model.checkpoints import atomic_save, save_model
from hwr.model.crnn import CRNN


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A freshly initialised GRU model saved as training saves it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model(path, CRNN("gru"), {"rnn": "gru", "subset": "full", "resize": "crop"})
    return path


def hwr_command():
    script = Path(sys.executable).parent / "hwr"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hwr.app.cli"]


def predictions(out: str) -> dict[str, tuple[str, float]]:
    """TSV lines -> {path: (text, confidence)}, checking every field."""
    rows = {}
    for line in out.splitlines():
        path, text, confidence = line.split("\t")
        assert set(text) <= set(ALPHABET)
        assert 0.0 <= float(confidence) <= 1.0
        rows[path] = (text, float(confidence))
    return rows


def images_in(folder: Path, names: list[str]) -> list[Path]:
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(324, 36, seed=i, fmt="PNG" if name.endswith(".png") else "JPEG"))
        paths.append(path)
    return paths


def predict(capsys, *args) -> tuple[int, str, str]:
    """cli.main(['predict', *args]) -> (exit code, stdout, stderr)."""
    try:
        cli.main(["predict", *map(str, args)])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hwr {__version__}"


def test_predict_subprocess_good_and_bad_files(tmp_path, model_file):
    good = tmp_path / "name.jpg"
    good.write_bytes(jpeg_bytes(324, 36))
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not an image\n")
    result = run([*hwr_command(), "predict", str(good), str(bad), "--model", str(model_file), "--device", "cpu"],
                 tmp_path, subprocess_env(tmp_path), timeout=300)
    assert result.returncode == 1, describe(result)
    assert list(predictions(result.stdout)) == [str(good)], describe(result)
    assert f"skipped {bad}: not an image" in result.stderr, describe(result)
    assert "read 1 image; skipped 1: 1 not an image" in result.stderr
    assert "Traceback" not in result.stderr


def test_folder_is_read_recursively_and_every_skip_counted(tmp_path, model_file, capsys):
    scans = tmp_path / "scans"
    good = images_in(scans, ["b.jpg", "a.png", "deeper/c.JPG", "deeper/more/d.jpeg"])
    (scans / "empty.jpg").write_bytes(b"")
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (scans / "README.txt").write_text("scans of names\n")  # not named like an image: ignored, counted
    images_in(scans, [".hidden/e.jpg", "._a.png"])  # hidden: ignored, counted
    code, out, err = predict(capsys, scans, tmp_path / "gone.jpg", "--model", model_file, "--device", "cpu")
    assert code == 1
    expected = [scans / "a.png", scans / "b.jpg", scans / "deeper/c.JPG", scans / "deeper/more/d.jpeg"]
    assert sorted(good) == sorted(expected)
    assert list(predictions(out)) == [str(p) for p in expected]  # sorted, folder by folder
    assert f"skipped {scans / 'empty.jpg'}: empty file" in err
    assert f"skipped {scans / 'broken.jpg'}: not an image" in err
    assert f"skipped {tmp_path / 'gone.jpg'}: not found" in err
    assert err.strip().splitlines()[-1] == ("read 4 images; skipped 3: 1 not found, 1 not an image, 1 empty file; "
                                            "ignored 2 other files in folders (not named like images)")
    assert "Traceback" not in err


def test_globs_and_paths_on_stdin(tmp_path, model_file, capsys, monkeypatch):
    paths = images_in(tmp_path, ["x1.png", "x2.png", "y.jpg"])
    monkeypatch.chdir(tmp_path)
    code, out, err = predict(capsys, "x*.png", "nothing*.jpg", "--model", model_file)
    assert code == 1 and list(predictions(out)) == ["x1.png", "x2.png"]
    assert "skipped nothing*.jpg: no match" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{paths[2]}\n\n{paths[0]}\n"))
    code, out, err = predict(capsys, "-", "--model", model_file)
    assert code == 0 and err == ""
    assert list(predictions(out)) == [str(paths[2]), str(paths[0])]


def test_json_lines_and_alternatives(tmp_path, model_file, capsys, monkeypatch):
    images = images_in(tmp_path, ["a.jpg", "b.jpg"])
    code, out, _ = predict(capsys, *images, "--model", model_file, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["path"] for r in rows] == [str(p) for p in images]
    tsv = predictions(predict(capsys, *images, "--model", model_file)[1])
    for row in rows:
        assert set(row) == {"path", "text", "confidence"}  # greedy has no alternatives
        assert tsv[row["path"]] == (row["text"], pytest.approx(row["confidence"], abs=5e-5))

    def with_alternatives(log_probs):  # a decoder that gives alternatives, as beam search does
        return [Reading("ANNA", 0.5, (("ANA", 0.25), ("HANNA", 0.125)))] * len(log_probs)

    from hwr.app.predictor import open_model

    monkeypatch.setattr(cli, "reading_predictor",
                        lambda args, batch_size=64: open_model(args.model[0], decoder=with_alternatives))
    out = predict(capsys, images[0], "--model", model_file, "--json")[1]
    assert json.loads(out) == {"path": str(images[0]), "text": "ANNA", "confidence": 0.5,
                               "alternatives": [{"text": "ANA", "confidence": 0.25}, {"text": "HANNA", "confidence": 0.125}]}
    out = predict(capsys, images[0], "--model", model_file)[1]
    assert out == f"{images[0]}\tANNA\t0.5000\tANA\t0.2500\tHANNA\t0.1250\n"


def test_output_file_is_written_whole(tmp_path, model_file, capsys):
    images = images_in(tmp_path / "in", ["a.jpg", "b.jpg", "c.jpg"])
    target = tmp_path / "out" / "names.tsv"
    code, out, err = predict(capsys, tmp_path / "in", "--model", model_file, "--output", target, "--batch-size", "2")
    assert code == 0 and out == ""
    assert list(predictions(target.read_text())) == [str(p) for p in images]
    assert err.strip() == f"read 3 images; wrote {target}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["names.tsv"]  # no temporary file left
    # a run that fails leaves the earlier output as it was
    before = target.read_text()
    code, _, err = predict(capsys, tmp_path / "in", "--model", tmp_path / "none.pt", "--output", target)
    assert code == 2 and target.read_text() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["names.tsv"]


@pytest.mark.parametrize("size", ["0", "-1"])
def test_batch_size_must_be_positive(tmp_path, model_file, capsys, size):
    images = images_in(tmp_path, ["a.jpg"])
    code, out, err = predict(capsys, *images, "--model", model_file, "--batch-size", size)
    assert code == 2 and out == ""
    assert err == f"error: --batch-size must be a positive whole number, not {size}\n"


def test_batches_give_the_same_readings(tmp_path, model_file, capsys):
    images = images_in(tmp_path, [f"{i}.jpg" for i in range(5)])
    one = predict(capsys, *images, "--model", model_file, "--batch-size", "1")[1]
    many = predict(capsys, *images, "--model", model_file, "--batch-size", "3")[1]
    assert [t for t, _ in predictions(one).values()] == [t for t, _ in predictions(many).values()]


def test_progress_bar_only_on_a_terminal(tmp_path, model_file, capsys, monkeypatch):
    folder = tmp_path / "many"
    images_in(folder, [f"{i}.jpg" for i in range(4)])
    _, _, err = predict(capsys, folder, "--model", model_file, "--batch-size", "1")
    assert err == ""  # stderr is not a terminal here: no bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    cli.main(["predict", str(folder), "--model", str(model_file), "--batch-size", "1"])
    assert "/4 [" in terminal.getvalue() and "image/s" in terminal.getvalue()  # the bar showed (then cleared)


def test_works_from_any_folder_with_model(tmp_path, model_file, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    images = images_in(elsewhere, ["a.jpg"])
    monkeypatch.chdir(elsewhere)  # no project here or above
    code, out, _ = predict(capsys, "a.jpg", "--model", model_file)
    assert code == 0 and list(predictions(out)) == ["a.jpg"]
    code, out, err = predict(capsys, images[0])
    assert code == 2 and out == ""
    assert err.startswith("error: no --model given and no hwr project") and len(err.splitlines()) == 1


def test_predict_uses_the_reader_params_name_from_a_subfolder(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    save_model(tmp_path / "models" / "lstm-full" / "model.pt", CRNN("lstm"), {"rnn": "lstm", "resize": "fit"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"reader": "lstm-full"}))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    images = []
    for i, size in enumerate([(324, 36), (100, 20), (600, 120)]):
        images.append(tmp_path / "scans" / f"img{i}.png")
        images[-1].parent.mkdir(exist_ok=True)
        images[-1].write_bytes(jpeg_bytes(*size, seed=i, fmt="PNG"))
    monkeypatch.chdir(tmp_path / "scans")
    code, out, _ = predict(capsys, *[p.name for p in images], "--device", "cpu", "--batch-size", "2")
    assert code == 0 and list(predictions(out)) == [p.name for p in images]
    code, _, err = predict(capsys, images[0].name, "--rnn", "gru")  # the project has no GRU model
    assert code == 2 and "gru-full" in err and "not found" in err
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({}))  # the default reader: the wide GRU
    code, _, err = predict(capsys, images[0].name)
    assert code == 2 and "models/gru-wide/model.pt" in err and "not found" in err


def test_predict_real_image(tmp_path, real_sample, model_file, capsys):
    with zipfile.ZipFile(real_sample / "test_v2.zip") as zf:
        member = next(n for n in zf.namelist() if n.endswith(".jpg"))
        image = tmp_path / Path(member).name
        image.write_bytes(zf.read(member))
    code, out, _ = predict(capsys, image, "--model", model_file, "--device", "cpu")
    assert code == 0 and list(predictions(out)) == [str(image)]


def test_predict_without_model(tmp_path, capsys):
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes())
    code, _, err = predict(capsys, image, "--model", tmp_path / "none.pt")
    assert code == 2
    assert err.startswith("error: ") and "none.pt" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [torch.zeros(3), {"weights": [1, 2]}, "trainer"])
def test_a_torch_file_that_is_not_a_model_is_one_line(tmp_path, capsys, content):
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes())
    path = tmp_path / "foreign.pt"
    atomic_save({"trainer": {}, "best_model": {}} if content == "trainer" else content, path)
    code, out, err = predict(capsys, image, "--model", path)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: ") and len(err.splitlines()) == 1
    assert ("training checkpoint" if content == "trainer" else "not an hwr model") in err


def test_nothing_to_read(tmp_path, model_file, capsys):
    (tmp_path / "notes.txt").write_text("no scans here\n")
    code, _, err = predict(capsys, tmp_path, "--model", model_file)
    assert code == 2 and err.startswith(f"error: no images found in {tmp_path}; hwr reads files ending in .bmp")
    assert err.endswith("(1 other file ignored)\n") and len(err.splitlines()) == 1


def test_predict_with_bad_params_names_the_key(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text("rnn: foo\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    image = tmp_path / "a.jpg"
    image.write_bytes(jpeg_bytes())
    monkeypatch.chdir(tmp_path)
    code, _, err = predict(capsys, image)
    assert code == 2
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

    from hwr.decoding.lexicon import write_lexicon

    write_lexicon(tmp_path / "data" / "lexicon", Counter({"MARTIN": 3, "LEA": 2}), order=3)
    image = tmp_path / "name.png"
    image.write_bytes(jpeg_bytes(324, 36, fmt="PNG"))
    monkeypatch.chdir(tmp_path)
    cli.main(["predict", str(image), "--model", str(model_file), "--device", "cpu", "--decoder", "lexicon",
              "--top-k", "3", "--lexicon", "data/lexicon"])
    fields = capsys.readouterr().out.splitlines()[0].split("\t")
    texts, confidences = fields[1::2], [float(c) for c in fields[2::2]]  # the reading, then up to 2 alternatives
    assert fields[0] == str(image) and 1 <= len(texts) == len(confidences) <= 3
    assert len(set(texts)) == len(texts) and confidences == sorted(confidences, reverse=True)


@pytest.mark.parametrize("options, message", [
    (["--decoder", "greedy", "--top-k", "2"], "greedy decoding reads one name"),
    (["--decoder", "beam"], "carries no lexicon for the beam decoder; give --lexicon DIR"),
    (["--decoder", "beam", "--lexicon", "nowhere"], "dvc repro lexicon"),
])
def test_predict_decoder_errors_are_one_line(tmp_path, monkeypatch, model_file, capsys, options, message):
    image = tmp_path / "name.png"
    image.write_bytes(jpeg_bytes(324, 36, fmt="PNG"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", str(image), "--model", str(model_file), "--device", "cpu", *options])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_reader_file_carries_its_calibration_and_a_bare_model_finds_none(tmp_path, monkeypatch, capsys, caplog):
    """readers/<run>.pt reads with the calibration it carries, wherever it is and as the project's
    default; the bare model.pt beside an eval/<run>/calibration.json stays uncalibrated and says so:
    nothing is found by folder name."""
    from hwr.decoding.bundle import make_bundle
    from hwr.decoding.confidence import Calibration
    from hwr.decoding.factory import GREEDY
    from hwr.model.checkpoints import save_with_reading

    torch.manual_seed(0)
    bare = tmp_path / "models" / "gru-full" / "model.pt"
    save_model(bare, CRNN("gru"), {"rnn": "gru", "resize": "crop"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"reader": "gru-full", "evaluate": {"decoder": "greedy"}}))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    flat = Calibration((0.0, 1.0), (0.25, 0.25))
    flat.save(tmp_path / "eval" / "gru-full" / "calibration.json", decoder="greedy")
    images = images_in(tmp_path / "scans", ["a.jpg", "b.jpg"])
    monkeypatch.chdir(tmp_path)
    code, out, _ = predict(capsys, *images)  # no reader yet: the bare model, raw confidences
    raw = predictions(out)
    assert code == 0 and all(c != 0.25 for _, c in raw.values()) and "carries no calibration" in caplog.text
    save_with_reading(bare, tmp_path / "readers" / "gru-full.pt", make_bundle(GREEDY, flat, None))
    code, out, _ = predict(capsys, *images)  # the project's default is now the reader
    assert code == 0 and {p: c for p, (_, c) in predictions(out).items()} == dict.fromkeys(raw, 0.25)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-moved.pt"
    (tmp_path / "readers" / "gru-full.pt").rename(elsewhere)
    code, out, _ = predict(capsys, *images, "--model", elsewhere)
    assert code == 0 and {p: (t, c) for p, (t, c) in predictions(out).items()} == {
        p: (t, 0.25) for p, (t, _) in raw.items()}
    elsewhere.unlink()


def test_a_project_without_its_lexicon_reads_greedily_unless_asked(tmp_path, monkeypatch, model_file, capsys, caplog):
    """evaluate.decoder: lexicon in a project whose lexicon stage has not run (a fresh clone), and
    a bare model: hwr predict reads greedily and says why; --decoder lexicon asks for it and gets
    the error that names --lexicon."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"evaluate": {"decoder": "lexicon"}}))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    images = images_in(tmp_path / "scans", ["a.jpg"])
    monkeypatch.chdir(tmp_path)
    code, out, _ = predict(capsys, images[0], "--model", model_file)
    assert code == 0 and list(predictions(out)) == [str(images[0])]
    assert "reading with the greedy decoder" in caplog.text
    code, out, err = predict(capsys, images[0], "--model", model_file, "--decoder", "lexicon")
    assert code == 2 and out == "" and "give --lexicon DIR" in err and len(err.splitlines()) == 1


def test_overrides_prints_the_dvc_options_of_a_file(repo_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(repo_root)
    cli.main(["overrides", "configs/study.yaml"])
    options = capsys.readouterr().out.split()
    assert set(options[::2]) == {"-S"} and len(options) % 2 == 0  # one value after each -S
    assert "train.batch_size=128" in options[1::2] and "evaluate.decoder=greedy" in options[1::2]
    (tmp_path / "typo.yaml").write_text("train: {batchsize: 8}\n")
    with pytest.raises(SystemExit) as info:
        cli.main(["overrides", str(tmp_path / "typo.yaml")])
    assert info.value.code == 2 and "train.batchsize" in capsys.readouterr().err


def help_text(capsys, monkeypatch, *command) -> str:
    """``hwr [COMMAND] --help``, its whitespace collapsed (argparse wraps to the terminal's width)."""
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["", "predict", "export", "serve", "synth", "overrides"])
def test_help_is_plain_text_with_an_example(capsys, monkeypatch, command):
    text = help_text(capsys, monkeypatch, *command.split())
    assert "``" not in text and "`" not in text  # read in a terminal, not rendered as RST or Markdown
    examples = text[text.index("Example"):]  # the epilog: an example of this command (for hwr, of each)
    for name in [command] if command else ["predict", "export", "serve", "synth", "overrides"]:
        assert f"hwr {name} " in examples


def test_help_shows_the_defaults(capsys, monkeypatch):
    predict_help = " ".join(help_text(capsys, monkeypatch, "predict").split())
    assert "--batch-size BATCH_SIZE images read at once (default: 64)" in predict_help
    serve_help = " ".join(help_text(capsys, monkeypatch, "serve").split())
    assert "--port PORT TCP port to listen on, 1 to 65535 (default: 8000)" in serve_help
    assert "(default: 127.0.0.1)" in serve_help.split("--host HOST address")[1].split("--port")[0]
    assert "(default: None)" not in predict_help + serve_help  # options without a default say what happens


def serve(capsys, monkeypatch, *args) -> tuple[int, str]:
    """cli.main(['serve', *args]) -> (exit code, stderr); a server that would start fails the test instead."""
    from hwr.app import serve as serve_module

    def started(*_, **__):
        raise AssertionError("the server started")

    monkeypatch.setattr(serve_module, "run", started)
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", *map(str, args)])
    return info.value.code, capsys.readouterr().err


def test_serve_on_a_busy_port_is_one_line_before_any_banner(model_file, capsys, monkeypatch):
    with socket.socket() as held:  # another server on a port that was free
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code, err = serve(capsys, monkeypatch, "--model", model_file, "--port", port)
    assert code == 2
    assert err == f"error: port {port} on 127.0.0.1 is in use (another server listens there); choose another with --port\n"


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_serve_port_out_of_range_is_one_line(model_file, capsys, monkeypatch, port):
    code, err = serve(capsys, monkeypatch, "--model", model_file, "--port", port)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: hwr serve: argument --port: {port} is not a port; give a whole number from 1 to 65535")


def test_output_through_a_symlink_keeps_the_link(tmp_path, model_file, capsys):
    images = images_in(tmp_path / "in", ["a.jpg", "b.jpg"])
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "old.tsv").write_text("earlier\n")
    link = tmp_path / "latest.tsv"
    link.symlink_to(Path("runs") / "old.tsv")
    code, out, err = predict(capsys, tmp_path / "in", "--model", model_file, "-o", link)
    assert code == 0 and out == "" and err.strip() == f"read 2 images; wrote {link}"
    assert link.is_symlink() and link.resolve() == tmp_path / "runs" / "old.tsv"
    assert list(predictions((tmp_path / "runs" / "old.tsv").read_text())) == [str(p) for p in images]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["old.tsv"]


def test_output_into_a_fifo_streams(tmp_path, model_file, capsys):
    images = images_in(tmp_path / "in", ["a.jpg", "b.jpg", "c.jpg"])
    fifo = tmp_path / "results"
    reader, received = fifo_with_reader(fifo)
    code, out, _ = predict(capsys, tmp_path / "in", "--model", model_file, "-o", fifo, "--batch-size", "1")
    reader.join(30)
    assert code == 0 and out == ""
    assert list(predictions("".join(received))) == [str(p) for p in images]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, not replaced by a file


def test_output_onto_a_folder_is_one_line(tmp_path, model_file, capsys):
    images = images_in(tmp_path, ["a.jpg"])
    code, out, err = predict(capsys, *images, "--model", model_file, "-o", tmp_path)
    assert code == 2 and out == ""
    assert err == f"error: {tmp_path}: cannot write (a folder; give a file name)\n"


@pytest.mark.parametrize("options, message", [
    (["--preview", "{tmp}/sheet.png", "--count", "0"], "--count must be a positive whole number, not 0"),
    (["--preview", "{tmp}/sheet.png", "--count", "-3"], "--count must be a positive whole number, not -3"),
    (["{tmp}/out", "--jobs", "0"], "--jobs must be a positive whole number, not 0"),
    (["{tmp}/out", "--train", "-1"], "--train must be 0 or a positive whole number, not -1"),
    (["{tmp}/out", "--test", "-5"], "--test must be 0 or a positive whole number, not -5"),
    (["{tmp}/out", "--seed", "-1"], "--seed must be 0 or a positive whole number, not -1"),
])
def test_synth_numbers_are_checked_by_name(tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as info:
        cli.main(["synth", *(o.format(tmp=tmp_path) for o in options)])
    assert info.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("k", ["0", "-2"])
def test_top_k_must_be_positive(tmp_path, model_file, capsys, k):
    images = images_in(tmp_path, ["a.jpg"])
    code, out, err = predict(capsys, *images, "--model", model_file, "--top-k", k)
    assert code == 2 and out == "" and err == f"error: --top-k must be a positive whole number, not {k}\n"


def test_predict_with_two_models_reads_their_average(tmp_path, model_file, capsys):
    import numpy as np
    from _support import tiny_model

    from hwr.app.predictor import open_model
    from hwr.data.sources import load_image

    lstm = tiny_model(tmp_path / "lstm.pt", "lstm", seed=5)
    images = images_in(tmp_path / "in", ["a.jpg", "b.jpg"])
    code, out, _ = predict(capsys, *images, "--model", model_file, "--model", lstm, "--decoder", "greedy")
    both = open_model([model_file, lstm], device="cpu")
    expected = both.read(np.stack([load_image(str(p), both.resize) for p in images]))
    assert code == 0 and [row[0] for row in predictions(out).values()] == [r.text for r in expected]


def test_serve_takes_the_queue_sizes_and_refuses_impossible_ones(model_file, monkeypatch, capsys):
    from hwr.app import serve

    seen = {}
    monkeypatch.setattr(serve, "run", lambda app, **kw: seen.update(limits=app.state.limits))
    monkeypatch.setattr(cli.options, "check_port", lambda host, port: None)
    cli.main(["serve", "--model", str(model_file), "--max-active", "2", "--max-waiting", "0"])
    assert (seen["limits"].max_active, seen["limits"].max_waiting) == (2, 0)
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--model", str(model_file), "--max-active", "0"])
    assert info.value.code == 2 and "--max-active must be a positive whole number" in capsys.readouterr().err
