"""The comparison's pictures, from a finished ``dvc repro`` (synthetic and real data)."""

from __future__ import annotations

import re

import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def test_comparison_links_pictures_that_exist(pipeline):
    markdown = (pipeline.repo / "metrics/comparison.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", markdown)
    assert links == ["figures/learning_curves.png", "figures/confusion.png", "figures/coverage.png"]
    for link in links:
        image = Image.open(pipeline.repo / "metrics" / link)  # relative to the Markdown: opens on any git host
        assert image.format == "PNG" and image.size[0] >= 400
    # git-tracked beside the metrics, and small
    assert sum(p.stat().st_size for p in (pipeline.repo / "metrics/figures").iterdir()) < 400_000
