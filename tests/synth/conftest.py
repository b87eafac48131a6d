import pytest

from hwr.synth import generate_dataset


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """One small dataset shared by the layout tests (generation is the slow part)."""
    out = tmp_path_factory.mktemp("synth_small")
    stats = generate_dataset(out, {"train": 60, "validation": 12, "test": 12}, seed=5, jobs=1)
    return out, stats
