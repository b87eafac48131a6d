"""Sharing models as DVC users do: ``dvc remote add`` + ``dvc push`` in one clone, ``git clone`` +
``dvc pull`` in another, on a local-folder remote (any DVC remote behaves alike)."""

from __future__ import annotations

import hashlib

import pytest
import yaml
from _support import RUNS, describe, jpeg_bytes, run

pytestmark = pytest.mark.slow


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_push_then_pull_into_a_fresh_clone(make_pipeline, tmp_path):
    producer = make_pipeline("remote", {})
    producer.dvc("repro", timeout=1800)  # a whole (tiny) pipeline: minutes on a busy 2-core machine
    remote = tmp_path / "remote"
    producer.dvc("remote", "add", "-d", "shared", str(remote))
    producer.git("add", "-A")
    producer.git("commit", "-q", "--no-gpg-sign", "-m", "trained, with a remote")
    producer.dvc("push")
    assert any(p.is_file() for p in remote.rglob("*")), "dvc push sent nothing"

    clone = tmp_path / "clone"
    result = run(["git", "clone", "-q", str(producer.repo), str(clone)], tmp_path, producer.env, timeout=120)
    assert result.returncode == 0, describe(result)
    assert not (clone / "models").exists()  # the models travel through the remote, not git
    pulled = run(["dvc", "pull"], clone, producer.env, timeout=600)
    assert pulled.returncode == 0, describe(pulled)

    artifacts = yaml.safe_load((clone / "dvc.yaml").read_text())["artifacts"]
    assert sorted(artifacts) == sorted(RUNS)
    for name, artifact in artifacts.items():
        assert artifact["type"] == "model" and artifact["desc"] and artifact["labels"]
        assert md5(clone / artifact["path"]) == md5(producer.repo / artifact["path"]), name
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    for run_name in RUNS:
        (out,) = [o for o in lock[f"train@{run_name}"]["outs"] if o["path"] == f"models/{run_name}"]
        assert out["md5"].endswith(".dir")
    status = run(["dvc", "status"], clone, producer.env, timeout=300)
    assert status.returncode == 0 and "up to date" in status.stdout, describe(status)

    # one artifact, fetched alone into an empty folder, reads as in the project: the reader file
    # carries its decoder (the lexicon decoder here), calibration and lexicon
    producer.git("tag", "-a", "gru-wide@v1.0.0", "-m", "gru-wide 1.0.0")  # the version dvc artifacts get asks for
    empty = tmp_path / "empty"
    empty.mkdir()
    # the project's default reader (params: reader), fetched alone
    got = run(["dvc", "artifacts", "get", str(producer.repo), "gru-wide"], empty, producer.env, timeout=300)
    assert got.returncode == 0, describe(got)
    assert md5(empty / "gru-wide.pt") == md5(producer.repo / "readers" / "gru-wide.pt")
    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(4):
        (scans / f"{i}.jpg").write_bytes(jpeg_bytes(324, 36, seed=i))
    in_project = run(["hwr", "predict", str(scans), "--json"], producer.repo, producer.env, timeout=300)
    alone = run(["hwr", "predict", str(scans), "--json", "--model", "gru-wide.pt"], empty, producer.env, timeout=300)
    assert in_project.returncode == 0 and alone.returncode == 0, describe(in_project) + describe(alone)
    assert "carries no" not in in_project.stderr + alone.stderr  # neither read a bare model
    assert len(in_project.stdout.splitlines()) == 4 and alone.stdout == in_project.stdout
