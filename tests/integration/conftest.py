"""Whole-pipeline fixtures: a git + DVC copy of the project with tiny params, run by ``dvc``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from _support import (
    TINY_PARAMS,
    copy_repo,
    deep_update,
    describe,
    git_commit_all,
    init_git_repo,
    run,
    subprocess_env,
    write_params,
)


@dataclass
class Pipeline:
    """A temporary copy of the project (its own git repo) whose stages import its own src/."""

    repo: Path
    env: dict

    def dvc(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        result = run([sys.executable, "-m", "dvc", *args], self.repo, self.env, timeout=timeout)
        if check:
            assert result.returncode == 0, describe(result)
        return result

    def git(self, *args: str) -> subprocess.CompletedProcess:
        result = run(["git", *args], self.repo, self.env, timeout=120)
        assert result.returncode == 0, describe(result)
        return result

    def json(self, path: str):
        return json.loads((self.repo / path).read_text(encoding="utf-8"))

    def params(self) -> dict:
        return yaml.safe_load((self.repo / "params.yaml").read_text(encoding="utf-8"))

    def set_params(self, params: dict) -> None:
        (self.repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="session")
def make_pipeline(tmp_path_factory):
    """make_pipeline(name, overrides) -> Pipeline: the project copied, tiny params (plus
    ``overrides``) written, then ``git init`` + commit (dvclive and ``dvc exp`` need a commit)."""

    def make(name: str, overrides: dict) -> Pipeline:
        root = tmp_path_factory.mktemp(name)
        repo = copy_repo(root / "repo")
        write_params(repo, deep_update(TINY_PARAMS, overrides))
        env = subprocess_env(root, src=repo / "src")
        init_git_repo(repo, env)
        return Pipeline(repo, env)

    return make


SYNTH_SIZES = TINY_PARAMS["synth"]["sizes"]  # train 40, validation 16, test 16


@pytest.fixture(scope="session")
def synth_pipeline(make_pipeline):
    """``dvc repro`` on the built-in default data (the synth stage's tiny synthetic dataset)."""
    # the default lexicon (names-dataset's names), and the synthetic names drawn from the same source
    # (synth.names, an option), so that both ways through names-dataset run end to end
    pipeline = make_pipeline("synth", {"synth": {"names": "names-dataset:FR"},
                                       "lexicon": {"sources": ["names-dataset:FR"]}})
    assert pipeline.params()["data"]["raw_dir"] == pipeline.params()["synth"]["out_dir"] == "data/synth"
    pipeline.result = pipeline.dvc("repro")
    # what the data holds: full asks for 48 training images where 40 exist, and uses those
    pipeline.expected = {"test_rows": SYNTH_SIZES["test"], "train_sizes": {"first": 32, "full": SYNTH_SIZES["train"]},
                         "validation_size": SYNTH_SIZES["validation"]}
    return pipeline


@pytest.fixture(scope="session")
def real_pipeline(make_pipeline, real_sample):
    """``dvc repro`` on the shared real sample (1,000 Kaggle images, 700/150/150), committed."""
    pipeline = make_pipeline("real", {"data": {"raw_dir": str(real_sample)}})
    pipeline.result = pipeline.dvc("repro")
    git_commit_all(pipeline.repo, pipeline.env, "first run")  # metrics/ are git-tracked (cache: false)
    pipeline.expected = {"test_rows": 149, "train_sizes": {"first": 32, "full": 48}, "validation_size": 16}
    return pipeline


@pytest.fixture(params=["synth", "real"])
def pipeline(request):
    """Each finished pipeline in turn (the real one skips without ../shared)."""
    return request.getfixturevalue(f"{request.param}_pipeline")
