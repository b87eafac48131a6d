import pytest
import torch

from hwr.core.errors import HwrError
from hwr.model import checkpoints
from hwr.model.checkpoints import load_model, save_model
from hwr.model.crnn import CRNN


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


def test_foreign_torch_files(tmp_path):
    for name, content, message in [
        ("tensor.pt", torch.zeros(3), "a torch file but not an hwr model"),
        ("checkpoint.pt", {"trainer": {}, "best_model": {}, "run_id": "x"}, "a training checkpoint, not a model"),
        ("family.pt", {"state_dict": {}, "config": {"rnn": "rnn", "alphabet": checkpoints.ALPHABET}}, "unknown rnn 'rnn'"),
        ("shapes.pt", {"state_dict": {**CRNN("gru").state_dict(), "extra": torch.zeros(1)},
                       "config": {"rnn": "lstm", "alphabet": checkpoints.ALPHABET}}, "do not fit hwr's LSTM CRNN"),
    ]:
        checkpoints.atomic_save(content, tmp_path / name)
        with pytest.raises(HwrError, match=message) as info:
            load_model(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(HwrError, match=r"\(1 unexpected, e\.g\. extra; 16 of another shape, e\.g\. rnn\.weight_ih_l0\)"):
        load_model(tmp_path / "shapes.pt")


def test_the_architecture_travels_in_the_config_and_models_without_it_are_the_study_s(tmp_path):
    torch.manual_seed(2)
    wide = CRNN("gru", "wide").eval()
    save_model(tmp_path / "wide.pt", wide, {"rnn": "gru", "cnn": "wide", "resize": "crop"})
    loaded, config = load_model(tmp_path / "wide.pt")
    assert loaded.cnn_type == "wide" and config["cnn"] == "wide"
    x = torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), wide(x))
    save_model(tmp_path / "old.pt", CRNN("gru"), {"rnn": "gru", "resize": "crop"})  # written before the option
    assert load_model(tmp_path / "old.pt")[0].cnn_type == "study"
    save_model(tmp_path / "future.pt", CRNN("gru"), {"rnn": "gru", "cnn": "huge"})
    with pytest.raises(HwrError, match="unknown cnn 'huge'"):
        load_model(tmp_path / "future.pt")
    save_model(tmp_path / "mislabelled.pt", wide, {"rnn": "gru", "cnn": "study"})
    with pytest.raises(HwrError, match="do not fit"):
        load_model(tmp_path / "mislabelled.pt")


def test_the_input_width_travels_in_the_config_and_models_without_it_read_256(tmp_path):
    torch.manual_seed(3)
    wide = CRNN("gru", width=384).eval()
    save_model(tmp_path / "wide.pt", wide, {"rnn": "gru", "resize": "crop", "width": 384})
    loaded, config = load_model(tmp_path / "wide.pt")
    assert loaded.width == 384 and config["width"] == 384
    x = torch.randint(0, 256, (2, 64, 384), dtype=torch.uint8)
    with torch.no_grad():
        assert loaded(x).shape == (2, 96, 30)
        torch.testing.assert_close(loaded(x), wide(x))
    save_model(tmp_path / "old.pt", CRNN("gru"), {"rnn": "gru", "resize": "crop"})  # written before the option
    old, config = load_model(tmp_path / "old.pt")
    assert old.width == 256 and config["width"] == 256
    for bad in (100, "384", 4096):
        save_model(tmp_path / "bad.pt", CRNN("gru"), {"rnn": "gru", "width": bad})
        with pytest.raises(HwrError, match=r"bad\.pt: input width .* retrain it") as info:
            load_model(tmp_path / "bad.pt")
        assert "\n" not in str(info.value)
