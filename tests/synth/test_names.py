"""hwr.synth.names: French name pools and their labels in the Kaggle alphabet."""

import numpy as np
import pytest

from hwr.core.alphabet import ALPHABET, MAX_LABEL_LENGTH
from hwr.synth import names


def test_labels_and_accents():
    assert names.to_label("JÉRÔME") == "JEROME"
    assert names.to_label("FRANÇOIS-NOËL") == "FRANCOIS-NOEL"
    assert names.to_label("D’ALMEIDA".replace("’", "'")) == "D'ALMEIDA"
    rng = np.random.default_rng(0)
    seen_compound = False
    for _ in range(2000):
        field, shown, label = names.draw_name(rng)
        assert field in ("NOM", "PRENOM")
        assert set(label) <= set(ALPHABET) and 1 <= len(label) <= MAX_LABEL_LENGTH
        assert label == names.to_label(shown)
        seen_compound |= any(c in label for c in " -'")
    assert seen_compound


def test_name_pools_are_sorted_and_big():
    first, last = names.name_pools()
    assert list(first) == sorted(first) and list(last) == sorted(last)
    assert len(first) > 500 and len(last) > 500


def test_a_ranked_pool_draws_common_names_more_often(monkeypatch):
    """names-dataset's lists are drawn by rank: the first-ranked name far more often than the
    hundredth, accents kept in what is written and dropped from the label."""
    ranked = {"first": [["Léa"] + [f"Prenom{chr(65 + i % 26)}{chr(65 + i // 26)}" for i in range(200)]],
              "last": ["Martin"] + [f"Nom{chr(65 + i % 26)}{chr(65 + i // 26)}" for i in range(200)]}
    monkeypatch.setattr(names, "ranked_names", lambda country: ranked)
    names.pool.cache_clear()
    names._bigram_model.cache_clear()
    try:
        pool = names.pool("names-dataset:XX")
        rng = np.random.default_rng(0)
        picks = [pool.pick(rng, "PRENOM") for _ in range(20000)]
        assert picks.count("LÉA") > 3 * picks.count("PRENOMQH")  # rank 1 against rank 200: 1/51 against 1/250
        with names.drawing_from("names-dataset:XX"):
            drawn = [names.draw_name(rng, "PRENOM") for _ in range(500)]
        assert ("PRENOM", "LÉA", "LEA") in drawn
        assert names._active == names.FAKER
    finally:
        names.pool.cache_clear()
        names._bigram_model.cache_clear()


def test_an_unknown_names_source_is_refused():
    with pytest.raises(ValueError, match="faker or names-dataset:CC"):
        names.pool("insee:FR")
