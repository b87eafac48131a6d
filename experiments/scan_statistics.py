"""Do the synthetic scans look like real ones to a recogniser? Image statistics side by side.

Reads a sample of images from two zips in the Kaggle layout (by default the built-in synthetic
training split and ``../shared/data/real-unlabeled``), prepares each as the model sees it (the
64 x 256 ``crop``) and prints, per statistic, the median and quartiles of both and the gap in units
of the real images' interquartile range (|gap| > 0.5 is worth closing):

    python experiments/scan_statistics.py [--synthetic data/synth/train_v2.zip] [--real ZIP] [--count 2000]

Ink is every pixel darker than 128. Statistics of the whole crop include the printed field label
("NOM :", "PRENOM :") where a scan has one, on both sides alike.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from hwr.data.images import HEIGHT, WIDTH, to_model_input

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-unlabeled" / "train_v2.zip"
SYNTHETIC = Path(__file__).resolve().parents[1] / "data" / "synth" / "train_v2.zip"
INK = 128
SHEARS = np.linspace(-0.6, 0.6, 25)


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the horizontal runs of True in a 2-D mask."""
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    edges = np.diff(padded, axis=1)
    starts, ends = np.nonzero(edges == 1), np.nonzero(edges == -1)
    return ends[1] - starts[1]


def slant(mask: np.ndarray) -> float:
    """How the ink leans, as the shear (dx per dy; negative = its tops to the right, as italics) whose
    undoing makes the ink's columns sharpest (the projection-profile estimate of deslanting)."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 20:
        return float("nan")
    best, best_score = 0.0, -1.0
    for s in SHEARS:
        cols = np.round(xs + s * (ys - HEIGHT / 2)).astype(int)
        score = float(np.square(np.bincount(cols - cols.min())).sum())
        if score > best_score:
            best, best_score = float(s), score
    return -best  # undoing a right lean needs a positive shear


def statistics(data: bytes) -> dict[str, float]:
    raw = Image.open(io.BytesIO(data))
    gray = to_model_input(data, "crop").astype(np.float32)
    ink = gray < INK
    rows, cols = np.nonzero(ink)
    full = np.asarray(raw.convert("L")) < INK
    full_cols = np.nonzero(full.any(axis=0))[0]
    lean = slant(ink)
    out = {
        "image width (px)": raw.width,
        "image height (px)": raw.height,
        "ink share of the crop (%)": 100.0 * ink.mean(),
        "ink beyond the 256-px crop (% of images)": 100.0 * float(full_cols.size and full_cols[-1] >= WIDTH + 4),
        "last ink column in the crop": float(cols.max()) if cols.size else float("nan"),
        "first ink column in the crop": float(cols.min()) if cols.size else float("nan"),
        "ink rows, 10th-90th percentile (px)": float(np.percentile(rows, 90) - np.percentile(rows, 10))
        if rows.size else float("nan"),
        "ink centre row": float(rows.mean()) if rows.size else float("nan"),
        "ink darkness (median grey of ink)": float(np.median(gray[ink])) if ink.any() else float("nan"),
        "soft edges (grey 64-192 per ink pixel)": float(((gray >= 64) & (gray < 192)).sum() / max(ink.sum(), 1)),
        "stroke width (median run, px)": float(np.median(_runs(ink))) if ink.any() else float("nan"),
        "paper noise (sd of grey > 200)": float(gray[gray > 200].std()) if (gray > 200).any() else float("nan"),
        "slant (dx per dy, negative = leaning right)": lean,
        "leaning right by more than 0.3 dx/dy (% of images)": 100.0 * float(lean < -0.3),
    }
    return out


def sample(zip_path: Path, count: int, seed: int) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(zip_path) as z:
        names = sorted(n for n in z.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png")))
        if not names:
            raise SystemExit(f"{zip_path}: no images in the zip")
        chosen = np.random.default_rng(seed).choice(len(names), min(count, len(names)), replace=False)
        rows = [statistics(z.read(names[i])) for i in sorted(chosen)]
    return {k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", default=str(SYNTHETIC), help="zip of synthetic scans")
    ap.add_argument("--real", default=str(REAL), help="zip of real scans")
    ap.add_argument("--count", type=int, default=2000, help="images read from each zip")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for path in (args.synthetic, args.real):
        if not Path(path).is_file():
            raise SystemExit(f"{path}: no such zip (synthetic: run `dvc repro synth`; real: ../shared)")
    syn, real = sample(Path(args.synthetic), args.count, args.seed), sample(Path(args.real), args.count, args.seed)
    print(f"{len(next(iter(syn.values())))} synthetic ({args.synthetic}) and "
          f"{len(next(iter(real.values())))} real ({args.real}) images\n")
    print("| statistic | synthetic: median (quartiles) | real: median (quartiles) | gap / real IQR |")
    print("|---|--:|--:|--:|")
    for key in syn:
        s, r = syn[key][np.isfinite(syn[key])], real[key][np.isfinite(real[key])]
        if key.endswith("(% of images)"):
            print(f"| {key} | {s.mean():.1f} | {r.mean():.1f} | |")
            continue
        sq, rq = np.percentile(s, [25, 50, 75]), np.percentile(r, [25, 50, 75])
        iqr = rq[2] - rq[0]
        gap = (sq[1] - rq[1]) / iqr if iqr > 0 else float("nan")
        print(f"| {key} | {sq[1]:.3g} ({sq[0]:.3g}–{sq[2]:.3g}) | {rq[1]:.3g} ({rq[0]:.3g}–{rq[2]:.3g}) | {gap:+.2f} |")


if __name__ == "__main__":
    main()
