import numpy as np
import pytest

from hwr.core.errors import HwrError
from hwr.decoding.confidence import (
    Calibration,
    accuracy_at_coverage,
    coverage_curve,
    expected_calibration_error,
    summary,
)

CONFIDENCE = [0.9, 0.2, 0.8, 0.6, 0.1, 0.95, 0.4, 0.7, 0.3, 0.5]
CORRECT = [True, False, True, False, False, True, True, True, False, False]


def test_accuracy_at_coverage_takes_the_most_confident_first():
    # ranked: 0.95 T, 0.9 T, 0.8 T, 0.7 T, 0.6 F | 0.5 F, 0.4 T, 0.3 F, 0.2 F, 0.1 F
    assert accuracy_at_coverage(CONFIDENCE, CORRECT, 0.5) == 0.8
    assert accuracy_at_coverage(CONFIDENCE, CORRECT, 0.4) == 1.0
    assert accuracy_at_coverage(CONFIDENCE, CORRECT, 1.0) == 0.5
    assert accuracy_at_coverage(CONFIDENCE, CORRECT, 0.01) == 1.0  # at least one name
    assert accuracy_at_coverage([], [], 0.5) is None


def test_ties_keep_the_input_order():
    assert accuracy_at_coverage([0.5, 0.5], [False, True], 0.5) == 0.0
    assert accuracy_at_coverage([0.5, 0.5], [True, False], 0.5) == 1.0


def test_coverage_curve_ends_at_the_overall_accuracy():
    curve = coverage_curve(CONFIDENCE, CORRECT)
    assert curve.columns.tolist() == ["coverage", "word_accuracy"]
    assert curve["coverage"].tolist() == [k / 10 for k in range(1, 11)]  # 10 names: one point each
    assert curve["word_accuracy"].iloc[-1] == 0.5 and curve["word_accuracy"].iloc[3] == 1.0
    big = coverage_curve(np.linspace(0, 1, 1000), np.linspace(0, 1, 1000) > 0.3, points=100)
    assert len(big) == 100 and big["coverage"].is_monotonic_increasing
    assert coverage_curve([], []).empty


def test_ece_is_zero_when_confidence_matches_accuracy():
    confidence = [0.75] * 4 + [0.25] * 4
    correct = [True, True, True, False, True, False, False, False]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)
    # always 0.9 sure, right half the time: off by 0.4
    assert expected_calibration_error([0.9] * 4, [True, False, True, False]) == pytest.approx(0.4)
    assert expected_calibration_error([1.0], [True]) == pytest.approx(0.0)  # 1.0 falls in the last bin
    assert expected_calibration_error([], []) is None


def test_isotonic_calibration_fixes_an_overconfident_model():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.5, 1.0, 4000)
    correct = rng.uniform(size=4000) < (raw - 0.5) * 1.2  # right far less often than it claims
    fitted = Calibration.fit(raw[:2000], correct[:2000])
    held_out_raw, held_out = raw[2000:], correct[2000:]
    before = expected_calibration_error(held_out_raw, held_out)
    after = expected_calibration_error(fitted(held_out_raw), held_out)
    assert before > 0.2 and after < 0.05
    assert np.all(np.diff(fitted(np.linspace(0, 1, 50))) >= 0)  # monotone: the ranking is kept


def test_calibration_round_trip_and_bad_files(tmp_path):
    fitted = Calibration.fit([0.1, 0.4, 0.6, 0.9], [False, False, True, True])
    fitted.save(tmp_path / "c.json", decoder="beam", beam_width=8)
    loaded, about = Calibration.load(tmp_path / "c.json")
    assert loaded == fitted and about == {"decoder": "beam", "beam_width": 8}
    assert np.allclose(loaded([0.0, 0.5, 1.0]), fitted([0.0, 0.5, 1.0]))
    assert Calibration.fit([], [])([0.3]) == pytest.approx([0.3])  # no data: the identity
    (tmp_path / "bad.json").write_text('{"x": [0.1]}')
    with pytest.raises(HwrError, match="bad.json"):
        Calibration.load(tmp_path / "bad.json")


def test_summary_reports_coverage_and_both_errors():
    out = summary(CONFIDENCE, CORRECT, calibrated=np.full(10, 0.5))
    assert out["word_accuracy_at_coverage"] == {"50": 0.8, "80": 0.625, "100": 0.5}
    assert out["ece"] == pytest.approx(0.0) and out["ece_raw"] > 0
    assert "ece" not in summary(CONFIDENCE, CORRECT)


def test_calibrated_alternatives_share_what_the_best_reading_leaves():
    """Alternatives are not mapped through a calibration learnt on best readings (they would read
    0 %): each keeps its share of 1 - the calibrated best confidence."""
    from hwr.decoding.confidence import Calibrated
    from hwr.decoding.greedy import Reading

    def beam(log_probs):
        return [Reading("LEA", 0.6, (("LEO", 0.3), ("LIA", 0.1))), Reading("ANNA", 1.0)]

    halve = Calibration((0.0, 1.0), (0.0, 0.5))  # every confidence halved
    lea, anna = Calibrated(beam, halve)(None)
    assert lea.confidence == pytest.approx(0.3) and anna.confidence == pytest.approx(0.5)
    assert [t for t, _ in lea.alternatives] == ["LEO", "LIA"]
    assert [p for _, p in lea.alternatives] == pytest.approx([0.7 * 0.75, 0.7 * 0.25])
    assert lea.confidence + sum(p for _, p in lea.alternatives) == pytest.approx(1.0)
    assert anna.alternatives == ()
