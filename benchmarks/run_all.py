"""Run every benchmark (baseline and project path in the same run) and print a summary table.

    python benchmarks/run_all.py [--quick] [--only train,infer,preprocess,memory] [--data PATH]

--quick: small sizes (about 3 minutes on 2 quiet cores): checks that everything runs, its figures
are not measurements. Without it: the full sizes (about 15 minutes on 2 cores; bench_memory
builds a ~1.5 GB zip and a 6.9 GB store under /tmp and deletes them).

Each benchmark runs in its own process (threads and peak memory are per process) and
prints its own details; the table at the end collects the headline figures. Real images: the
shared ../shared/data/real-unlabeled/train_v2.zip beside the checkout, or --data.
The synthetic-data generator has its own benchmark: benchmarks/bench_synth.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

BENCHES = ("train", "infer", "preprocess", "memory")


def _fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    ap.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}")
    ap.add_argument("--data", help="zip of real JPEGs (default: ../shared/data/real-unlabeled/train_v2.zip)")
    args = ap.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    C.find_zip(args.data)  # fail early, with the message, when the images are absent

    here = Path(__file__).resolve().parent
    rows, failed, timings = [], [], {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwr-bench-all-") as tmp:
        for name in chosen:
            summary = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, str(here / f"bench_{name}.py"), "--summary", str(summary)]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--data", args.data] if args.data else []
            print(f"\n$ python benchmarks/bench_{name}.py" + (" --quick" if args.quick else ""), flush=True)
            t = time.perf_counter()
            code = subprocess.run(cmd).returncode
            timings[name] = time.perf_counter() - t
            if code != 0 or not summary.is_file():
                failed.append(f"{name} (exit {code})")
                continue
            rows += json.loads(summary.read_text())

    print("\n" + "=" * 100)
    print("summary" + (" (--quick: smoke-test sizes, not measurements)" if args.quick else ""))
    print(C.machine_line())
    header = f"{'measure':58} {'baseline':>10} {'project':>10} {'ratio':>7}  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['what'][:58]:58} {_fmt(row['baseline'], row['unit']):>10} {_fmt(row['project'], row['unit']):>10} "
              f"{row['ratio']:6.2f}x  {row.get('note', '')}")
    print("ratio: project / baseline for img/s and MiB, baseline / project for seconds and ms "
          "(> 1 = project better, except memory: <= 1.10 = no growth with N)")
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
          + f"; total {time.perf_counter() - started:.0f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
