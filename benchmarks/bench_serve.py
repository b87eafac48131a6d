"""Load on ``hwr serve``: a burst of C requests of real scans at once, on loopback: how many are
answered, how many refused, and how long they take; beside the server as it was before its queue.

    python benchmarks/bench_serve.py [--model model.pt|model.onnx] [--requests 256] [--concurrency 64]
                                     [--data PATH] [--quick]

Each server runs in its own process on 127.0.0.1 (a free port), one after the other, on the same
requests; the model is --model, else a randomly initialised GRU (the text read does not change the
timing), read with the greedy decoder. Each request posts one real image (cycling through the JPEGs
of ../shared/data/real-sample/test_v2.zip, or --data: a zip of JPEGs) to POST /predict from one of C
client threads, so C requests are in flight at once. The two servers:

- baseline: every request taken at once, and uvicorn's limit_concurrency of 32 refusing (503) all
  beyond it: ``hwr serve`` before admission control;
- hwr serve: its defaults (``Limits``: 4 requests at work, 256 waiting their turn, 503 with
  Retry-After only past those), run as ``hwr serve`` runs it.

Reported per server: requests answered 200 with a reading, refused (503), lost (an error or another
status), latency p50/p99/max of the answered ones and requests/s. Bounded: each request times out
after 120 s and each server is stopped at its end, whatever happened. Exit status 1 when hwr serve
refused or lost any request.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402  (puts src/ on sys.path)
import httpx2  # noqa: E402

SAMPLE_ZIP = C.REPO.parent / "shared" / "data" / "real-sample" / "test_v2.zip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The server process: the app as hwr serve makes it (load_app), run either as hwr serve runs it or
# as it was run before its admission queue (every request admitted; uvicorn refuses beyond 32)
SERVER = """
import sys
import uvicorn
from hwr.app.serve import Limits, load_app, run
model, port, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if variant == "project":
    run(load_app(model), port=port)
else:
    unbounded = Limits(max_active=10**6, max_waiting=0, max_connections=10**6 + 1)
    uvicorn.run(load_app(model, limits=unbounded), host="127.0.0.1", port=port, log_level="warning",
                limit_concurrency=32)
"""
VARIANTS = {"baseline": "baseline (uvicorn limit 32)", "project": "hwr serve (4 at work, 256 queued)"}


def start_server(model: Path, port: int, variant: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(C.REPO / "src")}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(model), str(port), variant],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600  # the first start may compile hwr's kernels
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: hwr serve stopped: {server.stderr.read().strip()}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx2.HTTPError:
            time.sleep(0.5)
    server.kill()
    sys.exit("error: hwr serve did not answer within 600 s")


def load(model: Path, variant: str, scans: list, requests: int, concurrency: int) -> dict:
    """Runs the requests against one server; returns its counts and latencies (ms)."""
    port = free_port()
    server = start_server(model, port, variant)
    url = f"http://127.0.0.1:{port}/predict"
    try:
        with httpx2.Client(timeout=120, limits=httpx2.Limits(max_connections=concurrency)) as client:
            def one(i: int):
                name, data = scans[i % len(scans)]
                start = time.perf_counter()
                try:
                    answer = client.post(url, files={"files": (name, data, "image/jpeg")})
                    if answer.status_code == 503:
                        outcome, why = "refused", ""
                    elif answer.status_code == 200 and "text" in answer.json()["results"][0]:
                        outcome, why = "answered", ""
                    else:
                        outcome, why = "lost", f"status {answer.status_code}: {answer.text[:120]}"
                except (httpx2.HTTPError, ValueError, KeyError) as exc:
                    outcome, why = "lost", f"{type(exc).__name__}: {exc}"
                return 1000 * (time.perf_counter() - start), outcome, why

            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(one, range(requests)))
            seconds = time.perf_counter() - start
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    count = {k: sum(outcome == k for _, outcome, _ in results) for k in ("answered", "refused", "lost")}
    return {**count, "latencies": sorted(ms for ms, outcome, _ in results if outcome == "answered"),
            "seconds": seconds, "why": [why for _, outcome, why in results if outcome == "lost"]}


def pct(values: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank), nan when there are none."""
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model.pt or model.onnx (default: a randomly initialised GRU)")
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=64, help="requests in flight at once (default: 64)")
    ap.add_argument("--data", help="a zip of JPEGs (default: the shared real sample's test_v2.zip)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: one burst (requests = concurrency)")
    args = ap.parse_args(argv)
    if args.quick:
        args.requests = args.concurrency
    zip_path = Path(args.data) if args.data else SAMPLE_ZIP
    if not zip_path.is_file():
        sys.exit(f"error: {zip_path} not found; pass --data ZIP (a zip of JPEGs)")
    with zipfile.ZipFile(zip_path) as zf:
        scans = [(Path(m).name, zf.read(m)) for m in C.image_members(zip_path)]

    C.print_header("hwr serve under load")
    print(f"model: {args.model or 'random GRU (torch)'}, greedy decoder; {args.requests} requests of one real scan "
          f"each ({len(scans)} distinct), {args.concurrency} at a time, loopback")
    runs = {}
    with tempfile.TemporaryDirectory(prefix="hwr-bench-serve-") as tmp:
        model = Path(args.model) if args.model else Path(tmp) / "model.pt"
        if not args.model:
            import torch

            from hwr.model.checkpoints import save_model
            from hwr.model.crnn import CRNN

            torch.manual_seed(0)
            save_model(model, CRNN("gru"), {"rnn": "gru", "resize": "crop"})
        for variant in VARIANTS:
            runs[variant] = load(model, variant, scans, args.requests, args.concurrency)

    print(f"{'server':36} {'answered':>9} {'refused':>8} {'lost':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'req/s':>6}")
    for variant, r in runs.items():
        lat = r["latencies"]
        print(f"{VARIANTS[variant]:36} {r['answered']:>9} {r['refused']:>8} {r['lost']:>5} {pct(lat, 0.5):>8.0f} "
              f"{pct(lat, 0.99):>8.0f} {(lat[-1] if lat else float('nan')):>8.0f} "
              f"{r['answered'] / r['seconds']:>6.1f}")
        for why in r["why"][:5]:
            print(f"  lost: {why}")
    project = runs["project"]
    return 1 if project["refused"] or project["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
