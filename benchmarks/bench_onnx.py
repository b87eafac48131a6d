"""ONNX (onnxruntime) against torch for ``hwr predict``: latency of one image, throughput of a batch.

    python benchmarks/bench_onnx.py [--model model.pt] [--rnn gru] [--n 512] [--batch 64]
                                    [--latency-n 100] [--threads 2] [--data PATH]

Both run the same weights (--model, else a randomly initialised --rnn model: the text read does not
change the timing) on the same real JPEGs (../shared/data/real-unlabeled/train_v2.zip, or --data),
decoded once into model inputs (decoding is the same code for both and not timed):
* torch: ``hwr.app.predictor.open_model(model.pt)``, as ``hwr predict`` runs it (channels_last, hwr's
  compiled kernels, the precision ``auto`` picks: bf16 where the CPU has it), and again in fp32;
* onnx: the model exported by ``hwr.app.export.export_onnx`` (float32), ``open_model(model.onnx)``.
Latency: median and p90 over --latency-n single images, after 5 warm-up images. Throughput: images/s
over --n images in batches of --batch, after one warm-up batch. Each also checks how many texts
agree with torch fp32. --threads sets torch's and onnxruntime's thread counts alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402  (puts src/ on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hwr.app.export import export_onnx  # noqa: E402
from hwr.app.predictor import OnnxPredictor, open_model  # noqa: E402
from hwr.core.layout import RNNS  # noqa: E402
from hwr.data.images import to_model_input  # noqa: E402
from hwr.model.checkpoints import save_model  # noqa: E402
from hwr.model.crnn import CRNN  # noqa: E402


def timed(predictor, images: np.ndarray, batch: int, latency_n: int) -> dict:
    predictor.batch_size = batch
    for i in range(5):
        predictor.read(images[i : i + 1])
    latencies = []
    for i in range(latency_n):
        start = time.perf_counter()
        predictor.read(images[i % len(images)][None])
        latencies.append(time.perf_counter() - start)
    predictor.read(images[:batch])
    start = time.perf_counter()
    readings = predictor.read(images)
    seconds = time.perf_counter() - start
    latencies.sort()
    return {"latency_ms": 1000 * statistics.median(latencies), "p90_ms": 1000 * latencies[int(0.9 * len(latencies))],
            "images_per_s": len(images) / seconds, "texts": [r.text for r in readings]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model.pt (default: a randomly initialised --rnn model)")
    ap.add_argument("--rnn", default="gru", choices=RNNS)
    ap.add_argument("--n", type=int, default=512, help="images for the throughput figure")
    ap.add_argument("--batch", type=int, default=64, help="batch size (hwr predict's default)")
    ap.add_argument("--latency-n", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", help="a zip of JPEGs, or a folder holding train_v2.zip")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    zip_path = C.find_zip(args.data)
    with zipfile.ZipFile(zip_path) as zf:
        raw = [zf.read(m) for m in C.image_members(zip_path, args.n)]

    with tempfile.TemporaryDirectory(prefix="hwr-bench-onnx-") as tmp:
        model_path = Path(args.model) if args.model else Path(tmp) / "model.pt"
        if not args.model:
            torch.manual_seed(0)
            save_model(model_path, CRNN(args.rnn), {"rnn": args.rnn, "resize": "crop"})
        start = time.perf_counter()
        meta = export_onnx(model_path, Path(tmp) / "model.onnx")
        export_seconds = time.perf_counter() - start
        torch_auto = open_model(model_path, device="cpu")
        images = np.stack([to_model_input(data, torch_auto.resize) for data in raw])
        runs = {
            f"torch ({'bf16' if torch_auto.dtype == torch.bfloat16 else 'fp32'}, as hwr predict)": torch_auto,
            "torch fp32": open_model(model_path, device="cpu", precision="fp32"),
            "onnxruntime fp32": OnnxPredictor(Path(tmp) / "model.onnx", torch_auto.decoder, args.batch,
                                              threads=args.threads),
        }
        C.print_header("ONNX vs torch")
        print(f"model: {model_path if args.model else 'random ' + args.rnn.upper()}; ONNX opset {meta['opset']}, "
              f"exported in {export_seconds:.1f} s; {len(images)} real images, batch {args.batch}, "
              f"{args.threads} threads, latency over {args.latency_n} images")
        results = {name: timed(predictor, images, args.batch, args.latency_n) for name, predictor in runs.items()}
    reference = results["torch fp32"]["texts"]
    print(f"{'':38} {'latency ms (median)':>20} {'p90 ms':>8} {'images/s':>9} {'texts = torch fp32':>19}")
    for name, r in results.items():
        same = sum(a == b for a, b in zip(r["texts"], reference))
        print(f"{name:38} {r['latency_ms']:20.1f} {r['p90_ms']:8.1f} {r['images_per_s']:9.1f} "
              f"{same:>10}/{len(reference)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
