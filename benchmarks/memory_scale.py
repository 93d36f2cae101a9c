"""Peak memory per worker while indexing 1k and 10k photos: does it stay flat?

    python benchmarks/memory_scale.py ../shared/data/lfw/lfw-deepfunneled --sizes 1000 10000 --out /tmp/memscale

Makes a synthetic library from real faces (made once per size, kept in --out): each
photo is a canvas of a random size (640x480 to 2400x1800), its background a blurred,
enlarged LFW photo, with 1 to 4 faces cut from other LFW photos pasted at random
positions and sizes (60-360 px), saved as JPEG (quality 88). Then `photoface index`
runs on it as a user would (2 workers), while this script reads VmHWM (the peak resident
set) of the command and of every worker process from /proc twice a second. Prints
photos/s and the peak of each process.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageFilter

SIZES = [(640, 480), (1024, 768), (1280, 960), (1600, 1200), (2048, 1536), (2400, 1800)]


def make_photo(job) -> None:
    i, path, faces_src, out = job
    rng = np.random.default_rng(i)
    w, h = SIZES[rng.integers(len(SIZES))]
    if rng.random() < 0.3:
        w, h = h, w
    bg = Image.open(faces_src[rng.integers(len(faces_src))]).convert("RGB")
    canvas = bg.resize((w, h), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(12))
    for _ in range(rng.integers(1, 5)):
        face = Image.open(faces_src[rng.integers(len(faces_src))]).convert("RGB").crop((55, 45, 195, 205))
        side = int(rng.integers(60, 361))
        face = face.resize((side, int(side * 160 / 140)), Image.Resampling.BICUBIC)
        if face.width < w and face.height < h:
            canvas.paste(face, (int(rng.integers(0, w - face.width)), int(rng.integers(0, h - face.height))))
    canvas.save(os.path.join(out, path), quality=88)


def make_library(lfw: str, n: int, out: str) -> str:
    folder = os.path.join(out, f"lib{n}")
    if os.path.isdir(folder) and len(os.listdir(folder)) >= n // 1000:
        return folder
    src = sorted(os.path.join(r, f) for r, _, fs in os.walk(lfw) for f in fs if f.endswith(".jpg"))
    jobs = []
    for i in range(n):
        sub = os.path.join(folder, f"{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        jobs.append((i, os.path.join(f"{i // 1000:03d}", f"photo_{i:06d}.jpg"), src, folder))
    t = time.perf_counter()
    with Pool(2) as pool:
        pool.map(make_photo, jobs, chunksize=50)
    print(f"made {n} photos in {time.perf_counter() - t:.0f} s -> {folder}", flush=True)
    return folder


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = []
        try:
            for task in os.listdir(f"/proc/{p}/task"):  # children of every thread
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids += [int(k) for k in fh.read().split()]
        except OSError:
            continue
        out.update(kids)
        todo.extend(kids)
    return out


def hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_with_peaks(proc: subprocess.Popen) -> dict[int, float]:
    """Wait for ``proc``, reading the peak resident set (MB) of it and of every process it
    starts twice a second -> {pid: peak MB}. Returns as soon as ``proc`` ends (a wait with a
    timeout, not a sleep: a caller's wall time is not rounded up to the half second)."""
    peaks: dict[int, float] = {}
    while proc.poll() is None:
        for pid in {proc.pid} | descendants(proc.pid):
            m = hwm_mb(pid)
            if m is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), m)
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    return peaks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lfw")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--out", default="/tmp/memscale")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    exe = os.path.join(os.path.dirname(sys.executable), "photoface")
    print("| photos | faces | wall s | photos/s | peak MB: command | peak MB: each worker |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        folder = make_library(args.lfw, n, args.out)
        db = os.path.join(args.out, f"lib{n}.db")
        for f in (db, db + "-wal", db + "-shm"):
            if os.path.exists(f):
                os.remove(f)
        t = time.perf_counter()
        proc = subprocess.Popen([exe, "index", folder, "--db", db, "--workers", str(args.workers),
                                 "--scheduler", "local", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        peaks = wait_with_peaks(proc)
        wall = time.perf_counter() - t
        import json

        summary = json.loads(proc.stdout.read())
        # the worker processes are the ones that loaded TensorFlow (the nannies and the
        # multiprocessing helpers stay small)
        workers = sorted((m for pid, m in peaks.items() if pid != proc.pid and m > 400), reverse=True)
        print(f"| {n} | {summary['faces_found']} | {wall:.0f} | {summary['photos_indexed'] / wall:.1f} | "
              f"{peaks.get(proc.pid, 0):.0f} | {', '.join(f'{m:.0f}' for m in workers)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
