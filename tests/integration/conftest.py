"""Whole-pipeline fixtures: a git + DVC copy of the project with tiny params, run by ``dvc``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from _support import TINY_PARAMS, copy_repo, deep_update, describe, init_git_repo, run, subprocess_env, write_params


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


@pytest.fixture(scope="module")
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
