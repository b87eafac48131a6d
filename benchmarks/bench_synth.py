"""Throughput of the synthetic dataset generator (hwr.synth), in images per second.

    python benchmarks/bench_synth.py [--n 2000] [--jobs N]

Measures, end to end (render + degrade + JPEG + zip + CSV, via ``generate_dataset``):

* single process (``jobs=1``), n images;
* all cores (``jobs=os.cpu_count()`` or --jobs), n x jobs images, pool start-up included;

and prints images/s, images/s per core and the ratio against the goal of 150 images/s/core.

Baseline, measured in the same run on n/4 images, single process: the straightforward path
one would write first, i.e. the same renderer but (1) every polyline drawn with PIL's
``joint="curve"`` (a round joint at every vertex, instead of only at sharp corners) and
(2) each JPEG saved to its own file in a temporary folder, then a second pass that reads the
files back into the zip (instead of streaming encoded bytes straight into the zip).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from hwr.synth import generate_dataset, sample, strokes, writer  # noqa: E402

GOAL = 150.0  # images / s / core


def _naive_draw(path, pad=2.0):
    """strokes.draw with a round joint at every vertex (PIL joint='curve')."""
    x0, y0, x1, y1 = path.bbox
    m = pad + path.pen_px
    W, H = int(np.ceil(x1 - x0 + 2 * m)), int(np.ceil(y1 - y0 + 2 * m))
    ox, oy = m - x0, m - y0
    ss = strokes.SS
    img = Image.new("L", (W * ss, H * ss), 0)
    dr = ImageDraw.Draw(img)
    width = max(1, int(round(path.pen_px * ss)))
    for st in path.strokes:
        dr.line((st * ss + (ox * ss, oy * ss)).ravel().tolist(), fill=255, width=width, joint="curve")
    return img.reduce(ss), ox, oy


def naive(n: int, seed: int) -> float:
    probs = sample.validate_style_mix(None)
    orig = strokes.draw
    strokes.draw = _naive_draw
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            folder = Path(tmp) / "img"
            folder.mkdir()
            rows = ["FILENAME,IDENTITY"]
            for i in range(1, n + 1):
                s = sample.render(writer.image_rng(seed, "train", i), probs)
                name = f"TRAIN_{i:05d}.jpg"
                s.image.save(folder / name, quality=95, subsampling=2)
                rows.append(f"{name},{s.label}")
            with zipfile.ZipFile(Path(tmp) / "train_v2.zip", "w") as zf:
                for p in sorted(folder.iterdir()):
                    zf.write(p, f"train_v2/train/{p.name}")
            (Path(tmp) / "written_name_train_v2.csv").write_text("\n".join(rows) + "\n")
            return n / (time.perf_counter() - t)
    finally:
        strokes.draw = orig


def timed(n: int, jobs: int, seed: int) -> tuple[float, float]:
    """(images per wall-clock second, images per CPU-second of this process and its workers)."""
    with tempfile.TemporaryDirectory() as tmp:
        c0, t = os.times(), time.perf_counter()
        generate_dataset(tmp, {"train": n}, seed=seed, jobs=jobs)
        wall, c1 = time.perf_counter() - t, os.times()
        cpu = sum(c1[:4]) - sum(c0[:4])  # user+sys of self and of the (joined) pool workers
        return n / wall, n / max(cpu, 1e-9)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images for the single-process run")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    timed(100, 1, a.seed + 99)  # warm caches (name pools, glyphs, fonts)
    base = naive(max(50, a.n // 4), a.seed)
    single, _ = timed(a.n, 1, a.seed)
    multi, per_cpu_s = timed(a.n * a.jobs, a.jobs, a.seed + 1)
    per_core = multi / a.jobs
    print(f"cpu_count={os.cpu_count()} jobs={a.jobs} n={a.n} (multi-process run: {a.n * a.jobs} images)")
    print(f"baseline (naive joints + per-file JPEG + zip pass), 1 process: {base:8.1f} images/s")
    print(f"generate_dataset, 1 process:   {single:8.1f} images/s  "
          f"({single / GOAL:.2f}x goal of {GOAL:.0f}/s/core; {single / base:.2f}x baseline)")
    print(f"generate_dataset, {a.jobs} processes: {multi:8.1f} images/s  = {per_core:.1f}/s/core "
          f"({per_core / GOAL:.2f}x goal); speed-up {multi / single:.2f}x over 1 process")
    print(f"  per CPU-second (all processes' user+sys time): {per_cpu_s:.1f} images "
          f"({per_cpu_s / GOAL:.2f}x goal)")
    if a.jobs > 1 and multi / single < 0.6 * min(a.jobs, os.cpu_count() or 1):
        print("  note: little parallel speed-up: this machine's CPUs are shared or throttled "
              "(compare wall-clock and CPU-second figures)")


if __name__ == "__main__":
    main()
