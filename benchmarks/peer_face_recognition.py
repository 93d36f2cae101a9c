"""photoface index against the face_recognition CLI on the same folder of real photos.

    python benchmarks/peer_face_recognition.py FOLDER [--limit 300] [--repeats 2] [--precisions auto int8-static] \
        [--variants=--no-describe]

The peer is the face_recognition command (dlib's HOG detector + ResNet embedding) run
with `--cpus 2`, in its own virtual environment (made as in dlib_baseline.py, plus
click for its command line). Both commands run whole, start-up and model loading
included, on the same hard-linked copy of the first N photos of FOLDER, alternating, and
the median wall time is reported with photos/s, faces/s, faces found, photos in which a
face was found, the peak memory of each command (the sum of the peak resident sets of
its processes: a worker-per-core command and its workers, or the peer's pool) and the
ratio. The peer is
asked to match the faces against one known photo (it has no "index only" mode), which
costs it nothing measurable next to detection and embedding.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from dlib_baseline import VENV, ensure_venv  # noqa: E402

from photoface.scan import scan  # noqa: E402

KNOWN = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "photos", "obama.jpg")


def link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:  # another file system
        shutil.copy(src, dest)


def run_measured(cmd: list[str]) -> tuple[str, float]:
    """Run a command to completion -> (its stdout, the sum of the peak resident sets of
    it and every process it started, read from /proc twice a second)."""
    from memory_scale import wait_with_peaks

    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, text=True)
        peaks = wait_with_peaks(proc)
        if proc.returncode:
            raise SystemExit(f"{cmd[0]} failed with exit status {proc.returncode}")
        out.seek(0)
        return out.read(), sum(peaks.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scheduler", default="auto", help="photoface index --scheduler (auto, sync, local)")
    ap.add_argument("--precisions", nargs="+", default=["auto"],
                    help="photoface index --precision for each photoface row (e.g. auto int8-static), run in turn")
    ap.add_argument("--variants", nargs="+", default=[],
                    help="more photoface rows: each a string of photoface index options (e.g. \"--no-describe\")")
    args = ap.parse_args()
    python = ensure_venv()
    subprocess.run([python, "-m", "pip", "install", "-q", "click"], check=True)
    peer = os.path.join(VENV, "bin", "face_recognition")
    with tempfile.TemporaryDirectory() as work:
        photos = os.path.join(work, "photos")
        known = os.path.join(work, "known")
        os.makedirs(photos)
        os.makedirs(known)
        link_or_copy(KNOWN, os.path.join(known, "obama.jpg"))
        for i, item in enumerate(scan(args.folder)):
            if i == args.limit:
                break
            link_or_copy(item.path, os.path.join(photos, f"{i:05d}{os.path.splitext(item.path)[1].lower()}"))
        n = len(os.listdir(photos))
        peer_name = "face_recognition --cpus 2"
        ours = {("--precision", p): "photoface index" + ("" if p == "auto" else f" --precision {p}")
                for p in args.precisions}
        ours.update({tuple(v.split()): f"photoface index {v}" for v in args.variants})
        times = {peer_name: [], **{name: [] for name in ours.values()}}
        faces, with_face, memory = {}, {}, {name: 0.0 for name in times}
        for r in range(args.repeats):
            t = time.perf_counter()
            out, mem = run_measured([peer, "--cpus", "2", known, photos])
            times[peer_name].append(time.perf_counter() - t)
            memory[peer_name] = max(memory[peer_name], mem)
            lines = [line for line in out.splitlines() if line.strip()]
            faces[peer_name] = sum(1 for line in lines if not line.endswith("no_persons_found"))
            with_face[peer_name] = len({line.rsplit(",", 1)[0] for line in lines if not line.endswith("no_persons_found")})
            for k, (options, ours_name) in enumerate(ours.items()):
                db = os.path.join(work, f"run{r}-{k}.db")
                t = time.perf_counter()
                _, mem = run_measured([sys.executable, "-m", "photoface", "index", photos, "--db", db,
                                       "--scheduler", args.scheduler, *options])
                times[ours_name].append(time.perf_counter() - t)
                memory[ours_name] = max(memory[ours_name], mem)
                with sqlite3.connect(db) as conn:
                    faces[ours_name] = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
                    with_face[ours_name] = conn.execute("SELECT count(*) FROM photos WHERE face_count > 0").fetchone()[0]
    print(f"{n} photos from {args.folder}, {args.repeats} runs each, alternating, whole commands")
    print("| command | wall s (runs) | median s | photos/s | faces/s | faces found | photos with a face | peak MB (all processes) |")
    print("|---|---|---|---|---|---|---|---|")
    med = {}
    for name, ts in times.items():
        med[name] = statistics.median(ts)
        print(f"| {name} | {', '.join(f'{t:.1f}' for t in ts)} | {med[name]:.1f} | {n / med[name]:.2f} | "
              f"{faces[name] / med[name]:.2f} | {faces[name]} | {with_face[name]} | {memory[name]:.0f} |")
    for ours_name in ours.values():
        print(f"{ours_name} is {med[peer_name] / med[ours_name]:.2f}x the peer's speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
