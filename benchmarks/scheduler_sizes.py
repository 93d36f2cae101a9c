"""`photoface index` in one process (`--scheduler sync`) against a local Dask cluster
(`--scheduler local`, one worker per core up to two) and `auto`, on jobs of several sizes:
whole commands as a user runs them, alternating, medians of the repeats.

    python benchmarks/scheduler_sizes.py FOLDER --sizes 20 100 370 2000 [--repeats 2]

The first N photos of FOLDER (walked in sorted order, linked into a scratch folder) make
the job of size N; every run indexes into a new database.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTO = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic")


def photos(folder: Path) -> list[Path]:
    """Every photo under ``folder``, linked folders included, in sorted order."""
    found = [Path(root) / f for root, _, files in os.walk(folder, followlinks=True) for f in files]
    return sorted(p for p in found if p.suffix.lower() in PHOTO)


def job(all_photos: list[Path], n: int, into: Path) -> Path:
    into.mkdir(parents=True)
    for i, p in enumerate(all_photos[:n]):
        os.symlink(p.resolve(), into / f"{i:05d}{p.suffix.lower()}")
    return into


def index_once(folder: Path, scheduler: str, work: Path) -> float:
    db = work / f"run-{time.monotonic_ns()}.db"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "photoface", "index", str(folder), "--db", str(db), "--scheduler",
                    scheduler, "--no-progress"], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 370, 2000])
    ap.add_argument("--schedulers", nargs="+", default=["sync", "local", "auto"])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    everything = photos(args.folder)
    print(f"cores: {len(os.sched_getaffinity(0))}")
    print("| photos | " + " | ".join(f"{s} s (runs)" for s in args.schedulers) + " | local time / sync time |")
    print("|---|" + "---|" * (len(args.schedulers) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sizes:
            if n > len(everything):
                raise SystemExit(f"{args.folder} holds {len(everything)} photos, fewer than {n}")
            folder = job(everything, n, work / f"job{n}")
            times = {s: [] for s in args.schedulers}
            for _ in range(args.repeats):
                for s in args.schedulers:
                    times[s].append(index_once(folder, s, work))
            med = {s: statistics.median(v) for s, v in times.items()}
            ratio = f"{med['local'] / med['sync']:.2f}x" if "sync" in med and "local" in med else ""
            print(f"| {n} | " + " | ".join(
                f"{med[s]:.1f} ({', '.join(f'{t:.1f}' for t in times[s])})" for s in args.schedulers)
                  + f" | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
