"""Shared helpers of the benchmarks: data location, machine description, the naive baseline's
per-sample dataset, project stores, child processes and summaries.

Not a benchmark itself; imported by bench_train / bench_infer / bench_preprocess / bench_memory.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

# The real images, beside the checkout (never copied into the project).
UNLABELED_ZIP = REPO.parent / "shared" / "data" / "real-unlabeled" / "train_v2.zip"
KAGGLE_IMAGES = 414_000  # train + validation + test of the Kaggle dataset (413,701), rounded


# ---------------------------------------------------------------- data

def find_zip(override: str | None) -> Path:
    """The zip of real JPEGs: --data (a zip, or a folder holding train_v2.zip), else the shared copy
    beside the checkout. Exits with a clear message when absent."""
    path = Path(override) if override else UNLABELED_ZIP
    if path.is_dir():
        path = path / "train_v2.zip"
    if not path.is_file():
        sys.exit(f"error: real images not found at {path}\n"
                 f"  expected {UNLABELED_ZIP} (the shared real-unlabeled data beside the checkout);\n"
                 "  pass --data PATH (a zip of JPEGs, or a folder holding train_v2.zip)")
    return path


def image_members(zip_path: Path, n: int | None = None) -> list[str]:
    """The first ``n`` image entries of the zip, in name order."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(i.filename for i in zf.infolist()
                       if not i.is_dir() and i.filename.lower().endswith((".jpg", ".jpeg", ".png")))
    if not names:
        sys.exit(f"error: {zip_path} holds no images")
    return names if n is None else names[:n]


def cycle(items: list, n: int) -> list:
    """``n`` items, repeating ``items`` when it is shorter."""
    return [items[i % len(items)] for i in range(n)]


def random_labels(n: int, seed: int = 0) -> list[str]:
    """Names of realistic length: 3-12 symbols, mostly letters, now and then a space, '-' or "'"
    inside (never first or last)."""
    from hwr.core.alphabet import ALPHABET

    rng = np.random.default_rng(seed)
    letters = np.array(list(ALPHABET[1:27]))
    out = []
    for length in rng.integers(3, 13, n):
        chars = letters[rng.integers(0, 26, length)]
        if length > 4 and rng.random() < 0.1:
            chars[rng.integers(1, length - 1)] = rng.choice([" ", "-", "'"])
        out.append("".join(chars))
    return out


def write_labels_csv(members: list[str], path: Path, seed: int = 0) -> Path:
    """A label CSV (FILENAME,IDENTITY) of ``members`` with random labels, as a split ships it."""
    import pandas as pd

    pd.DataFrame({"FILENAME": [m.rsplit("/", 1)[-1] for m in members],
                  "IDENTITY": random_labels(len(members), seed)}).to_csv(path, index=False)
    return path


def store_of(zip_path: Path, members: list[str], work: Path):
    """The project's store of ``members`` with random labels (hwr.data.preprocessing.build_store), opened."""
    from hwr.data.preprocessing import build_store

    return build_store(zip_path, write_labels_csv(members, work / "labels.csv"), work / "store", desc="store")


# ---------------------------------------------------------------- the naive baseline

def naive_gray_crop(data: bytes) -> np.ndarray:
    """Plain PIL: open -> convert('L') (full-size decode) -> top-left 64x256 crop, white pad."""
    from PIL import Image

    gray = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    out = np.full((64, 256), 255, np.uint8)
    h, w = min(gray.shape[0], 64), min(gray.shape[1], 256)
    out[:h, :w] = gray[:h, :w]
    return out


def make_naive_dataset(zip_path: Path, members: list[str], labels: list[str]):
    """The per-sample torch Dataset one writes first: read the JPEG from the zip, decode and
    normalise in ``__getitem__`` -> ((1, 64, 256) float32 ink-positive, (24,) int64 label)."""
    import torch
    from torch.utils.data import Dataset

    from hwr.core.alphabet import encode

    class ZipJpegDataset(Dataset):
        def __init__(self):
            self.zip_path, self.members = str(zip_path), members
            self.labels = [encode(t) for t in labels]
            self._zip = None  # opened lazily: one per (worker) process

        def __len__(self):
            return len(self.members)

        def __getitem__(self, i):
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.zip_path)
            pixels = naive_gray_crop(self._zip.read(self.members[i]))
            x = 1.0 - torch.from_numpy(pixels).float().unsqueeze(0) / 255.0
            return x, torch.from_numpy(self.labels[i].astype(np.int64))

    return ZipJpegDataset()


# ---------------------------------------------------------------- machine

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_line() -> str:
    import torch

    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = ",".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (f"machine: {cpu_model()}, {cores()} cores ({flags or 'no AVX2'}); torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; Python {platform.python_version()}; "
            f"load average {load[0]:.2f} at start")


def print_header(title: str) -> None:
    print(f"== {title}")
    print(machine_line())
    sys.stdout.flush()


def train_gflop_per_image(rnn: str, height: int = 64, width: int = 256) -> float:
    """GFLOP of one training image (forward + backward) through the study's CRNN with ``rnn``: the
    convolutions' and matrix products' multiply-adds x 2. Backward costs two products of each forward
    one's size (the input's and the weights' gradients), but the first convolution's input needs no
    gradient. 3.45 for the GRU (the speed issue's figure), 4.28 for the LSTM; the element-wise work
    (batch norm, pooling, activations, gates) is left out."""
    from torch import nn

    from hwr.model.crnn import CRNN

    model = CRNN(rnn)
    forward = first_conv = 0
    h, w = height, width
    for layer in model.cnn:
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            flops = 2 * h * w * layer.in_channels * layer.out_channels * kh * kw
            first_conv = first_conv or flops
            forward += flops
        elif isinstance(layer, nn.MaxPool2d):
            size = layer.kernel_size
            kh, kw = size if isinstance(size, tuple) else (size, size)
            h, w = h // kh, w // kw
    steps, rec = w, model.rnn  # one time step per column
    dense = [model.project[0], model.classify]
    forward += sum(2 * steps * layer.in_features * layer.out_features for layer in dense)
    directions = 2 if rec.bidirectional else 1
    for layer in range(rec.num_layers):
        gate_rows, inputs = getattr(rec, f"weight_ih_l{layer}").shape  # (3 or 4 x hidden, inputs)
        forward += 2 * steps * directions * gate_rows * (inputs + rec.hidden_size)
    return (3 * forward - first_conv) / 1e9


def matmul_gflops(threads: int = 2, n: int = 1024, repeats: int = 8, rounds: int = 5, dtype=None) -> float:
    """This machine's matmul throughput, ``threads`` threads, in ``dtype`` (default fp32; bf16 when
    training runs in bf16 autocast): the best of ``rounds`` x ``repeats`` products, the rounds 0.2 s
    apart, so that a moment when another process holds a core does not halve the figure (one
    8-product round once measured 207 GFLOP/s bf16 against the usual 405)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        best = float("inf")
        for round_ in range(rounds):
            if round_:
                time.sleep(0.2)
            for _ in range(repeats):
                t = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - t)
        return 2 * n**3 / best / 1e9
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- children and summaries

def run_child(script: Path, args: list[str], *, env_extra: dict | None = None, timeout: float = 3600) -> dict:
    """Run ``python script args`` in a fresh process; its last stdout line is a JSON result."""
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"child {script.name} {' '.join(args)} failed (exit {result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {script.name} printed no result:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def write_summary(path: str | None, rows: list[dict]) -> None:
    """Rows for run_all's table: {bench, what, baseline, project, unit, ratio, note}."""
    if path:
        Path(path).write_text(json.dumps(rows, indent=2))


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def mb(kib: float) -> float:
    return kib / 1024.0
