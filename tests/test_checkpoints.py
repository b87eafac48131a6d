import pytest
import torch

from hwr import checkpoints
from hwr.checkpoints import load_model, save_model
from hwr.errors import HwrError
from hwr.model import CRNN


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_round_trip(tmp_path, rnn):
    torch.manual_seed(1)
    net = CRNN(rnn).eval()
    path = tmp_path / "models" / f"{rnn}-full" / "model.pt"
    save_model(path, net, {"rnn": rnn, "subset": "full", "resize": "fit"})
    loaded, config = load_model(path)
    assert config["rnn"] == rnn and config["resize"] == "fit" and config["alphabet"]
    assert not loaded.training
    # channels_last, as training runs it (the CPU's fused conv-block kernel needs that layout)
    assert loaded.cnn[4].weight.is_contiguous(memory_format=torch.channels_last)  # conv 2 (32 -> 64)
    assert not loaded.cnn[4].weight.is_contiguous()
    x = torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left


def test_errors(tmp_path):
    with pytest.raises(HwrError, match="not found"):
        load_model(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(HwrError, match="not a readable hwr model"):
        load_model(junk)
    other = tmp_path / "other.pt"
    checkpoints.atomic_save({"state_dict": {}, "config": {"rnn": "gru", "alphabet": "ABC"}}, other)
    with pytest.raises(HwrError, match="another alphabet"):
        load_model(other)
