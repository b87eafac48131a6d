import numpy as np
import pytest
import torch

from hwr.app.predictor import open_model
from hwr.core.errors import HwrError
from hwr.decoding.greedy import greedy_read
from hwr.model.checkpoints import save_model
from hwr.model.crnn import CRNN
from hwr.model.inference import recognise


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("predictor") / "model.pt"
    save_model(path, CRNN("lstm"), {"rnn": "lstm", "subset": "full", "resize": "fit"})
    return path


def test_torch_model_reads_as_recognise_does(model_file):
    predictor = open_model(model_file, batch_size=2, device="cpu", precision="fp32")
    assert predictor.describe() == {"model": str(model_file), "backend": "torch", "rnn": "lstm", "resize": "fit",
                                    "width": 256}
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 256), dtype=np.uint8)
    expected, _ = recognise(predictor.model, images, batch_size=5, decoder=greedy_read)
    assert predictor.read(images) == expected


def test_decoder_plugs_in(model_file):
    seen = []

    def decoder(log_probs):
        seen.append(tuple(log_probs.shape))
        return ["read"] * len(log_probs)

    predictor = open_model(model_file, decoder=decoder, batch_size=4, device="cpu")
    assert predictor.read(np.full((6, 64, 256), 255, np.uint8)) == ["read"] * 6
    assert seen == [(4, 64, 30), (2, 64, 30)]


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch size must be a positive number"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
])
def test_bad_options(model_file, kwargs, message):
    with pytest.raises(HwrError, match=message):
        open_model(model_file, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu(model_file):
    with pytest.raises(HwrError, match="sees no CUDA GPU"):
        open_model(model_file, device="cuda")


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(HwrError, match="is a folder, not a model file"):
        open_model(tmp_path)


def test_a_wider_model_is_fed_crops_of_its_width_and_reads_with_a_narrower_one(tmp_path):
    """hwr predict prepares images as wide as the widest model reads; a 256-px model beside it
    reads their left 256 columns, as it would read its own crops."""
    from _support import jpeg_bytes, tiny_model

    from hwr.app.cli import main as cli_main
    from hwr.data.sources import load_image

    narrow, wide = tiny_model(tmp_path / "n.pt", "gru", seed=1), tiny_model(tmp_path / "w.pt", "gru", seed=2, width=384)
    assert open_model(wide).width == 384 and open_model(wide).describe()["width"] == 384
    both = open_model([narrow, wide], device="cpu", precision="fp32")
    assert both.width == 384
    scan = tmp_path / "scan.jpg"
    scan.write_bytes(jpeg_bytes(388, 40, seed=3))
    image = load_image(str(scan), "crop", both.width)
    assert image.shape == (64, 384)
    alone = open_model(narrow, device="cpu", precision="fp32")
    wide_alone = open_model(wide, device="cpu", precision="fp32")
    assert both.read(image[None])[0].text in {alone.read(load_image(str(scan), "crop")[None])[0].text,
                                              wide_alone.read(image[None])[0].text}
    cli_main(["predict", str(scan), "--model", str(wide), "--json"])


def test_several_model_files_read_each_then_combine_per_name(tmp_path):
    from _support import tiny_model

    from hwr.decoding.combine import combine

    gru, lstm = tiny_model(tmp_path / "g.pt", "gru", seed=1), tiny_model(tmp_path / "l.pt", "lstm", seed=2)
    predictor = open_model([gru, lstm], batch_size=4, device="cpu", precision="fp32")
    assert predictor.rnn == "gru+lstm" and predictor.resize == "crop"
    images = np.random.default_rng(1).integers(0, 256, (5, 64, 256), dtype=np.uint8)
    alone = [open_model(one, batch_size=4, device="cpu", precision="fp32").read(images) for one in (gru, lstm)]
    assert predictor.read(images) == combine(alone)
    (tmp_path / "m.onnx").write_bytes(b"not read: refused before")
    with pytest.raises(HwrError, match="ONNX models are read one at a time"):
        open_model([gru, tmp_path / "m.onnx"])
