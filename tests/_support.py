"""Helpers shared by the tests: tiny Kaggle-layout datasets, a repo copy, subprocess runs.

Imported as ``_support`` (tests/conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "real-sample"
SHARED_SKIP = "../shared/data/real-sample not found: real-data tests need the shared sample beside the checkout"
SPLITS = ("train", "validation", "test")

# Tiny pipeline params: every stage runs in seconds on one CPU core.
TINY_PARAMS = {
    "synth": {"sizes": {"train": 40, "validation": 16, "test": 16}, "jobs": 1},
    "train": {
        "epochs": 1,
        "batch_size": 8,
        "eval_batch_size": 16,
        "train_eval_size": 16,
        "precision": "fp32",
        "subsets": {"first": {"train": 32, "validation": 16}, "full": {"train": 48, "validation": 16}},
    },
    "evaluate": {"batch_size": 32},
}


# ---------------------------------------------------------------- images and Kaggle-layout data

def jpeg_bytes(width: int = 300, height: int = 40, seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A white image with a few dark strokes, encoded as JPEG (or ``fmt``)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, x1 = sorted(rng.integers(0, width, 2).tolist())
        y0, y1 = sorted(rng.integers(0, height, 2).tolist())
        draw.line([(x0, y0), (x1, y1)], fill=(20, 20, 20), width=3)
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """A stored zip with exactly these entry names (no normalisation: '../x' stays '../x')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return path


def write_split(raw_dir: Path, split: str, rows: list[tuple[str, str]], *, images: dict[str, bytes] | None = None,
                missing: tuple[str, ...] = (), extra_entries: dict[str, bytes] | None = None,
                header: str = "FILENAME,IDENTITY") -> tuple[Path, Path]:
    """``<split>_v2.zip`` + ``written_name_<split>_v2.csv`` in the Kaggle layout.

    rows: (file name, label) in CSV order. Every listed image is put in the zip under
    ``<split>_v2/<split>/`` (``images`` overrides the bytes of some) except those in ``missing``;
    ``extra_entries`` are added to the zip as they are."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    images = images or {}
    entries = {}
    for i, (name, _) in enumerate(rows):
        if name not in missing:
            data = images[name] if name in images else jpeg_bytes(seed=100 * len(split) + i)
            entries[f"{split}_v2/{split}/{name}"] = data
    entries.update(extra_entries or {})
    zip_path = write_zip(raw_dir / f"{split}_v2.zip", entries)
    csv_path = raw_dir / f"written_name_{split}_v2.csv"
    csv_path.write_text(header + "\n" + "".join(f"{n},{label}\n" for n, label in rows), encoding="utf-8")
    return zip_path, csv_path


def default_rows(split: str, n: int = 4) -> list[tuple[str, str]]:
    names = ["ALLAN", "MARIE", "JEAN-PAUL", "LEA", "D'ARC", "LE BRUN", "ANNA", "TOM"]
    prefix = split.upper()
    return [(f"{prefix}_{i + 1:04d}.jpg", names[i % len(names)]) for i in range(n)]


def write_dataset(raw_dir: Path, n: int = 4) -> Path:
    for split in SPLITS:
        write_split(raw_dir, split, default_rows(split, n))
    return raw_dir


# ---------------------------------------------------------------- params and repo copies

def deep_update(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "subsets":
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_params(repo: Path, overrides: dict, base: Path | None = None) -> dict:
    """params.yaml of ``base`` (default: the checkout's) with ``overrides`` merged in, into ``repo``."""
    raw = yaml.safe_load((base or REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = deep_update(raw, overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return params


def _ignore(directory, names):
    return [n for n in names if n == "__pycache__" or n.endswith(".egg-info") or n.endswith(".pyc")]


def copy_repo(dest: Path, *, pipeline: bool = True) -> Path:
    """A copy of what the pipeline needs: dvc.yaml, params.yaml, stages/, src/, .dvc/config, ignores.

    ``pipeline=False`` copies only stages/ and params.yaml (enough to run a stage script by hand)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "stages", dest / "stages", ignore=_ignore)
    shutil.copy2(REPO_ROOT / "params.yaml", dest / "params.yaml")
    if pipeline:
        shutil.copy2(REPO_ROOT / "dvc.yaml", dest / "dvc.yaml")
        shutil.copytree(REPO_ROOT / "src", dest / "src", ignore=_ignore)
        (dest / ".dvc").mkdir()
        for name in ("config", ".gitignore"):
            if (REPO_ROOT / ".dvc" / name).is_file():
                shutil.copy2(REPO_ROOT / ".dvc" / name, dest / ".dvc" / name)
        for name in (".dvcignore", ".gitignore"):
            if (REPO_ROOT / name).is_file():
                shutil.copy2(REPO_ROOT / name, dest / name)
    return dest


def subprocess_env(tmp: Path, *, src: Path | None = None) -> dict:
    """Environment for stage / dvc / hwr subprocesses: this venv first on PATH, one thread per
    process (the machine is shared), no analytics, a git identity, ``src`` first on PYTHONPATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env["DVC_NO_ANALYTICS"] = "1"
    env["DVC_SITE_CACHE_DIR"] = str(tmp / ".dvc-site-cache")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("WORLD_SIZE", None)
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"] = "hwr tests"
        env[f"GIT_{who}_EMAIL"] = "hwr-tests@example.invalid"
    if src is not None:
        env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run(cmd: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    """Command, exit code and output tails, for assertion messages."""
    cmd = " ".join(map(str, result.args))
    return f"$ {cmd}\nexit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


def git_commit_all(repo: Path, env: dict, message: str) -> None:
    for cmd in (["git", "add", "-A"], ["git", "commit", "-q", "--no-gpg-sign", "-m", message]):
        result = run(cmd, repo, env, timeout=120)
        assert result.returncode == 0, describe(result)


def init_git_repo(repo: Path, env: dict) -> None:
    result = run(["git", "init", "-q"], repo, env, timeout=60)
    assert result.returncode == 0, describe(result)
    git_commit_all(repo, env, "pipeline copy for tests")


def ran_stages(result: subprocess.CompletedProcess) -> list[str]:
    """The stages ``dvc repro`` / ``dvc exp run`` ran, in order."""
    import re

    return re.findall(r"Running stage '([^']+)'", result.stdout + result.stderr)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# ---------------------------------------------------------------- what a pipeline run leaves

RUNS = ("gru-first", "gru-full", "lstm-first", "lstm-full")
PIPELINE_OUTS = (
    "data/interim/train.csv", "data/interim/validation.csv", "data/interim/test.csv",
    "data/clean/train.csv", "data/clean/validation.csv", "data/clean/test.csv",
    *[f"data/tensors/{split}/{name}" for split in SPLITS
      for name in ("images.u8", "labels.npy", "index.csv", "meta.json")],
    *[f"models/{run}/model.pt" for run in RUNS],
    *[f"metrics/train/{run}/summary.json" for run in RUNS],
    "metrics/unzip.json", "metrics/clean.json", "metrics/preprocess.json", "metrics/metrics.json",
    "metrics/comparison.json", "metrics/comparison.md",
    "eval/predictions.csv", "eval/confusion.csv",
)


def check_pipeline_outputs(repo: Path, *, test_rows: int, train_sizes: dict[str, int], validation_size: int) -> None:
    """What every complete ``dvc repro`` must leave, checked against the data it ran on.

    test_rows: images in the test store; train_sizes: subset -> training images used."""
    import json

    import pandas as pd
    import pytest

    from hwr.checkpoints import load_model
    from hwr.metrics import summarise
    from hwr.model import count_parameters
    from hwr.store import open_store

    missing = [p for p in PIPELINE_OUTS if not (repo / p).is_file()]
    assert not missing, f"outputs missing: {missing}"

    test_store = open_store(repo / "data/tensors/test")
    assert len(test_store) == test_rows

    # evaluate: metrics.json agrees with its own predictions
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    for key in ("word_accuracy", "letter_accuracy", "cer", "top_confusions", "letter_share_on_errors"):
        assert key in metrics, key
    assert metrics["samples"] == test_rows and metrics["split"] == "test"
    assert 0 <= metrics["word_accuracy"] <= 1 and 0 <= metrics["letter_accuracy"] <= 1 and metrics["cer"] >= 0
    share = metrics["letter_share_on_errors"]
    assert share is None or 0 <= share <= 1
    assert len(metrics["top_confusions"]) <= 10
    assert all(set(c) == {"true", "predicted", "count"} and c["count"] >= 1 for c in metrics["top_confusions"])
    predictions = pd.read_csv(repo / "eval/predictions.csv", dtype=str, keep_default_na=False)
    assert predictions["FILENAME"].tolist() == test_store.filenames
    assert predictions["IDENTITY"].tolist() == test_store.texts
    recomputed = summarise(predictions["IDENTITY"].tolist(), predictions["PREDICTION"].tolist())
    for key in ("word_accuracy", "letter_accuracy", "cer"):
        assert metrics[key] == pytest.approx(recomputed[key]), key
    confusion = pd.read_csv(repo / "eval/confusion.csv", dtype=str, keep_default_na=False)
    assert confusion.columns.tolist() == ["actual", "predicted"]

    # train: four models and summaries with the study's parameter counts
    for run in RUNS:
        rnn, subset = run.split("-")
        summary = json.loads((repo / f"metrics/train/{run}/summary.json").read_text())
        assert (summary["rnn"], summary["subset"], summary["epochs"]) == (rnn, subset, 1)
        assert summary["train_images"] == train_sizes[subset]
        assert summary["validation_images"] == validation_size
        assert summary["parameters"] == {"gru": 6_689_822, "lstm": 8_856_606}[rnn]
        validation = summary["validation"]
        assert 0 <= validation["word_accuracy"] <= 1 and 0 <= validation["letter_accuracy"] <= 1
        assert validation["cer"] >= 0
        model, config = load_model(repo / f"models/{run}/model.pt")
        assert (config["rnn"], config["subset"]) == (rnn, subset) and count_parameters(model) == summary["parameters"]
    assert not (repo / "checkpoints").exists() or not any((repo / "checkpoints").iterdir())

    # the plots dvc.yaml draws exist
    import yaml

    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    for plot in dvc_yaml.get("plots", []):
        for spec in plot.values():
            for path in (spec.get("y") or {}):
                assert (repo / path).is_file(), f"plot data {path} missing"

    # compare: the four runs beside the study's figures and the Kaggle baseline
    table = json.loads((repo / "metrics/comparison.json").read_text())
    assert sorted(table["runs"]) == sorted(RUNS)
    assert sorted(table["study"]) == sorted(RUNS) and set(table["kaggle_baseline"]) >= {"word_accuracy", "letter_accuracy"}
    rnn = metrics["rnn"]
    for key in ("word_accuracy", "letter_accuracy", "cer"):  # evaluate and compare agree on the same model
        assert table["runs"][f"{rnn}-full"][f"test_{key}"] == pytest.approx(metrics[key])
    markdown = (repo / "metrics/comparison.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("|"))
    for run in RUNS:
        assert f"{run} (ours)" in header and f"{run} (study)" in header
    assert "Kaggle baseline" in header
