"""Preprocessing wall time: real JPEGs -> the (N, 64, 256) uint8 store, naive baseline vs the project's path.

    python benchmarks/bench_preprocess.py [--n 10500] [--jobs N] [--repeats 3] [--quick] [--data PATH]

Both run in the same run on the same real JPEGs (../shared/data/real-unlabeled/train_v2.zip, or --data):

* project: what the unzip and preprocess stages do: ``hwr.data.splits.index_split`` (the label CSV
  paired with where each image's bytes lie in the zip), then ``hwr.data.preprocessing.preprocess_split`` straight from the zip,
  jobs = all cores (or --jobs), JPEGs decoded to grayscale by libjpeg-turbo (simplejpeg), written
  into the store; it takes about a second for 10,500 images, where a busy moment on a shared
  machine moves the figure by 20 %, so it runs --repeats times and the median counts;
* baseline: extract the zip to disk, then one process converting image by image with plain PIL
  (open -> convert('L') -> crop/pad to 64x256), collected in a list, ``np.stack`` and ``np.save``.

Both are extrapolated linearly to the 414k images of the Kaggle dataset (fixed costs such as
starting the worker pool are spread, so the project's extrapolation is slightly pessimistic);
the goal is <= 60 s for 414k images on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402  (puts src/ on sys.path)
import numpy as np  # noqa: E402

GOAL_SECONDS = 60.0


def baseline(zip_path: Path, members: list[str], out: Path) -> float:
    from PIL import Image

    started = time.perf_counter()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(out / "extracted", members=members)
    images = []
    for member in members:
        gray = np.asarray(Image.open(out / "extracted" / member).convert("L"))
        canvas = np.full((64, 256), 255, np.uint8)
        h, w = min(gray.shape[0], 64), min(gray.shape[1], 256)
        canvas[:h, :w] = gray[:h, :w]
        images.append(canvas)
    np.save(out / "images.npy", np.stack(images))
    return time.perf_counter() - started


def project(zip_path: Path, members: list[str], out: Path, jobs: int) -> tuple[float, dict]:
    from hwr.data.preprocessing import preprocess_split
    from hwr.data.splits import index_split

    labels_csv = C.write_labels_csv(members, out / "labels.csv")  # random labels: made outside the timing
    started = time.perf_counter()
    rows, _ = index_split(zip_path, labels_csv)  # the unzip stage: each image's place in the zip
    report = preprocess_split(str(zip_path), rows, str(out / "store"), jobs=jobs, desc="preprocess")
    return time.perf_counter() - started, report


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="zip of real JPEGs (default: ../shared/data/real-unlabeled/train_v2.zip)")
    ap.add_argument("--n", type=int, help="images (default: all 10,500; --quick 2000)")
    ap.add_argument("--jobs", type=int, default=0, help="project worker processes (default 0 = all cores)")
    ap.add_argument("--repeats", type=int, help="project runs, judged by their median (default 3; --quick 1)")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    ap.add_argument("--summary", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    zip_path = C.find_zip(args.data)
    members = C.image_members(zip_path, args.n or (2000 if args.quick else None))
    from hwr.data.preprocessing import resolve_jobs

    jobs = resolve_jobs(args.jobs)
    C.print_header("bench_preprocess: real JPEGs -> (N, 64, 256) uint8 store, naive baseline vs project path")
    print(f"{len(members)} real JPEGs from {zip_path}; project jobs={jobs} (all cores: {C.cores()})"
          + (" (quick: smoke-test sizes)" if args.quick else ""))
    with tempfile.TemporaryDirectory(prefix="hwr-bench-pre-") as tmp:
        tmp = Path(tmp)
        (tmp / "base").mkdir()
        base_s = baseline(zip_path, members, tmp / "base")
        runs = []
        for k in range(max(1, args.repeats or (1 if args.quick else 3))):
            (tmp / f"proj{k}").mkdir()
            runs.append(project(zip_path, members, tmp / f"proj{k}", jobs))
        proj_s, report = sorted(runs, key=lambda run: run[0])[(len(runs) - 1) // 2]  # the median run
        # the two must produce the same pixels: the project decodes grayscale straight from the JPEG
        # (no RGB round trip), which may differ by a grey level or so
        ref = np.load(tmp / "base" / "images.npy", mmap_mode="r")
        from hwr.data.store import open_store

        got = open_store(tmp / "proj0" / "store").images
        diff = np.abs(ref[:200].astype(np.int16) - got[:200].astype(np.int16))
    n = len(members)
    scale = C.KAGGLE_IMAGES / n
    r = C.ratio(base_s, proj_s)
    print(f"\n{'':10} {'seconds':>9} {'img/s':>9} {'414k images':>12}")
    print(f"{'baseline':10} {base_s:9.2f} {n / base_s:9.0f} {base_s * scale:11.0f}s   (extract + 1 process, plain PIL)")
    print(f"{'project':10} {proj_s:9.2f} {n / proj_s:9.0f} {proj_s * scale:11.0f}s   ({jobs} processes from the zip, "
          f"simplejpeg; {report['written']} written, {sum(report['skipped'].values())} skipped; median of "
          f"{', '.join(f'{t:.2f}' for t, _ in runs)} s)")
    verdict = "meets" if proj_s * scale <= GOAL_SECONDS else "misses"
    print(f"speed-up {r:.2f}x; project extrapolated to {C.KAGGLE_IMAGES:,} images: {proj_s * scale:.0f} s, {verdict} the "
          f"goal of <= {GOAL_SECONDS:.0f} s on {C.cores()} cores")
    print(f"pixels vs baseline (first 200 images): mean |diff| {diff.mean():.3f} grey levels, max {diff.max()}")
    rows = [{"bench": "preprocess", "what": f"preprocess {n} JPEGs (s)", "baseline": base_s, "project": proj_s,
             "unit": "s", "ratio": r},
            {"bench": "preprocess", "what": f"extrapolated to {C.KAGGLE_IMAGES // 1000}k images (s; goal <= 60)",
             "baseline": base_s * scale, "project": proj_s * scale, "unit": "s", "ratio": r,
             "note": verdict + " goal"}]
    C.write_summary(args.summary, rows)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
