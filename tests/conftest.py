"""Shared fixtures. Helpers live in tests/_support.py (importable as ``_support``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# One compute thread per process (this one and the stage/dvc subprocesses, which inherit it): the
# machines that run the suite are small and shared, where extra threads only contend. Set before
# torch is imported; an explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return _support.REPO_ROOT


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The shared real-data sample beside the checkout, or skip."""
    sample = _support.SHARED_SAMPLE
    if not all((sample / f"{split}_v2.zip").is_file() for split in _support.SPLITS):
        pytest.skip(_support.SHARED_SKIP)
    return sample


@pytest.fixture(scope="session")
def names_kit() -> Path:
    """The shared kit of 35k real name labels (``IDENTITY,count``) beside the checkout, or skip."""
    if not _support.SHARED_NAMES.is_file():
        pytest.skip(_support.NAMES_SKIP)
    return _support.SHARED_NAMES


@pytest.fixture
def raw_dataset(tmp_path) -> Path:
    """A tiny valid dataset in the Kaggle layout: 4 labelled JPEGs per split."""
    return _support.write_dataset(tmp_path / "raw")


@pytest.fixture
def stage_dir(tmp_path, raw_dataset) -> Path:
    """A work folder holding stages/ and a tiny params.yaml whose data.raw_dir is ``raw_dataset``,
    for running stage scripts by hand (``python stages/unzip.py``)."""
    work = _support.copy_repo(tmp_path / "work", pipeline=False)
    _support.write_params(work, {**_support.TINY_PARAMS, "data": {"raw_dir": str(raw_dataset)},
                                 "preprocess": {**_support.TINY_PARAMS["preprocess"], "jobs": 1}})
    return work


@pytest.fixture
def run_stage(tmp_path):
    """run_stage(work, 'unzip') -> CompletedProcess of ``python stages/unzip.py`` in ``work``."""
    env = _support.subprocess_env(tmp_path)

    def _run(work: Path, stage: str, *args: str, timeout: float = 300):
        return _support.run([sys.executable, f"stages/{stage}.py", *args], work, env, timeout=timeout)

    return _run
