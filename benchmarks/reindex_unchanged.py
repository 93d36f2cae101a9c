"""Re-indexing a big library where nothing changed: how long `photoface index` takes.

    python benchmarks/reindex_unchanged.py [--files 100000] [--repeats 3] [--out /tmp/photoface-reindex]

Makes ``--files`` real JPEG files (one small real face photo, written under 1,000 per
folder) and a database that already holds every one of them as indexed, with its size
and modification time, as a first `photoface index` would have left it (writing the rows
directly: detecting faces in 100k photos would take hours here and is not what is
measured). Then runs the real command, `photoface index FOLDER --db DB`, in a fresh
process each time: start-up, scan (one stat per file), comparison with the database, run
bookkeeping, summary. Reported: the median wall time of ``--repeats`` runs, and for
scale, the same machine's `find FOLDER -type f | wc -l` (a walk with no database).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from PIL import Image

PHOTO = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "photos", "obama2.jpg")


def make_library(root: str, n: int) -> list[tuple[str, int, float]]:
    os.makedirs(root, exist_ok=True)
    small = os.path.join(root, ".seed.jpg")
    Image.open(PHOTO).convert("RGB").resize((160, 200)).save(small, quality=80)
    data = open(small, "rb").read()
    os.remove(small)
    rows = []
    for i in range(n):
        folder = os.path.join(root, f"{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"IMG_{i:06d}.jpg")
        if not os.path.exists(path):
            with open(path, "wb") as fh:
                fh.write(data + i.to_bytes(4, "little"))  # distinct content, still a valid JPEG
        st = os.stat(path)
        rows.append((path, st.st_size, st.st_mtime))
    return rows


def make_db(db: str, root: str, rows) -> None:
    from photoface.db import Store

    store = Store(db)
    run = store.start_run(root, {})
    with store.db.atomic():
        store.db.conn.executemany(
            "INSERT INTO photos (path, size, mtime, status, face_count, run_id, width, height) "
            "VALUES (?, ?, ?, 'indexed', 0, ?, 160, 200)", ((p, s, m, run) for p, s, m in rows))
    store.finish_run(run, "completed", {"photos_seen": len(rows), "photos_indexed": len(rows)})
    store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="/tmp/photoface-reindex")
    args = ap.parse_args()
    root = os.path.abspath(os.path.join(args.out, f"library-{args.files}"))
    db = os.path.join(args.out, f"library-{args.files}.db")
    t = time.perf_counter()
    rows = make_library(root, args.files)
    if not os.path.exists(db):
        make_db(db, root, rows)
    print(f"{args.files:,} files and their database ready in {time.perf_counter() - t:.0f} s")
    photoface = [sys.executable, "-m", "photoface"]
    walks, runs = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        subprocess.run(f"find {root} -type f | wc -l", shell=True, check=True, capture_output=True)
        walks.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run([*photoface, "index", root, "--db", db], check=True, capture_output=True, text=True)
        runs.append(time.perf_counter() - t)
    summary = [line for line in out.stdout.splitlines() if "photos seen" in line]
    print(summary[0] if summary else out.stdout.strip().splitlines()[-1])
    print(f"photoface index, nothing changed: median {statistics.median(runs):.1f} s "
          f"(runs {', '.join(f'{r:.1f}' for r in runs)}); find | wc: median {statistics.median(walks):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
