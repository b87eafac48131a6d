"""Inference: batch throughput (images/s) and single-image latency, naive baseline vs the project's path.

    python benchmarks/bench_infer.py [--n 2048] [--batch 256] [--latency-n 200] [--rnn gru] [--quick] [--data PATH]

Both paths run in the same run on the same real JPEGs (../shared/data/real-unlabeled/train_v2.zip, or
--data) with the same (randomly initialised) weights; the decoded text is irrelevant to the timing.

Throughput (batch 256, the evaluate stage's batch size; the first batch is an untimed warm-up):
* baseline: the study's CRNN written plainly (hwr.model.crnn.StudyCRNN: conv-BN-ReLU-pool blocks, torch's
  own GRU/LSTM), fp32, eager, default (NCHW) layout, fed by the per-sample Dataset that reads, decodes
  and normalises each JPEG in ``__getitem__`` (PIL -> grayscale -> crop/pad -> float tensor),
  ``DataLoader(num_workers=0)``, greedy CTC decoding;
* project: images preprocessed once into the uint8 store (not timed; see bench_preprocess.py), then
  ``hwr.model.inference.recognise`` with the model in channels_last and the precision
  ``resolve_precision('auto', device)`` picks.

Latency per image (median over --latency-n image files, model loaded once, a few warm-up images):
* project: the ``hwr predict`` path: read the file -> ``hwr.data.images.to_model_input`` -> model (as
  ``hwr.model.checkpoints.load_model`` returns it, like the CLI: channels_last) -> greedy decode, via
  ``recognise``; also shown with the model in the default layout, for information;
* baseline: PIL decode to RGB -> numpy float -> grayscale, crop/pad, normalise -> StudyCRNN (default
  layout, fp32) -> greedy decode.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402  (puts src/ on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hwr.core.layout import RNNS  # noqa: E402
from hwr.data.images import to_model_input  # noqa: E402
from hwr.decoding.greedy import greedy_decode, greedy_read  # noqa: E402
from hwr.model.checkpoints import load_model, save_model  # noqa: E402
from hwr.model.crnn import CRNN, StudyCRNN  # noqa: E402
from hwr.model.inference import recognise  # noqa: E402
from hwr.model.runtime import Dist, configure_threads, pick_device, precision_name, resolve_precision  # noqa: E402


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def baseline_throughput(model, dataset, batch: int, device) -> float:
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=0)
    seen, started = 0, None
    for i, (x, _) in enumerate(loader):
        if i == 1:  # the first batch is the warm-up
            _sync(device)
            started = time.perf_counter()
        texts = greedy_decode(model(x.to(device)))
        if i >= 1:
            seen += len(texts)
    _sync(device)
    return seen / (time.perf_counter() - started)


def project_throughput(model, store, batch: int, device, dtype) -> float:
    idx = np.arange(len(store))
    recognise(model, store.images, idx[:batch], batch_size=batch, device=device, dtype=dtype,
              decoder=greedy_read)  # warm-up
    _sync(device)
    started = time.perf_counter()
    readings, _ = recognise(model, store.images, idx[batch:], batch_size=batch, device=device, dtype=dtype,
              decoder=greedy_read)
    texts = [r.text for r in readings]
    _sync(device)
    return len(texts) / (time.perf_counter() - started)


def predict_latency(model, files: list[Path], resize: str, device, dtype, warmup: int) -> float:
    """Median seconds per image of the ``hwr predict`` path (file -> to_model_input -> recognise)."""
    times = []
    for i, path in enumerate(files):
        t = time.perf_counter()
        image = to_model_input(path.read_bytes(), resize)
        readings, _ = recognise(model, np.stack([image]), batch_size=64, device=device, dtype=dtype,
              decoder=greedy_read)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return float(np.median(times))


@torch.no_grad()
def baseline_latency(model, files: list[Path], device, warmup: int) -> float:
    from PIL import Image

    model.eval()
    times = []
    for i, path in enumerate(files):
        t = time.perf_counter()
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        canvas = np.full((64, 256), 255.0, np.float32)
        h, w = min(gray.shape[0], 64), min(gray.shape[1], 256)
        canvas[:h, :w] = gray[:h, :w]
        x = torch.from_numpy(1.0 - canvas / 255.0)[None, None].to(device)
        texts = greedy_decode(model(x))
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
        del texts
    return float(np.median(times))


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="zip of real JPEGs (default: ../shared/data/real-unlabeled/train_v2.zip)")
    ap.add_argument("--n", type=int, help="images for throughput, warm-up batch included (default 2048; --quick 96)")
    ap.add_argument("--batch", type=int, help="batch size for throughput (default 256; --quick 32)")
    ap.add_argument("--latency-n", type=int, help="images for latency (default 200; --quick 10)")
    ap.add_argument("--rnn", choices=RNNS, default="gru")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    ap.add_argument("--summary", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.batch = args.batch or (32 if args.quick else 256)
    args.n = max(args.n or (96 if args.quick else 2048), 2 * args.batch)
    args.latency_n = args.latency_n or (10 if args.quick else 200)
    warmup = 3

    zip_path = C.find_zip(args.data)
    C.print_header("bench_infer: inference throughput and latency, naive baseline vs project path")
    members = C.image_members(zip_path, max(args.n, args.latency_n + warmup))
    ddp = Dist()
    device = pick_device(ddp)
    threads = configure_threads(ddp)
    dtype = resolve_precision("auto", device)
    print(f"{args.rnn.upper()} CRNN (random weights); throughput: {args.n} images, batch {args.batch} (first batch "
          f"untimed); latency: median of {args.latency_n} images after {warmup} warm-up; {threads} threads; "
          f"project precision {precision_name(dtype)}" + (" (quick: smoke-test sizes)" if args.quick else ""))
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwr-bench-infer-") as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        save_model(tmp / "model.pt", CRNN(args.rnn), {"rnn": args.rnn, "subset": "bench", "resize": "crop"})
        model, config = load_model(tmp / "model.pt", device)  # what `hwr predict` loads: channels_last
        model_default = CRNN(args.rnn).to(device)  # the same weights in the default layout
        model_default.load_state_dict(model.state_dict())
        model_default.eval()
        study = StudyCRNN(args.rnn).to(device).eval()  # the naive baseline, with the same weights
        study.load_state_dict(model.state_dict())

        # ---- throughput
        tp_members = members[: args.n]
        store = C.store_of(zip_path, tp_members, tmp)
        dataset = C.make_naive_dataset(zip_path, tp_members, C.random_labels(len(tp_members)))
        base = baseline_throughput(study, dataset, args.batch, device)
        proj = project_throughput(model, store, args.batch, device, dtype)
        r = C.ratio(proj, base)
        print(f"\nthroughput, batch {args.batch}: baseline {base:8.2f} img/s   project {proj:8.2f} img/s   {r:.2f}x")
        rows.append({"bench": "infer", "what": f"{args.rnn} inference img/s (batch {args.batch})", "baseline": base,
                     "project": proj, "unit": "img/s", "ratio": r})

        # ---- latency: image files on disk, as `hwr predict` reads them
        files = []
        with zipfile.ZipFile(zip_path) as zf:
            for member in members[: args.latency_n + warmup]:
                path = tmp / "files" / member.rsplit("/", 1)[-1]
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(zf.read(member))
                files.append(path)
        base_ms = 1000 * baseline_latency(study, files, device, warmup)
        proj_ms = 1000 * predict_latency(model, files, config.get("resize", "crop"), device, dtype, warmup)
        default_ms = 1000 * predict_latency(model_default, files, "crop", device, dtype, warmup)
        r = C.ratio(base_ms, proj_ms)
        print(f"latency per image (median): baseline {base_ms:7.2f} ms   hwr predict path {proj_ms:7.2f} ms   "
              f"{r:.2f}x faster")
        print(f"  (predict path with the model in the default layout: {default_ms:.2f} ms)")
        rows.append({"bench": "infer", "what": f"{args.rnn} latency per image (ms, lower is better)",
                     "baseline": base_ms, "project": proj_ms, "unit": "ms", "ratio": r,
                     "note": f"default layout {default_ms:.1f} ms"})
    C.write_summary(args.summary, rows)
    return rows


if __name__ == "__main__":
    main()
