"""hwr.training.loop.train resumes an interrupted run from its checkpoint, exactly.

Tiny data (16 + 8 random 64x256 images with random names, built with StoreWriter), batch 8 (2 steps
an epoch), GRU, fp32, one thread. A run is interrupted right after a checkpoint is written (a
KeyboardInterrupt, as Ctrl-C or SIGTERM gives in a stage; ``hwr.core.errors.exit_codes`` turns SIGTERM
into one), then re-run: it must say it resumes, train only the steps after the checkpoint, and end with
the same summary metrics, curves and weights as a run that was never interrupted, whether the
checkpoint was an epoch's end or the middle of an epoch. A checkpoint written by a run with other
params must be ignored (the run starts from scratch).

dvclive needs a git repository with a commit: each test runs in a fresh one in tmp_path.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import _support
import numpy as np
import pandas as pd
import pytest
import torch

from hwr.core.alphabet import ALPHABET, encode_many
from hwr.data.store import StoreWriter, open_store
from hwr.params import SubsetParams, TrainParams
from hwr.training import loop as training

PLAN = training.Plan("gru", "first", 16, 8)
# every value a test relies on given, none left to the defaults (params.yaml's)
PARAMS = TrainParams(batch_size=8, lr=0.001, schedule="constant", clip=0.0, aux_weight=0.0, epochs=3, steps=0,
                     eval_every=0, precision="fp32", seed=0, eval_batch_size=16, train_eval_size=8,
                     subsets={"first": SubsetParams(16, 8), "full": SubsetParams(16, 8)})
TIMING = ("train_seconds", "images_per_second")


def _names(n: int, rng) -> list[str]:
    letters = ALPHABET[1:27]
    return ["".join(rng.choice(list(letters), rng.integers(3, 9))) for _ in range(n)]


def _store(path, n: int, seed: int):
    rng = np.random.default_rng(seed)
    images = np.full((n, 64, 256), 255, np.uint8)
    images[:, 16:48, :160] = rng.integers(0, 256, (n, 32, 160), dtype=np.uint8)  # "ink" on white
    texts = _names(n, rng)
    with StoreWriter(path, n) as writer:
        writer.append(images)
        writer.commit(encode_many(texts), pd.DataFrame({"FILENAME": [f"F{i}.jpg" for i in range(n)],
                                                        "IDENTITY": texts}), {"resize": "crop"})
    return open_store(path)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A git repo (dvclive reads HEAD) as cwd, one torch thread, and the two stores."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("training tests\n")
    _support.init_git_repo(repo, _support.subprocess_env(tmp_path))
    monkeypatch.chdir(repo)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # configure_threads then keeps torch's setting
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield repo, _store(tmp_path / "train", 16, 1), _store(tmp_path / "validation", 8, 2)
    torch.set_num_threads(threads)


@pytest.fixture
def checkpoints(monkeypatch):
    """Records each checkpoint hwr.training.loop writes ({step: CRNN weights}); ``interrupt_after`` set to
    a step raises KeyboardInterrupt once that step's checkpoint is on disk."""
    recorder = {"saved": {}, "interrupt_after": None}
    original = training.atomic_save

    def save(obj, path):
        original(obj, path)
        step = json.loads(obj["state"])["step"]
        recorder["saved"][step] = {k: v.clone() for k, v in obj["trainer"]["net"].items()}
        if recorder["interrupt_after"] == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "atomic_save", save)
    return recorder


def _run(repo, stores, name: str, params: TrainParams = PARAMS, live: bool = True):
    out = repo / name
    summary = training.train(PLAN, params, *stores, model_path=out / "model.pt",
                             checkpoint_path=out / "checkpoint.pt", live_dir=out / "live" if live else None,
                             summary_path=out / "summary.json")
    return summary, out


def _weights(out) -> dict:
    return torch.load(out / "model.pt", map_location="cpu", weights_only=True)["state_dict"]


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _curve(out, name: str) -> list[str]:
    return (out / "live" / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()


def _untimed(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in TIMING}


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(work, checkpoints, caplog):
    repo, *stores = work
    caplog.set_level(logging.INFO, logger="hwr.training.loop")
    reference, ref_out = _run(repo, stores, "reference")
    final_reference = checkpoints["saved"][6]
    assert list(checkpoints["saved"]) == [2, 4, 6], "a checkpoint at each epoch's end"
    assert not (ref_out / "checkpoint.pt").exists(), "a finished run removes its checkpoint"

    checkpoints["saved"].clear()
    checkpoints["interrupt_after"] = 2
    with pytest.raises(KeyboardInterrupt):
        _run(repo, stores, "resumed")
    out = repo / "resumed"
    assert (out / "checkpoint.pt").is_file() and not (out / "summary.json").exists()
    assert list(checkpoints["saved"]) == [2]

    checkpoints["saved"].clear()
    checkpoints["interrupt_after"] = None
    caplog.clear()
    resumed, out = _run(repo, stores, "resumed")
    assert "resuming gru-first after step 2 of 6" in caplog.text
    assert list(checkpoints["saved"]) == [4, 6], "only the steps after the checkpoint are trained"
    assert not (out / "checkpoint.pt").exists()

    assert _untimed(resumed) == _untimed(reference)
    assert json.loads((out / "summary.json").read_text())["validation"] == reference["validation"]
    assert _same_weights(checkpoints["saved"][6], final_reference), "last weights differ after resume"
    assert _same_weights(_weights(out), _weights(ref_out)), "saved (best) model differs after resume"
    for curve in ("train/loss", "validation/loss", "validation/cer"):
        assert len(_curve(out, curve)) == 1 + PARAMS.epochs  # header + one row per evaluation, replayed
        assert _curve(out, curve) == _curve(ref_out, curve), curve


def test_resume_from_the_middle_of_an_epoch_with_the_aux_head(work, checkpoints, monkeypatch, caplog):
    """Evaluations every step and a checkpoint at each (no time limit between checkpoints): stopped
    after step 3, in the middle of epoch 2, the run resumes at step 4 and ends as one never stopped,
    the auxiliary head's weights and its optimiser state included."""
    repo, *stores = work
    monkeypatch.setattr(training, "CHECKPOINT_SECONDS", 0)
    params = dataclasses.replace(PARAMS, eval_every=1, aux_weight=1.0)
    reference, ref_out = _run(repo, stores, "reference", params)
    assert list(checkpoints["saved"]) == [1, 2, 3, 4, 5, 6]
    assert any(k.startswith("aux.") for k in checkpoints["saved"][6])
    final_reference = checkpoints["saved"][6]

    checkpoints["saved"].clear()
    checkpoints["interrupt_after"] = 3
    with pytest.raises(KeyboardInterrupt):
        _run(repo, stores, "resumed", params)
    checkpoints["saved"].clear()
    checkpoints["interrupt_after"] = None
    caplog.set_level(logging.INFO, logger="hwr.training.loop")
    resumed, out = _run(repo, stores, "resumed", params)
    assert "resuming gru-first after step 3 of 6" in caplog.text
    assert list(checkpoints["saved"]) == [4, 5, 6]
    assert _untimed(resumed) == _untimed(reference)
    assert _same_weights(checkpoints["saved"][6], final_reference)
    assert _same_weights(_weights(out), _weights(ref_out))
    assert len(_curve(out, "train/aux_loss")) == 1 + 6 and _curve(out, "train/loss") == _curve(ref_out, "train/loss")


def test_without_a_live_dir_nothing_is_logged_and_the_result_is_the_same(work, checkpoints):
    """Experiments train without dvclive (live_dir=None); the model and summary do not change."""
    repo, *stores = work
    logged, logged_out = _run(repo, stores, "logged")
    quiet, quiet_out = _run(repo, stores, "quiet", live=False)
    assert not (quiet_out / "live").exists()
    assert _untimed(quiet) == _untimed(logged)
    assert _same_weights(_weights(quiet_out), _weights(logged_out))


def test_checkpoint_of_a_run_with_other_params_is_ignored(work, checkpoints, caplog):
    repo, *stores = work
    caplog.set_level(logging.INFO, logger="hwr.training.loop")
    checkpoints["interrupt_after"] = 2
    with pytest.raises(KeyboardInterrupt):
        _run(repo, stores, "stale", dataclasses.replace(PARAMS, epochs=2))
    assert (repo / "stale" / "checkpoint.pt").is_file()

    other = dataclasses.replace(PARAMS, epochs=2, lr=0.002)
    checkpoints["interrupt_after"] = None
    checkpoints["saved"].clear()
    caplog.clear()
    over_stale, out = _run(repo, stores, "stale", other)
    assert "ignoring" in caplog.text and "other params" in caplog.text
    assert "resuming" not in caplog.text
    assert list(checkpoints["saved"]) == [2, 4], "the run must start from scratch"

    fresh, fresh_out = _run(repo, stores, "fresh", other)
    assert _untimed(over_stale) == _untimed(fresh)
    assert _same_weights(_weights(out), _weights(fresh_out))


# ---------------------------------------------------------------- the stage, stopped by SIGTERM

STAGE_PARAMS = {"train": {"epochs": 2, "steps": 0, "batch_size": 8, "eval_batch_size": 16, "train_eval_size": 8,
                          "precision": "fp32", "seed": 0,
                          "subsets": {"first": {"train": 16, "validation": 8}, "full": {"train": 16, "validation": 8}}}}


def _stage_dir(tmp_path, name: str, env: dict):
    work = _support.copy_repo(tmp_path / name, pipeline=False)  # stages/ + params.yaml
    _support.write_params(work, STAGE_PARAMS)
    _store(work / "data" / "tensors" / "train", 16, 1)
    _store(work / "data" / "tensors" / "validation", 8, 2)
    _support.init_git_repo(work, env)
    return work


def test_stage_stopped_by_sigterm_resumes_on_rerun(tmp_path):
    """stages/train.py in a subprocess: SIGTERM once the first checkpoint exists -> exit 130 with the
    checkpoint kept; the re-run resumes from it (that the resumed result equals an uninterrupted
    run is checked in-process above; this checks the stage's signal path and its outputs)."""
    import signal
    import subprocess
    import sys
    import time

    env = _support.subprocess_env(tmp_path)  # OMP_NUM_THREADS=1
    cmd = [sys.executable, "stages/train.py", "gru-first"]
    work = _stage_dir(tmp_path, "stopped", env)
    checkpoint = work / "checkpoints" / "gru-first.pt"
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpoint.exists(), "no checkpoint appeared"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-3000:]
    assert "interrupted" in stderr and checkpoint.exists()

    resumed = _support.run(cmd, work, env, timeout=120)
    assert resumed.returncode == 0, _support.describe(resumed)
    assert "resuming gru-first after step 2 of 4" in resumed.stderr
    assert not checkpoint.exists()

    summary = json.loads((work / "metrics/train/gru-first/summary.json").read_text())
    assert summary["epochs"] == 2 and (work / "models" / "gru-first" / "model.pt").is_file()
    curve = (work / "metrics" / "train" / "gru-first" / "plots" / "metrics" / "validation" / "loss.tsv")
    assert len(curve.read_text().splitlines()) == 1 + 2, \
        "the curves must hold both epochs: epoch 1 replayed from the checkpoint, epoch 2 trained"


def test_train_steps_fix_the_budget_whatever_the_subset_size(work, checkpoints):
    """train.steps: the run trains that many steps (here 5 of 2 a epoch: 2.5 epochs), evaluated and
    checkpointed at each epoch's end and at the last step."""
    repo, *stores = work
    summary, out = _run(repo, stores, "steps", dataclasses.replace(PARAMS, steps=5))
    assert (summary["steps"], summary["epochs"]) == (5, 2.5)
    assert list(checkpoints["saved"]) == [2, 4]
    steps = [int(line.split("\t")[0]) for line in _curve(out, "validation/cer")[1:]]
    assert steps == [2, 4, 5]
