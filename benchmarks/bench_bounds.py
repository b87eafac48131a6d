"""Peak memory of preprocess with hostile entries in the split: it must stay what ordinary scans need.

    python benchmarks/bench_bounds.py [--images 2000] [--jobs 2] [--data PATH] [--src PATH] [--keep]

Two splits, each preprocessed by ``hwr.data.preprocessing.preprocess_split`` (crop mode, --jobs workers)
in its own child process, as stages/preprocess.py does (rows indexed by ``hwr.data.splits.index_split``):

* clean: the first --images real JPEGs (../shared/data/real-unlabeled/train_v2.zip, or --data);
* hostile: the same, plus a valid 40000 x 40000 grayscale JPEG (18.8 MB: every 8 x 8 block the same
  grey, so its scan data is one 3-byte pattern; decoded, 1.6 GB), a 2 GiB zip bomb (zeros,
  deflated to ~2 MB) whose zip directory tells its size, and a 2047 MiB one whose directory lies
  (declares 10,000 bytes), one after another among the scans.

Reported per run: the main process's peak RSS (VmHWM), the largest worker's peak RSS
(getrusage RUSAGE_CHILDREN maxrss: it counts pages a forked worker shares with its parent) and
its own memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup, sampled every 100 ms),
and what was skipped. The goal: the hostile run's peaks at most 10 % over the clean run's plus one
entry's bytes (a worker holds an entry whole while it decodes it: at most preprocess.max_image_bytes,
32 MiB by default; the 40000 x 40000 JPEG is 18.8 MB), whatever the entries claim to hold.

--src PATH runs the children with another checkout's src/ first on sys.path (e.g. an older
version, to see what the bounds change); its preprocess_split is called with the limits it knows.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

HUGE = 40_000  # pixels a side of the forged-size JPEG
BOMB = 2 << 30  # bytes the honest bomb inflates to
LYING_BOMB = (2 << 30) - (1 << 20)  # under zip64's limit, so its directory holds the 32-bit size we overwrite
LYING_SIZE = 10_000
DEFAULT_MAX_IMAGE_BYTES = 32 << 20  # hwr.params' default, which --src code may not have


def uniform_jpeg(width: int, height: int) -> bytes:
    """A valid baseline grayscale JPEG of width x height, every pixel 128, built without decoding
    or encoding it: Pillow's 8 x 8 JPEG's headers with the frame size changed, then one entropy-
    coded block per 8 x 8 block, each a zero DC difference ('00') and an end of block ('1010')
    under the standard Huffman tables: four blocks are 24 bits, 0x28 0xA2 0x8A."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, format="JPEG", quality=75)
    data = buf.getvalue()
    sos = data.index(b"\xff\xda")
    head = bytearray(data[: sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")])
    sof = head.index(b"\xff\xc0")
    head[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    groups, rest = divmod(-(-width // 8) * -(-height // 8), 4)
    bits = "001010" * rest
    bits += "1" * (-len(bits) % 8)  # padded with ones, as the standard says
    tail = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return bytes(head) + b"\x28\xa2\x8a" * groups + tail + b"\xff\xd9"


def _write_zeros(archive: zipfile.ZipFile, name: str, size: int) -> None:
    info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    block = bytes(1 << 20)
    with archive.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as out:
        for _ in range(size >> 20):
            out.write(block)


def _lie_about_size(zip_path: Path, member: str, size: int) -> None:
    """Overwrite ``member``'s inflated size in the zip's central directory."""
    raw = bytearray(zip_path.read_bytes())
    name, at = member.encode(), 0
    while True:
        at = raw.index(b"PK\x01\x02", at + 1)
        if raw[at + 46 : at + 46 + len(name)] == name:
            raw[at + 24 : at + 28] = size.to_bytes(4, "little")
            break
    zip_path.write_bytes(bytes(raw))


def build_split(source: Path, n: int, dest: Path, hostile: bool) -> list[str]:
    """A stored zip of ``source``'s first ``n`` images (and, if ``hostile``, the three hostile
    entries among them, deflated where a bomb); returns the image names in order."""
    members = C.image_members(source, n)
    hostile_at = {n // 4: "huge", n // 2: "bomb", 3 * n // 4: "lying"}
    names = []
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w") as zout:
        for i, member in enumerate(members):
            if hostile and i in hostile_at:
                kind = hostile_at[i]
                name = f"train_v2/train/HOSTILE_{kind}.jpg"
                if kind == "huge":
                    zout.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), uniform_jpeg(HUGE, HUGE))
                else:
                    _write_zeros(zout, name, BOMB if kind == "bomb" else LYING_BOMB)
                names.append(name)
            zout.writestr(zipfile.ZipInfo(member, (2024, 1, 1, 0, 0, 0)), zin.read(member))
            names.append(member)
    if hostile:
        _lie_about_size(dest, "train_v2/train/HOSTILE_lying.jpg", LYING_SIZE)
    return names


def _child(zip_path: str, labels_csv: str, out: str, jobs: int, src: str | None) -> dict:
    if src:
        sys.path.insert(0, src)
    from bench_memory import Sampler

    sampler = Sampler(every=0.02)
    sampler.start()
    from hwr.data.preprocessing import preprocess_split
    from hwr.data.splits import index_split

    rows, _ = index_split(Path(zip_path), Path(labels_csv))
    accepted = inspect.signature(preprocess_split).parameters
    limits = {k: v for k, v in (("max_pixels", 16_000_000), ("max_image_bytes", 32 << 20)) if k in accepted}
    started = time.perf_counter()
    report = preprocess_split(zip_path, rows, out, resize="crop", jobs=jobs, **limits)
    seconds = time.perf_counter() - started
    result = sampler.finish()
    result["workers_max_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    skipped = report.get("skipped") or {"undecodable": report.get("skipped_undecodable", 0)}
    return {**result, "rows": report["rows"], "written": report["written"],
            "skipped": {k: v for k, v in skipped.items() if v}, "seconds": seconds}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="zip of real JPEGs (default: ../shared/data/real-unlabeled/train_v2.zip)")
    ap.add_argument("--images", type=int, default=2000, help="ordinary scans in each split (default 2000)")
    ap.add_argument("--jobs", type=int, default=2, help="preprocess workers (default 2)")
    ap.add_argument("--src", help="another checkout's src/ to measure instead of this one's")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the zips and stores go (default /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        os.environ["TQDM_DISABLE"] = "1"
        zip_path, labels, out, jobs, src = args.child
        print(json.dumps(_child(zip_path, labels, out, int(jobs), src or None)))
        return {}
    source = C.find_zip(args.data)
    C.print_header("bench_bounds: peak memory of preprocess, ordinary split vs one with hostile entries")
    print(f"code: {args.src or C.REPO / 'src'}; {args.images} scans, {args.jobs} workers, crop mode")
    tmp = Path(tempfile.mkdtemp(prefix="hwr-bench-bounds-", dir=args.tmp))
    results = {}
    try:
        for label, hostile in (("clean", False), ("hostile", True)):
            t = time.perf_counter()
            zip_path = tmp / f"{label}.zip"
            names = build_split(source, args.images, zip_path, hostile)
            labels = C.write_labels_csv(names, tmp / f"{label}.csv")
            print(f"  {label}: zip of {len(names)} entries, {zip_path.stat().st_size / 2**20:.1f} MiB, built in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
            results[label] = C.run_child(Path(__file__), ["--child", str(zip_path), str(labels),
                                                          str(tmp / f"store-{label}"), str(args.jobs), args.src or ""])
            r = results[label]
            print(f"  {label}: {r['written']} of {r['rows']} written in {r['seconds']:.1f} s; skipped: "
                  f"{', '.join(f'{k} {v}' for k, v in r['skipped'].items()) or 'none'}", flush=True)
            shutil.rmtree(tmp / f"store-{label}", ignore_errors=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    clean, hostile = results["clean"], results["hostile"]
    print("\npeak memory, MiB                              clean  hostile   ratio")
    met = True
    entry_mib = C.mb(DEFAULT_MAX_IMAGE_BYTES / 1024)
    for key, what in (("hwm_kb", "main process (VmHWM)"), ("workers_max_kb", "largest worker (maxrss)"),
                      ("worker_private_kb", "  its own memory (not shared with the parent)")):
        a, b = C.mb(clean[key]), C.mb(hostile[key])
        print(f"{what:44} {a:6.0f} {b:8.0f}   {C.ratio(b, a):5.2f}x")
        met &= b <= 1.10 * a + entry_mib
    print(f"\ngoal {'met' if met else 'MISSED'}: hostile peaks within 10 % of the clean split's plus one entry's bytes "
          f"({entry_mib:.0f} MiB)")
    return results


if __name__ == "__main__":
    main()
