import math
import re

import pytest

from hwr.core.alphabet import ALPHABET
from hwr.core.errors import HwrError
from hwr.decoding.charlm import SPACE_TOKEN, build_arpa, load_arpa, perplexity, tokens, write_arpa

NAMES = [("MARTIN", 30), ("MARTINE", 10), ("MARIE", 25), ("JEAN-PIERRE", 5), ("ANNE MARIE", 3), ("LEA", 8)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "chars.arpa"
    write_arpa(path, NAMES, order=4)
    return load_arpa(path)


def next_symbol_probabilities(model, context: str) -> dict[str, float]:
    state = model.start(False)
    for ch in context:
        state, _ = model.score(state, ALPHABET.index(ch))
    probs = {ch: 10 ** model.score(state, i)[1] for i, ch in enumerate(ALPHABET)}
    probs["</s>"] = 10 ** model.finish(state)[1]
    return probs


@pytest.mark.parametrize("context", ["", "MAR", "MARTIN", "ANNE ", "QXZ", "JEAN-", "'''"])
def test_every_context_is_a_distribution_over_all_symbols(model, context):
    probs = next_symbol_probabilities(model, context)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert min(probs.values()) > 0  # open vocabulary: never-seen symbols ("Q", "'") keep some mass


def test_the_model_has_learnt_the_names(model):
    after_mar = next_symbol_probabilities(model, "MAR")
    assert max(after_mar, key=after_mar.get) in "TI"  # MARTIN(E), MARIE
    assert next_symbol_probabilities(model, "MARTIN")["E"] > next_symbol_probabilities(model, "")["E"] / 10
    assert next_symbol_probabilities(model, "MARTINE")["</s>"] > 0.5
    assert perplexity(model, ["MARTIN", "MARIE"]) < perplexity(model, ["XWQZK", "QQJJV"]) / 3


def test_counts_weigh_the_names():
    heavy = build_arpa([("AB", 100), ("AC", 1)], order=2)
    light = build_arpa([("AB", 1), ("AC", 100)], order=2)

    def logp(text, gram):
        return float(re.search(rf"^(\S+)\t{re.escape(gram)}(\t|$)", text, re.M).group(1))

    assert logp(heavy, "A B") > logp(heavy, "A C") and logp(light, "A B") < logp(light, "A C")


def test_the_arpa_header_counts_its_ngrams():
    text = build_arpa(NAMES, order=3)
    for n in (1, 2, 3):
        declared = int(re.search(rf"^ngram {n}=(\d+)$", text, re.M).group(1))
        section = text.split(f"\\{n}-grams:\n")[1].split("\n\n")[0].splitlines()
        assert declared == len(section) and all(len(line.split("\t")[1].split()) == n for line in section)


def test_space_is_a_token_of_its_own():
    assert tokens("ANNE MARIE")[4] == SPACE_TOKEN and f"E {SPACE_TOKEN} M" in build_arpa(NAMES, order=3)


def test_no_names_gives_a_uniform_model(tmp_path):
    write_arpa(tmp_path / "empty.arpa", [], order=3)
    probs = next_symbol_probabilities(load_arpa(tmp_path / "empty.arpa"), "AB")
    assert max(probs.values()) == pytest.approx(min(probs.values()), rel=1e-3)
    assert perplexity(load_arpa(tmp_path / "empty.arpa"), ["AB"]) == pytest.approx(len(ALPHABET) + 1, rel=1e-3)


def test_bad_order_and_bad_file(tmp_path):
    with pytest.raises(ValueError):
        build_arpa(NAMES, order=0)
    (tmp_path / "bad.arpa").write_text("not an arpa file\n")
    with pytest.raises(HwrError, match="bad.arpa"):
        load_arpa(tmp_path / "bad.arpa")


def test_perplexity_of_nothing_is_none(model):
    assert perplexity(model, []) is None
    assert math.isfinite(perplexity(model, ["Q"]))
