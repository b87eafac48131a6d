import math

import numpy as np
import pytest
import torch

from hwr.core.alphabet import ALPHABET, BLANK, NUM_CLASSES
from hwr.decoding.beam import BeamDecoder, NameLM
from hwr.decoding.charlm import load_arpa
from hwr.decoding.greedy import greedy_read
from hwr.decoding.lexicon import Lexicon, write_lexicon

NAMES = {"MARTIN": 40, "MARIE": 30, "LEA": 20, "ANNA": 10, "JEAN": 10}


def emissions(*steps, length: int = 24) -> np.ndarray:
    """(1, T, C) log-probabilities: each step is a character (probability 0.99), BLANK, or a dict
    {character: probability}; the rest of each step's mass is spread evenly; blanks pad to ``length``."""
    rows = []
    for step in list(steps) + [BLANK] * (length - len(steps)):
        spec = step if isinstance(step, dict) else {step: 0.99}
        row = np.full(NUM_CLASSES, (1 - sum(spec.values())) / (NUM_CLASSES - len(spec)))
        for ch, p in spec.items():
            row[BLANK if ch is BLANK else ALPHABET.index(ch)] = p
        rows.append(np.log(row))
    return np.array([rows], dtype=np.float32)


def spelled(text: str) -> list:
    steps = []
    for ch in text:
        steps += [ch, BLANK]
    return steps


@pytest.fixture(scope="module")
def lexicon_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lexicon")
    from collections import Counter

    write_lexicon(path, Counter(NAMES), order=4)
    return path


@pytest.fixture(scope="module")
def chars(lexicon_dir):
    return load_arpa(lexicon_dir / "chars.arpa")


def test_beam_width_one_without_a_model_is_greedy():
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.normal(size=(20, 64, NUM_CLASSES)) * 3).log_softmax(-1)
    greedy = greedy_read(batch)
    beam = BeamDecoder(NameLM(), beam_width=1)(batch)
    assert [r.text for r in beam] == [r.text for r in greedy]
    assert len({r.text for r in greedy}) == 20  # random paths: a real comparison, not 20 blanks


def test_double_letters_and_a_sure_model(chars):
    x = emissions(*spelled("ANNA"))
    assert greedy_read(x)[0].text == "ANNA"
    reading = BeamDecoder(NameLM(chars, 0.5), beam_width=16)(x)[0]
    assert reading.text == "ANNA" and reading.confidence > 0.9


def test_open_vocabulary_a_sure_reading_outside_the_lexicon_stays(chars):
    x = emissions(*spelled("XQZWK"))
    lexicon = Lexicon.of(NAMES)
    decoder = BeamDecoder(NameLM(chars, 0.5, lexicon, 5.0), beam_width=16)
    assert "XQZWK" not in lexicon
    assert decoder(x)[0].text == greedy_read(x)[0].text == "XQZWK"


def test_the_lexicon_bonus_settles_a_hesitation(chars):
    # the model hesitates on the last letter and leans to the wrong one
    x = emissions(*spelled("MARTI"), {"M": 0.5, "N": 0.45}, BLANK)
    lexicon = Lexicon.of(NAMES)
    assert greedy_read(x)[0].text == "MARTIM"
    assert BeamDecoder(NameLM(), beam_width=16)(x)[0].text == "MARTIM"
    assert BeamDecoder(NameLM(None, 0.0, lexicon, 2.0), beam_width=16)(x)[0].text == "MARTIN"
    # the bonus is bounded: a model sure of its reading keeps it
    sure = emissions(*spelled("MARTI"), {"M": 0.98, "N": 0.01}, BLANK)
    assert BeamDecoder(NameLM(None, 0.0, lexicon, 2.0), beam_width=16)(sure)[0].text == "MARTIM"


def test_top_k_alternatives_are_ordered_and_distinct(chars):
    x = emissions(*spelled("MAR"), {"I": 0.4, "T": 0.35, "E": 0.2}, BLANK, {"E": 0.5, "N": 0.3}, BLANK)
    reading = BeamDecoder(NameLM(chars, 0.5), beam_width=16, top_k=4)(x)[0]
    texts = [reading.text, *(t for t, _ in reading.alternatives)]
    confidences = [reading.confidence, *(p for _, p in reading.alternatives)]
    assert len(reading.alternatives) == 3 and len(set(texts)) == 4
    assert confidences == sorted(confidences, reverse=True) and sum(confidences) <= 1 + 1e-9
    assert BeamDecoder(NameLM(chars, 0.5), beam_width=16)(x)[0].alternatives == ()


def test_the_language_model_scores_add_up(chars):
    """Over a whole name, the scores are weight x ln P(name) plus the bonus if the name is known."""
    lexicon, weight, bonus = Lexicon.of(NAMES), 0.7, 3.0
    lm, plain = NameLM(chars, weight, lexicon, bonus), NameLM(chars, 1.0)

    def total(model, text):
        state, score = model.start(False), 0.0
        for ch in text:
            state, s = model.score(state, ALPHABET.index(ch))
            score += s
        return score + model.finish(state)[1]

    for text, known in (("LEA", True), ("LEX", False), ("MARTINA", False)):
        assert total(lm, text) == pytest.approx(weight * total(plain, text) + (bonus if known else 0.0))
    state, log10 = chars.start(False), 0.0
    for ch in "LEA":
        state, score = chars.score(state, ALPHABET.index(ch))
        log10 += score
    assert total(plain, "LEA") == pytest.approx(math.log(10) * (log10 + chars.finish(state)[1]))
