"""Load on ``hwr serve``: N requests of real scans, C at a time, on loopback; none may be lost.

    python benchmarks/bench_serve.py [--model model.pt|model.onnx] [--requests 200] [--concurrency 16]
                                     [--data PATH]

The server is ``hwr serve`` in its own process on 127.0.0.1 (a free port); the model is --model,
else a randomly initialised GRU (the text read does not change the timing). Each request posts one
real image (cycling through the JPEGs of ../shared/data/real-sample/test_v2.zip, or --data: a zip
of JPEGs) to POST /predict from one of C client threads. Reported: requests answered 200 with a
reading, lost ones (an error or another status), latency p50/p90/p99/max and requests/s. Bounded:
each request times out after 120 s and the server is stopped at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
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


def start_server(model: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(C.REPO / "src")}
    server = subprocess.Popen([sys.executable, "-m", "hwr.app.cli", "serve", "--model", str(model), "--port", str(port)],
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model.pt or model.onnx (default: a randomly initialised GRU)")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--data", help="a zip of JPEGs (default: the shared real sample's test_v2.zip)")
    args = ap.parse_args(argv)
    zip_path = Path(args.data) if args.data else SAMPLE_ZIP
    if not zip_path.is_file():
        sys.exit(f"error: {zip_path} not found; pass --data ZIP (a zip of JPEGs)")
    with zipfile.ZipFile(zip_path) as zf:
        scans = [(Path(m).name, zf.read(m)) for m in C.image_members(zip_path)]

    with tempfile.TemporaryDirectory(prefix="hwr-bench-serve-") as tmp:
        model = Path(args.model) if args.model else Path(tmp) / "model.pt"
        if not args.model:
            import torch

            from hwr.model.checkpoints import save_model
            from hwr.model.crnn import CRNN

            torch.manual_seed(0)
            save_model(model, CRNN("gru"), {"rnn": "gru", "resize": "crop"})
        port = free_port()
        server = start_server(model, port)
        url = f"http://127.0.0.1:{port}/predict"
        try:
            with httpx2.Client(timeout=120, limits=httpx2.Limits(max_connections=args.concurrency)) as client:
                def one(i: int):
                    name, data = scans[i % len(scans)]
                    start = time.perf_counter()
                    try:
                        answer = client.post(url, files={"files": (name, data, "image/jpeg")})
                        ok = answer.status_code == 200 and "text" in answer.json()["results"][0]
                        why = "" if ok else f"status {answer.status_code}: {answer.text[:120]}"
                    except (httpx2.HTTPError, ValueError, KeyError) as exc:
                        ok, why = False, f"{type(exc).__name__}: {exc}"
                    return time.perf_counter() - start, ok, why

                start = time.perf_counter()
                with ThreadPoolExecutor(args.concurrency) as pool:
                    results = list(pool.map(one, range(args.requests)))
                seconds = time.perf_counter() - start
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    latencies = sorted(1000 * t for t, ok, _ in results if ok)
    lost = [why for _, ok, why in results if not ok]

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    C.print_header("hwr serve under load")
    print(f"model: {args.model or 'random GRU (torch)'}; {args.requests} requests of one real scan each "
          f"({len(scans)} distinct), {args.concurrency} at a time, loopback")
    print(f"answered {len(latencies)}/{args.requests}, lost {len(lost)}; {args.requests / seconds:.1f} requests/s "
          f"over {seconds:.1f} s")
    if latencies:
        print(f"latency ms: p50 {statistics.median(latencies):.0f}, p90 {pct(0.9):.0f}, p99 {pct(0.99):.0f}, "
              f"max {latencies[-1]:.0f}")
    for why in lost[:5]:
        print(f"  lost: {why}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
