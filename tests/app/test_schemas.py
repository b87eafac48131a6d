"""hwr.app.schemas: the JSON shapes of hwr serve, as its OpenAPI schema declares them."""

import pytest

pydantic = pytest.importorskip("pydantic", reason="the serve extra is not installed (pip install 'hwr[serve]')")

from hwr.app.schemas import FileError, Reading, Readings  # noqa: E402


def test_a_predict_answer_mixes_readings_and_file_errors_in_order():
    body = {"results": [{"name": "a.jpg", "text": "LEA", "confidence": 0.9,
                         "alternatives": [{"text": "LEO", "confidence": 0.05}]},
                        {"name": "b.txt", "error": "b.txt: not an image this server can read"}]}
    parsed = Readings.model_validate(body)
    assert isinstance(parsed.results[0], Reading) and isinstance(parsed.results[1], FileError)
    assert parsed.results[0].alternatives[0].text == "LEO"


@pytest.mark.parametrize("confidence", [-0.1, 1.5])
def test_a_confidence_is_a_probability(confidence):
    with pytest.raises(pydantic.ValidationError):
        Reading(name="a.jpg", text="LEA", confidence=confidence, alternatives=[])
