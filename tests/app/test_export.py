import contextlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from _support import describe, jpeg_bytes, subprocess_env

from hwr.app import cli
from hwr.app.export import OPSET, export_onnx
from hwr.app.predictor import open_model
from hwr.core.errors import HwrError
from hwr.data.images import to_model_input
from hwr.decoding.bundle import make_bundle, reading_decoder
from hwr.decoding.confidence import Calibration
from hwr.decoding.factory import make_decoder
from hwr.decoding.lexicon import write_lexicon
from hwr.model.checkpoints import save_model, save_with_reading
from hwr.model.crnn import CRNN
from hwr.params import EvaluateParams

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'hwr[onnx]')")
onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'hwr[onnx]')")


class Exported(NamedTuple):
    pt: Path
    onnx: Path
    said: str  # what hwr export printed


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model.pt, model.onnx) of an untrained GRU made decisive, saved as a fit-mode model.

    A freshly initialised network's outputs are nearly uniform, with exact ties between classes,
    where the last bit of rounding decides the arg-max; a trained one's are peaked. So the
    classifier's weights are scaled up and its biases set apart (no two classes tie), and readings
    become as clear-cut as a trained model's while staying varied."""
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = CRNN("gru")
    with torch.no_grad():
        model.classify.weight.mul_(20)
        model.classify.bias.copy_(torch.randn(30))
    save_model(folder / "bare.pt", model, {"rnn": "gru", "subset": "full", "resize": "fit"})
    # a reader file, as the evaluate stage writes it: the lexicon decoder, its calibration, the lexicon
    lexicon = tmp_path_factory.mktemp("lexicon")
    write_lexicon(lexicon, Counter({"MARTIN": 3, "LEA": 2, "THOMAS": 2, "EMMA": 1}), order=3)
    decoder = make_decoder("lexicon", EvaluateParams(), lexicon_dir=lexicon)
    save_with_reading(folder / "bare.pt", folder / "model.pt",
                      make_bundle(decoder, Calibration((0.0, 1.0), (0.2, 0.9)), lexicon))
    (folder / "bare.pt").unlink()
    shutil.rmtree(lexicon)  # the reader carries it: nothing of the project is needed
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        cli.main(["export", str(folder / "model.pt"), str(folder / "model.onnx")])
    return Exported(folder / "model.pt", folder / "model.onnx", said.getvalue())


def test_graph_reads_uint8_images_with_a_dynamic_batch(exported):
    path = exported.onnx
    proto = onnx.load(path)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    (graph_input,) = proto.graph.input
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [64, 256]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["rnn"] == "gru" and meta["resize"] == "fit" and meta["opset"] == str(OPSET)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx", "model.pt"]  # one file, no temp left


def test_onnx_computes_what_torch_computes(exported):
    pt, path = exported.pt, exported.onnx
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch_model = open_model(pt, precision="fp32", device="cpu").model
    rng = np.random.default_rng(0)
    for n in (1, 5):
        images = rng.integers(0, 256, (n, 64, 256), dtype=np.uint8)
        (ours,) = session.run(None, {"images": images})
        with torch.no_grad():
            expected = torch_model(torch.from_numpy(images)).numpy()
        assert ours.shape == (n, 64, 30)
        np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_the_wide_network_exports_and_computes_what_torch_computes(tmp_path):
    torch.manual_seed(1)
    save_model(tmp_path / "wide.pt", CRNN("gru", "wide"), {"rnn": "gru", "cnn": "wide", "resize": "crop"})
    export_onnx(tmp_path / "wide.pt", tmp_path / "wide.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "wide.onnx"), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(1).integers(0, 256, (3, 64, 256), dtype=np.uint8)
    (ours,) = session.run(None, {"images": images})
    with torch.no_grad():
        expected = open_model(tmp_path / "wide.pt", precision="fp32", device="cpu").model(torch.from_numpy(images))
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-4)


def test_a_wider_model_exports_at_its_width_and_says_so(tmp_path):
    torch.manual_seed(2)
    save_model(tmp_path / "w.pt", CRNN("gru", "wide", width=384), {"rnn": "gru", "cnn": "wide", "width": 384})
    meta = export_onnx(tmp_path / "w.pt", tmp_path / "w.onnx")
    assert meta["width"] == "384"
    predictor = open_model(tmp_path / "w.onnx")
    assert predictor.width == 384
    images = np.random.default_rng(2).integers(0, 256, (2, 64, 384), dtype=np.uint8)
    (ours,) = predictor.session.run(None, {"images": images})
    assert ours.shape == (2, 96, 30)
    with torch.no_grad():
        expected = open_model(tmp_path / "w.pt", precision="fp32", device="cpu").model(torch.from_numpy(images))
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-4)


def test_resize_mode_travels_with_the_model(exported):
    assert open_model(exported.onnx).resize == "fit"
    assert open_model(exported.onnx).backend == "onnxruntime"


def test_the_decoder_calibration_and_lexicon_travel_with_the_model(exported, tmp_path, capsys, monkeypatch):
    """The reader file and its ONNX export, each moved alone to an empty folder, read with the
    lexicon decoder they carry: the same texts and calibrated confidences. Both in fp32: on a CPU
    with native bf16, torch reads in bf16, and this untrained model's near-tied beams may then differ."""
    from hwr.model import runtime

    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert open_model(exported.onnx).reading == open_model(exported.pt).reading
    assert open_model(exported.onnx).reading["decoder"] == "lexicon"
    images = []
    for i in range(6):
        images.append(tmp_path / "scans" / f"{i}.jpg")
        images[-1].parent.mkdir(exist_ok=True)
        images[-1].write_bytes(jpeg_bytes(324, 36, seed=i))
    answers = []
    for source in (exported.pt, exported.onnx):
        moved = tmp_path / f"away-{source.suffix[1:]}" / source.name
        moved.parent.mkdir()
        shutil.copy(source, moved)
        cli.main(["predict", *map(str, images), "--model", str(moved), "--json"])
        answers.append([{k: v for k, v in json.loads(line).items() if k != "path"}
                        for line in capsys.readouterr().out.splitlines()])
    by_torch, by_onnx = answers
    assert len(by_torch) == 6 and [a["text"] for a in by_onnx] == [a["text"] for a in by_torch]
    assert [a["confidence"] for a in by_onnx] == pytest.approx([a["confidence"] for a in by_torch], abs=2e-3)
    assert all(0.2 <= a["confidence"] <= 0.9 for a in by_torch)  # through the carried calibration


def test_same_texts_as_torch_on_the_real_test_images(exported, real_sample):
    pt, path = exported.pt, exported.onnx
    with zipfile.ZipFile(real_sample / "test_v2.zip") as zf:
        images = np.stack([to_model_input(zf.read(n), "fit") for n in zf.namelist() if n.lower().endswith(".jpg")])
    by_torch = [r.text for r in open_model(pt, precision="fp32", device="cpu").read(images)]
    by_onnx = [r.text for r in open_model(path).read(images)]
    assert len(by_onnx) == len(images) >= 100
    assert len(set(by_torch)) > 10  # varied readings, so that agreeing on them means something
    assert by_onnx == by_torch


TORCH_BLOCKED = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed")

sys.meta_path.insert(0, NoTorch())
from hwr.app import cli
try:
    cli.main(sys.argv[1:])
finally:
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "torch")), file=sys.stderr)
"""


def test_predict_onnx_without_torch(exported, tmp_path):
    path = exported.onnx
    images = []
    for i in range(3):
        images.append(tmp_path / f"{i}.jpg")
        images[-1].write_bytes(jpeg_bytes(324, 36, seed=i))
    cmd = [sys.executable, "-c", TORCH_BLOCKED, "predict", *map(str, images), "--model", str(path), "--json"]
    result = subprocess.run(cmd, cwd=tmp_path, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, describe(result)
    assert json.loads(result.stderr.splitlines()[-1]) == [], describe(result)  # torch never imported
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == list(map(str, images))
    predictor = open_model(path)
    predictor.decoder = reading_decoder(predictor.reading)  # the lexicon decoder the file carries
    expected = predictor.read(np.stack([to_model_input(p.read_bytes(), "fit") for p in images]))
    assert [r["text"] for r in rows] == [r.text for r in expected]


def test_export_command_says_what_it_wrote(exported):
    assert exported.said == (f"wrote {exported.onnx}: ONNX opset {OPSET}, dynamic batch, input uint8 (N, 64, 256), "
                             "GRU, resize fit\n")


def test_bad_onnx_files_are_one_line_errors(tmp_path, exported):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(HwrError, match="not a readable ONNX model"):
        open_model(junk)
    foreign = tmp_path / "foreign.onnx"
    proto = onnx.load(exported.onnx)
    del proto.metadata_props[:]
    onnx.save(proto, foreign)
    with pytest.raises(HwrError, match="not one hwr exported"):
        open_model(foreign)
    with pytest.raises(HwrError, match="ONNX models run on the CPU"):
        open_model(exported.onnx, device="cuda")
    with pytest.raises(HwrError, match="model not found"):
        export_onnx(tmp_path / "none.pt", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_an_older_opset_is_what_the_file_declares_or_a_one_line_error(exported, tmp_path):
    """--opset N: the file's opset_import says N (converted from what torch writes), or the export
    stops with one line naming the opset that works; never a file that says one opset and is another."""
    from hwr.app.export import _at_opset, opset_of

    meta = export_onnx(exported.pt, tmp_path / "older.onnx", opset=OPSET - 1)
    assert opset_of(onnx.load(tmp_path / "older.onnx")) == OPSET - 1 == int(meta["opset"])
    written = onnx.load(exported.onnx)
    older = _at_opset(written, OPSET - 1)  # the converter's work: it must compute the same
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 256), dtype=np.uint8)
    outputs = [onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"images": images})[0]
               for model in (written, older)]
    assert opset_of(older) == OPSET - 1 and np.allclose(*outputs, atol=1e-5)
    try:  # far back: converted, or refused in one line naming the opset that works
        assert opset_of(_at_opset(written, 11)) == 11
    except HwrError as exc:
        assert "\n" not in str(exc) and "opset 11" in str(exc) and f"--opset {OPSET}" in str(exc)


def test_export_to_a_folder_or_under_a_file_is_a_one_line_error(exported, tmp_path):
    with pytest.raises(HwrError, match="is a folder; give the ONNX file to write"):
        export_onnx(exported.pt, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(HwrError, match="cannot write") as info:
        export_onnx(exported.pt, tmp_path / "file" / "m.onnx")
    assert "\n" not in str(info.value)
