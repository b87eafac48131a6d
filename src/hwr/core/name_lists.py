"""Ranked lists of real first names and surnames from maintained name data, read once and cached.

The ``names-dataset`` package ranks first names (by gender) and surnames per country. Reading its
tables takes tens of seconds and about two gigabytes, so the lists of one country are kept as a
small JSON file in hwr's cache folder (:func:`hwr.core.files.cache_dir`), keyed by the package's
version: the synth stage (names to write) and the lexicon stage (names to read) share one read.
Names are as the package spells them (mixed case, accents); callers turn them into labels.
"""

from __future__ import annotations

import json
from importlib import metadata

from hwr.core.errors import HwrError
from hwr.core.files import cache_dir, write_json

PACKAGE = "names-dataset"


def ranked_names(country: str) -> dict:
    """``{"first": [[names of one gender, best first], ...], "last": [surnames, best first]}`` of
    ``country`` (ISO 3166 alpha-2, e.g. FR); a one-line error when the package is missing or has
    no names for it."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        raise HwrError(f"{PACKAGE} is not installed; pip install '{PACKAGE}>=3.3,<4' (or drop the names-dataset "
                       "source from params.yaml)") from None
    cached = cache_dir() / f"{PACKAGE}-{version}-{country}.json"
    if cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # a damaged cache file is read again and replaced
    lists = _read_package(country)
    try:
        write_json(cached, lists)
    except OSError:
        pass  # a read-only cache folder: the lists are read again next time
    return lists


def _read_package(country: str) -> dict:
    from names_dataset import NameDataset  # loads its tables only when asked

    data = NameDataset()
    firsts = data.get_top_names(n=10**6, use_first_names=True, country_alpha2=country).get(country, {})
    lasts = data.get_top_names(n=10**6, use_first_names=False, country_alpha2=country).get(country, [])
    if not firsts and not lasts:
        raise HwrError(f"{PACKAGE} has no names for country {country!r}; give an ISO 3166 alpha-2 code such as FR")
    return {"first": [list(firsts[gender]) for gender in sorted(firsts)], "last": list(lasts)}
