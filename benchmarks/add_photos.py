"""A user adds a few new photos to an existing library: `photoface index` (then `photoface
cluster`) over a folder of --base indexed photos plus --add new ones, whole commands, a
fresh copy of the library and other new photos each repeat; medians.

    python benchmarks/add_photos.py FOLDER [--base 100] [--add 20] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scheduler_sizes import photos


def run(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "photoface", *args], check=True, capture_output=True,
                          text=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--base", type=int, default=100)
    ap.add_argument("--add", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    found = photos(args.folder)
    if len(found) < args.base + args.add * args.repeats:
        raise SystemExit(f"{args.folder} holds {len(found)} photos, fewer than {args.base + args.add * args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        lib, base_db, db = Path(tmp) / "lib", os.path.join(tmp, "base.db"), os.path.join(tmp, "run.db")
        lib.mkdir()
        for i, p in enumerate(found[:args.base]):
            os.symlink(p.resolve(), lib / f"a{i:05d}{p.suffix.lower()}")
        run("index", str(lib), "--db", base_db, "--no-progress")
        run("cluster", "--db", base_db)
        index_s, total_s = [], []
        for rep in range(args.repeats):
            shutil.copy(base_db, db)
            for f in lib.glob("b*"):
                f.unlink()
            start = args.base + rep * args.add
            for i, p in enumerate(found[start:start + args.add]):
                os.symlink(p.resolve(), lib / f"b{i:05d}{p.suffix.lower()}")
            t = time.perf_counter()
            summary = run("index", str(lib), "--db", db, "--no-progress").splitlines()[0]
            index_s.append(time.perf_counter() - t)
            run("cluster", "--db", db)
            total_s.append(time.perf_counter() - t)
            print(f"{summary}: index {index_s[-1]:.1f} s, index + cluster {total_s[-1]:.1f} s", flush=True)
    print(f"{args.add} new photos into a library of {args.base}: index median {statistics.median(index_s):.1f} s, "
          f"index + cluster median {statistics.median(total_s):.1f} s")


if __name__ == "__main__":
    main()
