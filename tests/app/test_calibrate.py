"""hwr calibrate: a model's confidences calibrated on the user's own labelled scans."""

import pytest
from _support import jpeg_bytes, tiny_model, write_split

from hwr.app import cli
from hwr.app.calibrate import calibrate_model
from hwr.core.errors import HwrError
from hwr.decoding.bundle import reading_decoder
from hwr.model.checkpoints import load_model


def _scans(raw, n: int, label: str = "A"):
    rows = [(f"S_{i:03d}.jpg", label) for i in range(n)]
    return write_split(raw, "validation", rows, images={name: jpeg_bytes(seed=i) for i, (name, _) in enumerate(rows)})


def test_a_model_always_right_or_wrong_learns_what_its_confidence_means(tmp_path, capsys):
    """A model that reads every image as "A": on scans labelled A its confidences mean "right", on
    scans labelled B "wrong"; the written file carries that, and reads with it."""
    model = tiny_model(tmp_path / "m.pt", reads="A")
    for label, expected in (("A", 1.0), ("B", 0.0)):
        raw = tmp_path / f"data-{label}"
        _scans(raw, 24, label)
        out = tmp_path / f"calibrated-{label}.pt"
        said = calibrate_model(model, raw, out)
        assert said["images"] == 24 and said["word_accuracy"] == expected
        _, config = load_model(out)
        decoder = reading_decoder(config["reading"])
        assert config["reading"]["decoder"] == "greedy"
        assert decoder.read.calibration([0.5, 0.99]).tolist() == [expected, expected]
    cli.main(["calibrate", str(model), str(tmp_path / "data-A"), "-o", str(tmp_path / "c.pt")])
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'c.pt'}: greedy decoder calibrated on 24 validation")


@pytest.mark.parametrize("case, message", [
    ("same", "give another file than the model read"),
    ("missing", "validation_v2.zip: not found"),
    ("few", "5 usable labelled images; calibrating needs at least 20"),
])
def test_bad_requests_are_one_line(tmp_path, case, message):
    model = tiny_model(tmp_path / "m.pt", reads="A")
    raw = tmp_path / "data"
    if case == "few":
        _scans(raw, 5)
    with pytest.raises(HwrError, match=message) as info:
        calibrate_model(model, raw, model if case == "same" else tmp_path / "out.pt")
    assert "\n" not in str(info.value)
