"""hwr.decoding.bundle: the decoder, calibration and lexicon a model file carries."""

import json
import logging
from collections import Counter

import numpy as np
import pytest

from hwr.core.alphabet import ALPHABET, BLANK
from hwr.core.errors import HwrError
from hwr.decoding.bundle import bundled_lexicon, make_bundle, parse_bundle, reading_decoder
from hwr.decoding.confidence import Calibration
from hwr.decoding.factory import GREEDY, make_decoder
from hwr.decoding.lexicon import lexicon_built, write_lexicon
from hwr.params import EvaluateParams


@pytest.fixture
def lexicon(tmp_path, monkeypatch):
    monkeypatch.setenv("HWR_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "lexicon"
    write_lexicon(folder, Counter({"MARTIN": 3, "LEA": 2, "LEO": 1}), order=3)
    return folder


def _log_probs(text: str, steps: int = 24) -> np.ndarray:
    probs = np.full((1, steps, len(ALPHABET) + 1), 0.01)
    probs[0, :, BLANK] = 1.0
    for i, letter in enumerate(text):
        probs[0, 2 + 3 * i] = 0.01
        probs[0, 2 + 3 * i, ALPHABET.index(letter)] = 0.6
        probs[0, 2 + 3 * i, ALPHABET.index("O")] += 0.3  # a second guess for every letter
    return np.log(probs / probs.sum(axis=2, keepdims=True)).astype(np.float32)


def test_a_bundle_survives_json_and_reads_as_the_project_did(lexicon, tmp_path):
    """What the evaluate stage bundles (lexicon decoder, its calibration, the lexicon) reads, after a
    trip through JSON (as in ONNX metadata) and with the project's folder gone, exactly as the
    project's calibrated decoder."""
    settings = EvaluateParams(decoder="lexicon")
    decoder = make_decoder("lexicon", settings, lexicon_dir=lexicon, top_k=1)
    calibration = Calibration((0.0, 0.5, 1.0), (0.1, 0.3, 0.9))
    bundle = parse_bundle(json.dumps(make_bundle(decoder, calibration, lexicon)), "m.onnx")
    expected = [r.text for r in decoder(_log_probs("LEA"))]
    for path in lexicon.iterdir():
        path.unlink()
    carried = reading_decoder(bundle, where="m.onnx")
    (reading,) = carried(_log_probs("LEA"))
    raw = decoder.read(_log_probs("LEA"))[0]
    assert [reading.text] == expected and carried.name == "lexicon"
    assert reading.confidence == pytest.approx(float(calibration([raw.confidence])[0]))
    assert lexicon_built(bundled_lexicon(bundle))  # written once into the cache, by the hash of its text


def test_another_lexicon_folder_replaces_the_carried_one(lexicon, tmp_path):
    bundle = make_bundle(make_decoder("lexicon", EvaluateParams(), lexicon_dir=lexicon), None, lexicon)
    other = tmp_path / "other"
    write_lexicon(other, Counter({"LEO": 5}), order=3)
    (carried,) = reading_decoder(bundle)(_log_probs("LEA"))
    (replaced,) = reading_decoder(bundle, lexicon_dir=other)(_log_probs("LEA"))
    assert carried.text == "LEA" and replaced.text == "LEO"


def test_another_decoder_is_not_calibrated_and_says_so(lexicon, caplog):
    bundle = make_bundle(GREEDY, Calibration((0.0, 1.0), (0.25, 0.25)), lexicon)
    (greedy,) = reading_decoder(bundle)(_log_probs("LEA"))
    assert greedy.confidence == pytest.approx(0.25)
    with caplog.at_level(logging.WARNING):
        (beam,) = reading_decoder(bundle, name="beam")(_log_probs("LEA"))
    assert beam.confidence != pytest.approx(0.25) and "calibrated for" not in caplog.text  # fitted for greedy only
    wider = reading_decoder(bundle, name="greedy", settings=EvaluateParams(decoder="greedy"))
    assert wider(_log_probs("LEA"))[0].confidence == pytest.approx(0.25)


def test_a_bundle_without_a_lexicon_refuses_the_beam_decoders_in_one_line():
    bundle = make_bundle(GREEDY, None, None)
    assert "lexicon" not in bundle
    with pytest.raises(HwrError, match=r"^m\.pt carries no lexicon for the beam decoder; give --lexicon DIR") as info:
        reading_decoder(bundle, name="beam", where="m.pt")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("raw, message", [
    ('{"decoder": ', "damaged"),
    ({"settings": {}}, "damaged"),
    ({"format": 99, "decoder": "greedy", "settings": {}}, "newer hwr"),
])
def test_a_damaged_or_newer_bundle_is_one_line(raw, message):
    with pytest.raises(HwrError, match=message):
        parse_bundle(raw, "m.pt")
    assert parse_bundle(None, "m.pt") is None
