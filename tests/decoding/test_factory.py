import logging

import pytest
from test_beam import NAMES, emissions, spelled

from hwr.core.alphabet import BLANK
from hwr.core.errors import HwrError
from hwr.decoding.confidence import Calibrated, Calibration
from hwr.decoding.factory import GREEDY, decoder_settings, make_decoder
from hwr.decoding.greedy import greedy_read
from hwr.decoding.lexicon import write_lexicon
from hwr.params import EvaluateParams


@pytest.fixture(scope="module")
def lexicon_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lexicon")
    from collections import Counter

    write_lexicon(path, Counter(NAMES), order=4)
    return path


def test_make_decoder_builds_each_decoder(lexicon_dir):
    x = emissions(*spelled("MARTI"), {"M": 0.5, "N": 0.45}, BLANK)
    assert make_decoder("greedy") == GREEDY and make_decoder("greedy").read is greedy_read
    settings = EvaluateParams(decoder="lexicon", lm_weight=0.3, lexicon_bonus=2.0)
    assert make_decoder(None, settings, lexicon_dir=lexicon_dir)(x)[0].text == "MARTIN"
    assert make_decoder("beam", EvaluateParams(lm_weight=0.0), lexicon_dir="absent")(x)[0].text == "MARTIM"
    readings = make_decoder("lexicon", settings, lexicon_dir=lexicon_dir, top_k=3)(x)
    assert len(readings[0].alternatives) == 2


@pytest.mark.parametrize("call, message", [
    (lambda d: make_decoder("viterbi"), "unknown decoder 'viterbi'"),
    (lambda d: make_decoder("greedy", top_k=3), "top-k"),
    (lambda d: make_decoder("beam", top_k=0), "top-k 0"),
    (lambda d: make_decoder("beam", lexicon_dir=d / "absent"), "dvc repro lexicon"),
])
def test_make_decoder_errors_are_one_line(lexicon_dir, call, message):
    with pytest.raises(HwrError, match=message) as info:
        call(lexicon_dir)
    assert "\n" not in str(info.value)


def test_calibration_applies_only_to_the_decoder_it_was_fitted_for(lexicon_dir, tmp_path, caplog):
    settings = EvaluateParams(decoder="beam", lm_weight=0.3)
    halve = Calibration((0.0, 1.0), (0.0, 0.5))
    halve.save(tmp_path / "calibration.json", **decoder_settings("beam", settings))
    x = emissions(*spelled("LEA"))
    decoder = make_decoder("beam", settings, lexicon_dir=lexicon_dir)
    raw = decoder(x)[0]
    fitted, about = Calibration.load(tmp_path / "calibration.json")
    calibrated = decoder.calibrated(fitted, about, "calibration.json")
    assert isinstance(calibrated.read, Calibrated) and calibrated.settings == decoder.settings
    assert calibrated(x)[0].confidence == pytest.approx(raw.confidence / 2)
    other = EvaluateParams(decoder="beam", lm_weight=0.6)
    with caplog.at_level(logging.WARNING):
        uncalibrated = make_decoder("beam", other, lexicon_dir=lexicon_dir).calibrated(fitted, about, "c.json")
    assert not isinstance(uncalibrated.read, Calibrated) and "not calibrated" in caplog.text
