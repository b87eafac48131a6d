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

from hwr.core.layout import (
    SPLITS,  # noqa: F401  (re-exported for the tests)
    STUDY_RUNS,  # noqa: F401
)
from hwr.params.schema import default_train_runs

RUNS = tuple(default_train_runs())  # params.yaml's train runs: the study's four and the wide GRU

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "real-sample"
SHARED_SKIP = "../shared/data/real-sample not found: real-data tests need the shared sample beside the checkout"
SHARED_NAMES = REPO_ROOT.parent / "shared" / "data" / "names" / "kaggle-names.csv"
NAMES_SKIP = "../shared/data/names/kaggle-names.csv not found: lexicon tests on real names need the shared kit"

# Tiny pipeline params: every stage runs in seconds on one CPU core.
TINY_WIDE_STEPS = 3
TINY_WIDE_WIDTH = 320
TINY_PARAMS = {
    "synth": {"sizes": {"train": 40, "validation": 16, "test": 16}, "jobs": 1},
    "train": {
        "epochs": 1,
        "steps": 0,
        "batch_size": 8,
        "eval_batch_size": 16,
        "train_eval_size": 16,
        "precision": "fp32",
        "subsets": {"first": {"train": 32, "validation": 16}, "full": {"train": 48, "validation": 16}},
        # a run's own budget (the others: one epoch) and input width (the others read the store's left 256 px)
        "runs": {"gru-wide": {"steps": TINY_WIDE_STEPS, "width": TINY_WIDE_WIDTH}},
    },
    "preprocess": {"width": TINY_WIDE_WIDTH},
    "evaluate": {"batch_size": 32},
    # names-dataset's tables take ~40 s and two gigabytes to read (once per cache folder): the synth
    # pipeline alone reads them (the default lexicon, and the synth.names option); the other tiny
    # runs build their lexicon from their labels only
    "lexicon": {"sources": []},
}


# ---------------------------------------------------------------- images and Kaggle-layout data

def png_header(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A PNG that is only its signature, IHDR and IEND: it declares width x height and holds nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


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


# ---------------------------------------------------------------- tiny stores and models

def tiny_names(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return ["".join(rng.choice(letters, int(rng.integers(3, 9)))) for _ in range(n)]


def tiny_store(path: Path, n: int, seed: int, *, resize: str = "crop", texts: list[str] | None = None,
               width: int = 256):
    """A store of ``n`` random "ink on white" 64 x ``width`` images with random names (or ``texts``)."""
    import pandas as pd

    from hwr.core.alphabet import encode_many
    from hwr.data.store import StoreWriter, open_store

    rng = np.random.default_rng(seed)
    images = np.full((n, 64, width), 255, np.uint8)
    images[:, 16:48, :160] = rng.integers(0, 256, (n, 32, 160), dtype=np.uint8)
    texts = tiny_names(n, seed) if texts is None else texts
    with StoreWriter(path, n, width) as writer:
        writer.append(images)
        writer.commit(encode_many(texts), pd.DataFrame({"FILENAME": [f"F{seed}_{i}.jpg" for i in range(n)],
                                                        "IDENTITY": texts}), {"resize": resize})
    return open_store(path)


def tiny_model(path: Path, rnn: str = "gru", *, seed: int = 0, resize: str = "crop", reads: str = "",
               width: int = 256) -> Path:
    """A model file as training writes one, of a newly initialised (seeded) CRNN reading ``width``-px
    crops; ``reads`` (one symbol): its output layer made to read every image as that symbol, confidently."""
    import torch

    from hwr.core.alphabet import ALPHABET
    from hwr.model.checkpoints import save_model
    from hwr.model.crnn import CRNN

    torch.manual_seed(seed)
    model = CRNN(rnn, width=width)
    if reads:
        with torch.no_grad():
            model.classify.weight.zero_()
            model.classify.bias.zero_()
            model.classify.bias[ALPHABET.index(reads)] = 8.0  # the same symbol at every step: merged into one
    save_model(path, model, {"rnn": rnn, "subset": "full", "resize": resize, "width": width})
    return path


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
    """A copy of what the pipeline needs: dvc.yaml, params.yaml, configs/, stages/, src/, .dvc/config,
    ignores.

    ``pipeline=False`` copies only stages/, params.yaml and configs/ (enough to run a stage script by hand)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "stages", dest / "stages", ignore=_ignore)
    shutil.copy2(REPO_ROOT / "params.yaml", dest / "params.yaml")
    shutil.copytree(REPO_ROOT / "configs", dest / "configs")  # lexicon.extra's default names file
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


# ---------------------------------------------------------------- params

def error_of(raw) -> str:
    """The one-line error ``hwr.params.from_dict`` raises for ``raw``."""
    import pytest

    from hwr.core.errors import HwrError
    from hwr.params import from_dict

    with pytest.raises(HwrError) as info:
        from_dict(raw)
    message = str(info.value)
    assert "\n" not in message, message  # one line
    return message


FT = {"init_from": "pretrained/gru-full.pt"}  # the least a finetune run gives
ST = {"init_from": "models/mine/model.pt", "unlabeled": "scans.zip"}  # the least a selftrain run gives


def fifo_with_reader(path: Path):
    """A FIFO at ``path`` and a thread reading it line by line: (thread, lines received so far)."""
    import threading

    os.mkfifo(path)
    received: list[str] = []

    def read():
        with open(path) as f:
            received.extend(f)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, received
