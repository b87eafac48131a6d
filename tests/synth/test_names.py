"""hwr.synth.names: French name pools and their labels in the Kaggle alphabet."""

import numpy as np

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
