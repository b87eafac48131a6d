"""hwr.core.name_lists: names-dataset's ranked lists, read once per country and kept in the cache."""

import json

import pytest

from hwr.core import name_lists
from hwr.core.errors import HwrError

LISTS = {"first": [["Marie", "Léa"], ["Jean", "Lucas"]], "last": ["Martin", "Da Silva"]}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HWR_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_the_package_is_read_once_then_the_cache_answers(cache, monkeypatch):
    reads = []
    monkeypatch.setattr(name_lists, "_read_package", lambda country: reads.append(country) or LISTS)
    assert name_lists.ranked_names("FR") == LISTS
    assert name_lists.ranked_names("FR") == LISTS
    assert reads == ["FR"]
    (cached,) = cache.glob("names-dataset-*-FR.json")
    assert json.loads(cached.read_text(encoding="utf-8")) == LISTS


def test_a_damaged_cache_file_is_read_again(cache, monkeypatch):
    monkeypatch.setattr(name_lists, "_read_package", lambda country: LISTS)
    name_lists.ranked_names("FR")
    (cached,) = cache.glob("names-dataset-*-FR.json")
    cached.write_text('{"first": [', encoding="utf-8")
    assert name_lists.ranked_names("FR") == LISTS
    assert json.loads(cached.read_text(encoding="utf-8")) == LISTS


def test_a_missing_package_is_one_line_naming_the_install(cache, monkeypatch):
    def not_installed(name):
        raise name_lists.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(name_lists.metadata, "version", not_installed)
    with pytest.raises(HwrError, match=r"names-dataset is not installed; pip install"):
        name_lists.ranked_names("FR")
