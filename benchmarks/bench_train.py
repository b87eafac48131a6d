"""Training throughput (images/s) of the study's CRNN, GRU and LSTM: naive baseline vs the project's path.

    python benchmarks/bench_train.py [--pairs 3] [--steps 10] [--warmup 2] [--batch 128] [--rnn gru lstm]
                                     [--quick] [--data PATH]
    python benchmarks/bench_train.py --variant NAME:VAR=VALUE[,...] --variant ... [--batch 16] [--pairs 3] ...

Both paths run in the same run on the same real JPEGs (../shared/data/real-unlabeled/train_v2.zip,
or --data), with random labels of realistic length (3-12 symbols); warm-up steps are excluded;
the time includes getting each batch (data loading is part of training throughput).

* baseline: the study's CRNN written plainly (hwr.model.crnn.StudyCRNN: conv-BN-ReLU-pool blocks, torch's
  own GRU/LSTM), fp32, eager, default (NCHW) memory layout, fed by a per-sample
  torch Dataset that reads the JPEG from the zip, decodes and normalises in ``__getitem__`` (PIL ->
  grayscale -> crop/pad to 64x256 -> float tensor), ``DataLoader(num_workers=0)``, torch's default
  thread count;
* project: the images preprocessed once into the uint8 memmap store (hwr.data.preprocessing.preprocess_split,
  not timed here: see bench_preprocess.py), batches gathered by index arrays, the precision
  ``hwr.model.runtime.resolve_precision('auto', device)`` picks, channels_last, threads from
  ``hwr.model.runtime.configure_threads``: hwr.training.trainer's Trainer step, as the train stage runs it, in a
  fresh process.

Pairs: on a shared machine both figures drift by 10-15 % between minutes, so each model is measured
as --pairs (project, baseline, project) triples, back to back, and judged by the median of the pairs'
ratios. The project is measured on both sides of its baseline (its figure: both runs' images over their
time), so that drift over the minute or two of a pair weighs on both figures alike.

Variants (``--variant``, two or more): instead of the baseline, the project path alone in a fresh
process under each variant's environment variables, --pairs rounds, each round in a rotated order
(A B, B A, A B) so that drift weighs on every variant alike; each variant is judged by the median of
its ratios to the first within a round. E.g. the compiled kernels against torch's operations:
``--variant kernels:HWR_NATIVE=1 --variant torch:HWR_NATIVE=0``; an allocator:
``--variant glibc: --variant tcmalloc:LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4``.

Compute limit: this machine's matmul GFLOP/s (2 threads; in bf16 when the project path trains in
bf16, else fp32) / the GFLOP of one training image (forward + backward; _common.train_gflop_per_image:
3.45 for the GRU CRNN, the issue's figure, 4.28 for the LSTM) = the images/s no implementation can beat
here. It drifts with the machine as the training figures do, so it is read right before every project
run, and each project run taken as a percentage of its own limit; a model is judged by the median of
its pairs' percentages. The highest limit read in the run, and each model's median against it, are
printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402  (puts src/ on sys.path)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hwr.model.crnn import StudyCRNN  # noqa: E402
from hwr.model.ctc import ctc_loss, ctc_loss_fn  # noqa: E402
from hwr.model.runtime import Dist, configure_threads, pick_device, precision_name, resolve_precision  # noqa: E402
from hwr.params import TrainParams  # noqa: E402
from hwr.training.steps import batch_tensors  # noqa: E402
from hwr.training.trainer import Trainer  # noqa: E402


def _clock(device: torch.device) -> float:
    """perf_counter after the device has finished queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()

def baseline_rate(rnn: str, dataset, batch: int, warmup: int, steps: int, seed: int = 0) -> dict:
    from torch.utils.data import DataLoader

    device = pick_device(Dist())
    torch.manual_seed(seed)
    model = StudyCRNN(rnn).to(device)  # fp32, eager, default layout
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = ctc_loss_fn()
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=0, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    batches = iter(loader)
    started = None
    for step in range(warmup + steps):
        if step == warmup:
            started = _clock(device)
        try:
            x, y = next(batches)
        except StopIteration:  # fewer images than steps x batch: next epoch
            batches = iter(loader)
            x, y = next(batches)
        x, y = x.to(device), y.to(device)
        loss = ctc_loss(loss_fn, model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    loss.item()
    seconds = _clock(device) - started
    return {"images_per_s": steps * batch / seconds, "seconds": seconds, "threads": torch.get_num_threads(),
            "precision": "fp32", "layout": "default"}


def project_rate(rnn: str, store, batch: int, warmup: int, steps: int, seed: int = 0) -> dict:
    ddp = Dist()
    device = pick_device(ddp)
    threads = configure_threads(ddp)
    dtype = resolve_precision("auto", device)
    torch.manual_seed(seed)
    trainer = Trainer(rnn, TrainParams(lr=1e-3), device, dtype)  # the pipeline's own step
    rng = np.random.default_rng(seed)
    need = (warmup + steps) * batch
    order = np.concatenate([rng.permutation(len(store)) for _ in range(-(-need // len(store)))])
    started = None
    for step in range(warmup + steps):
        if step == warmup:
            started = _clock(device)
        x, y = batch_tensors(store, order[step * batch : (step + 1) * batch], device)
        loss, _ = trainer.step(x, y, lr=1e-3)
    loss.item()
    seconds = _clock(device) - started
    return {"images_per_s": steps * batch / seconds, "seconds": seconds, "threads": threads,
            "precision": precision_name(dtype), "layout": "channels_last"}


def _child(args) -> None:
    from hwr.data.store import open_store

    result = project_rate(args.rnn[0], open_store(args.store), args.batch, args.warmup, args.steps)
    print(json.dumps(result))


def parse_variant(text: str) -> tuple[str, dict]:
    """``NAME:VAR=VALUE,VAR=VALUE`` (``NAME:`` = the environment as it is) -> (NAME, {VAR: VALUE})."""
    name, _, settings = text.partition(":")
    env = dict(item.split("=", 1) for item in settings.split(",") if item)
    if not name or any(not key for key in env):
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected NAME:VAR=VALUE[,VAR=VALUE...]")
    return name, env


def variant_runs(rnn: str, variants: list[tuple[str, dict]], child_args: list[str], rounds: int) -> dict:
    """The project path in a fresh process per variant, ``rounds`` times, each round in a rotated
    order (A B, B A, A B, ...), so that the machine's drift weighs on every variant alike.
    Returns {name: [images/s per round]}; ratios are taken within a round."""
    rates = {name: [] for name, _ in variants}
    for round_ in range(rounds):
        shift = round_ % len(variants)
        for name, env in variants[shift:] + variants[:shift]:
            rates[name].append(C.run_child(Path(__file__), child_args, env_extra=env)["images_per_s"])
        print(f"{rnn:6} {round_ + 1:5} " + " ".join(f"{rates[name][-1]:12.2f}" for name, _ in variants)
              + "".join(f" {rates[name][-1] / rates[variants[0][0]][-1]:11.2f}x" for name, _ in variants[1:]),
              flush=True)
    return rates


def compare_variants(args, store_dir: Path) -> list[dict]:
    variants = args.variant
    print("\nproject path only, each run in a fresh process; variants: "
          + "; ".join(f"{name} ({', '.join(f'{k}={v}' for k, v in env.items()) or 'environment as it is'})"
                      for name, env in variants))
    print(f"{'model':6} {'round':>5} " + " ".join(f"{name[:12]:>12}" for name, _ in variants)
          + "".join(f" {('/' + variants[0][0])[:12]:>12}" for _ in variants[1:]))
    rows = []
    for rnn in args.rnn:
        child_args = ["--child", "--store", str(store_dir), "--rnn", rnn, "--batch", str(args.batch),
                      "--steps", str(args.steps), "--warmup", str(args.warmup)]
        rates = variant_runs(rnn, variants, child_args, args.pairs)
        reference = rates[variants[0][0]]
        for name, _ in variants[1:]:
            ratios = [b / a for a, b in zip(reference, rates[name])]
            print(f"{rnn:6} median: {name} {statistics.median(rates[name]):.2f} img/s vs {variants[0][0]} "
                  f"{statistics.median(reference):.2f}: {statistics.median(ratios):.2f}x "
                  f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x)", flush=True)
            rows.append({"bench": "train", "what": f"{rnn} train img/s (batch {args.batch}), {name} vs {variants[0][0]}",
                         "baseline": statistics.median(reference), "project": statistics.median(rates[name]),
                         "unit": "img/s", "ratio": statistics.median(ratios),
                         "note": f"rounds {min(ratios):.2f}-{max(ratios):.2f}x"})
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="zip of real JPEGs (default: ../shared/data/real-unlabeled/train_v2.zip)")
    ap.add_argument("--steps", type=int, help="timed steps per measurement (default 10; --quick 1): fewer gives noisy figures on shared machines")
    ap.add_argument("--pairs", type=int, help="back-to-back (baseline, project) measurements per model, judged "
                    "by their median ratio (default 3; --quick 1)")
    ap.add_argument("--warmup", type=int, help="untimed warm-up steps (default 2; --quick 1)")
    ap.add_argument("--batch", type=int, help="batch size (default 128, the study's; --quick 16)")
    ap.add_argument("--rnn", nargs="+", choices=["gru", "lstm"], default=["gru", "lstm"])
    ap.add_argument("--variant", action="append", type=parse_variant, metavar="NAME:VAR=VALUE[,...]",
                    help="instead of the baseline comparison: the project path under each variant's environment "
                    "(give two or more), --pairs rounds in rotated order, e.g. --variant kernels:HWR_NATIVE=1 "
                    "--variant torch:HWR_NATIVE=0")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    ap.add_argument("--summary", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.steps = args.steps or (1 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.batch = args.batch or (16 if args.quick else 128)
    args.pairs = args.pairs or (1 if args.quick else 3)
    if args.child:
        return _child(args)
    if args.variant is not None and len(args.variant) < 2:
        ap.error("--variant: give two or more, the first is the reference")

    zip_path = C.find_zip(args.data)
    C.print_header("bench_train: training images/s, naive baseline vs project path")
    need = (args.warmup + args.steps) * args.batch
    members = C.image_members(zip_path, need)
    labels = C.random_labels(len(members), seed=0)
    print(f"batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps; {len(members)} real JPEGs from "
          f"{zip_path}" + (" (quick: smoke-test sizes)" if args.quick else ""))
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwr-bench-train-") as tmp:
        t = time.perf_counter()
        C.store_of(zip_path, members, Path(tmp))  # the children open it
        print(f"store built once in {time.perf_counter() - t:.1f} s (one-off preprocessing, not in the figures)")
        if args.variant:
            rows = compare_variants(args, Path(tmp) / "store")
            C.write_summary(args.summary, rows)
            return rows
        dataset = C.make_naive_dataset(zip_path, members, labels)
        device = pick_device(Dist())
        matmul_dtype = resolve_precision("auto", device)  # None (fp32) or bf16 on CPU
        # the compute limit is the 2-core CPU's; on a GPU the ratio to it would mean nothing
        with_limit = device.type == "cpu"
        gflops_read = []  # every matmul GFLOP/s read
        gflop_per_image = {rnn: C.train_gflop_per_image(rnn) for rnn in args.rnn}

        def limit_now(rnn: str) -> float | None:
            """The images/s no implementation of ``rnn``'s CRNN can beat on this machine right now."""
            if not with_limit:
                return None
            gflops_read.append(C.matmul_gflops(threads=2, dtype=matmul_dtype))
            return gflops_read[-1] / gflop_per_image[rnn]

        def project_args(rnn: str) -> list[str]:  # this script as a child: the project path on the store
            return ["--child", "--store", str(Path(tmp) / "store"), "--rnn", rnn, "--batch", str(args.batch),
                    "--steps", str(args.steps), "--warmup", str(args.warmup)]

        def project_run(rnn: str) -> tuple[dict, float | None]:
            limit = limit_now(rnn)  # read right before the run it is compared with
            return C.run_child(Path(__file__), project_args(rnn)), limit

        print("\nproject path in a fresh process; each pair is project, baseline, project")
        print(f"{'model':6} {'pair':>4} {'baseline img/s':>15} {'project img/s (1st/2nd)':>24} {'ratio':>7}"
              + (f" {'limit img/s':>12} {'of limit':>9}" if with_limit else ""))
        results, shares = {}, {}
        for rnn in args.rnn:
            bases, projs, ratios, shares[rnn] = [], [], [], []
            for pair in range(1, args.pairs + 1):
                # the project is measured on both sides of the baseline, so that the machine's drift over
                # the pair weighs on both figures alike; its figure is both runs' images over their time
                first, first_limit = project_run(rnn)
                base = baseline_rate(rnn, dataset, args.batch, args.warmup, args.steps)
                second, second_limit = project_run(rnn)
                bases.append(base["images_per_s"])
                projs.append(2 * args.steps * args.batch / (first["seconds"] + second["seconds"]))
                ratios.append(C.ratio(projs[-1], bases[-1]))
                line = (f"{rnn:6} {pair:4} {bases[-1]:15.2f} {projs[-1]:8.2f} ({first['images_per_s']:6.2f}/"
                        f"{second['images_per_s']:6.2f}) {ratios[-1]:6.2f}x")
                if with_limit:
                    limit = (first_limit + second_limit) / 2
                    shares[rnn].append(100 * statistics.mean([first["images_per_s"] / first_limit,
                                                              second["images_per_s"] / second_limit]))
                    line += f" {limit:12.1f} {shares[rnn][-1]:8.0f}%"
                print(line, flush=True)
            base_med, proj_med, ratio_med = (statistics.median(v) for v in (bases, projs, ratios))
            results[rnn] = proj_med
            print(f"{rnn:6} {'med':>4} {base_med:15.2f} {proj_med:8.2f} {'':15} {ratio_med:6.2f}x"
                  + (f" {'':12} {statistics.median(shares[rnn]):8.0f}%" if with_limit else "")
                  + f"   project: {second['precision']}, {second['layout']}, {second['threads']} threads "
                  f"(baseline: fp32, default layout, {base['threads']} threads)", flush=True)
            rows.append({"bench": "train", "what": f"{rnn} train img/s (batch {args.batch}), median of {args.pairs}",
                         "baseline": base_med, "project": proj_med, "unit": "img/s", "ratio": ratio_med,
                         "note": f"ratios {min(ratios):.2f}-{max(ratios):.2f}x"})

        if not with_limit:
            print(f"\ncompute limit: a 2-thread CPU figure, not computed when training on {device}")
        elif gflops_read:
            low, high = min(gflops_read), max(gflops_read)
            print(f"\ncompute limit: {precision_name(matmul_dtype)} matmul {low:.1f}-{high:.1f} GFLOP/s (2 threads, "
                  "read before each project run) / GFLOP per training image ("
                  + ", ".join(f"{rnn} {gflop_per_image[rnn]:.2f}" for rnn in args.rnn) + ")")
        for rnn in results if gflops_read else []:
            share, best = statistics.median(shares[rnn]), high / gflop_per_image[rnn]
            print(f"{rnn.upper()} project path: median {share:.0f} % of its pairs' limit (pairs "
                  f"{', '.join(f'{s:.0f}' for s in shares[rnn])} %); median {results[rnn]:.2f} img/s = "
                  f"{100 * results[rnn] / best:.0f} % of the highest limit read, {best:.1f} img/s")
            rows.append({"bench": "train", "what": f"{rnn.upper()} project vs compute limit (median of pairs)",
                         "baseline": statistics.median(gflops_read) / gflop_per_image[rnn],
                         "project": results[rnn], "unit": "img/s", "ratio": share / 100,
                         "note": f"{precision_name(matmul_dtype)} matmul {low:.0f}-{high:.0f} GFLOP/s; "
                                 f"{100 * results[rnn] / best:.0f} % of the highest"})
    C.write_summary(args.summary, rows)
    return rows


if __name__ == "__main__":
    main()
