"""hwr.decoding.name_sources: real names for the lexicon, weighted by rank, as the forms write them."""

import pytest

from hwr.core.errors import HwrError
from hwr.decoding.name_sources import TOP_COUNT, as_label, parse_source, ranked_counts, read_source


def test_a_source_is_a_kind_and_a_country():
    assert parse_source("names-dataset:FR") == ("names-dataset", "FR")
    for bad in ("names-dataset", "names-dataset:France", "insee:FR", "", None):
        with pytest.raises(HwrError, match="not a names source") as info:
            parse_source(bad)
        assert "\n" not in str(info.value)


def test_names_are_written_as_on_the_forms():
    assert as_label("Hélène") == "HELENE" and as_label("François") == "FRANCOIS" and as_label("Zoë") == "ZOE"


def test_rank_gives_a_zipf_pseudo_count():
    counts = ranked_counts(["MARIE", "JEAN", "LEA"] + [f"N{i}" for i in range(3 * TOP_COUNT)])
    assert counts["MARIE"] == TOP_COUNT and counts["JEAN"] == TOP_COUNT // 2 and counts["LEA"] == round(TOP_COUNT / 3)
    assert min(counts.values()) == 1


def test_read_source_merges_the_lists_and_applies_the_label_rules():
    lists = [["Marie", "Léa", "Anne-Sophie"], ["Jean", "Marie"], ["Martin", "Œdipe", "A" * 30]]
    names, skipped = read_source("names-dataset:FR", fetch=lambda country: lists, max_length=24)
    assert names["MARIE"] == TOP_COUNT + TOP_COUNT // 2  # first in one list, second in another
    assert names["LEA"] == TOP_COUNT // 2 and "ANNE-SOPHIE" in names and names["MARTIN"] == TOP_COUNT
    assert "ŒDIPE" not in names and "A" * 30 not in names
    assert skipped == {"unknown_characters": 1, "too_long": 1}


def test_names_dataset_ranks_french_names():
    """The real package: common French first names and surnames rank high."""
    pytest.importorskip("names_dataset", reason="names-dataset is not installed (pip install names-dataset)")
    names, _ = read_source("names-dataset:FR")
    assert len(names) > 10_000
    assert names["MARIE"] >= 50 and names["MARTIN"] >= 50 and names["NICOLAS"] >= 10
