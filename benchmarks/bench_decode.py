"""Reading a split with the lexicon decoder: one process (baseline) against one worker per core
(``hwr.decoding.parallel``, what evaluate, calibrate and self-training use).

    python benchmarks/bench_decode.py [--n 1024] [--pairs 2] [--model models/gru-full/model.pt] \
        [--lexicon data/lexicon] [--quick] [--data PATH]

Needs a trained model and a lexicon folder (the default run's): an untrained model's flat
log-probabilities would make the beam search do other work than on real readings. Both paths read the
same real scans (../shared/data/real-unlabeled/train_v2.zip, or --data), preprocessed once into a
store (not timed), with ``hwr.evaluation.evaluate.read_split``: the network, then the decoder; the
readings must be the same. Runs alternate (baseline, project) ``--pairs`` times; medians decide.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402  (puts src/ on sys.path)
import torch  # noqa: E402

from hwr.decoding.factory import make_decoder  # noqa: E402
from hwr.decoding.parallel import default_jobs  # noqa: E402
from hwr.evaluation.evaluate import read_split  # noqa: E402
from hwr.model.checkpoints import load_model  # noqa: E402
from hwr.params import EvaluateParams  # noqa: E402


def timed_read(model, store, decoder, jobs: int) -> tuple[float, list]:
    started = time.perf_counter()
    readings, _, _ = read_split(model, store, {decoder.name: decoder}, batch_size=256, device=torch.device("cpu"),
                                with_loss=False, jobs=jobs)
    return len(store) / (time.perf_counter() - started), readings[decoder.name]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--model", default="models/gru-full/model.pt")
    ap.add_argument("--lexicon", default="data/lexicon")
    ap.add_argument("--quick", action="store_true", help="a smoke run at a small size (not a measurement)")
    ap.add_argument("--data", help="a zip of JPEGs or a folder holding train_v2.zip")
    ap.add_argument("--summary", help="append the result rows to this JSON file (run_all.py)")
    args = ap.parse_args()
    n, pairs = (64, 1) if args.quick else (args.n, args.pairs)
    C.print_header("Reading with the lexicon decoder: one process against one worker per core")
    for needed in (args.model, args.lexicon):
        if not Path(needed).exists():
            sys.exit(f"{needed}: not found; run the default pipeline first (make repro) or give --model / --lexicon")
    zip_path = C.find_zip(args.data)
    model, _ = load_model(args.model)
    decoder = make_decoder("lexicon", EvaluateParams(), lexicon_dir=args.lexicon)
    jobs = default_jobs()
    with tempfile.TemporaryDirectory() as work:
        store = C.store_of(zip_path, C.image_members(zip_path, n), Path(work))
        rates = {"baseline": [], "project": []}
        for _ in range(pairs):
            base, expected = timed_read(model, store, decoder, 1)
            ours, got = timed_read(model, store, decoder, jobs)
            if got != expected:
                sys.exit("the workers' readings differ from the single process's")
            rates["baseline"].append(base)
            rates["project"].append(ours)
            print(f"{len(store)} scans: one process {base:.1f} names/s, {jobs} workers {ours:.1f} names/s", flush=True)
    base, ours = statistics.median(rates["baseline"]), statistics.median(rates["project"])
    print(f"median: one process {base:.1f} names/s, {jobs} workers {ours:.1f} names/s, ratio {C.ratio(ours, base):.2f}")
    C.write_summary(args.summary, [{"bench": "decode", "what": f"lexicon reading, {jobs} workers", "baseline": base,
                                    "project": ours, "unit": "names/s", "ratio": C.ratio(ours, base),
                                    "note": "quick: not a measurement" if args.quick else ""}])


if __name__ == "__main__":
    main()
