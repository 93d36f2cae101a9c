"""Throughput and memory of `photoface index` on a folder of real photos.

    python benchmarks/index_throughput.py FOLDER [--limit N] [--workers 2] [--repeats 3]

Copies (hard-links) the first N images of FOLDER (recursively, sorted) into a scratch
folder, then indexes it from scratch `--repeats` times on a LocalCluster started here,
and prints photos/s and faces/s (model loading excluded: the cluster is warmed on a few
photos first; the medians are quoted), plus peak resident memory of each worker process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from photoface import api
from photoface.config import Settings
from photoface.scan import scan


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=Settings().partition_size)
    args = parser.parse_args()

    from dask.distributed import Client, LocalCluster

    files = [item.path for item in scan(args.folder)][: args.limit]
    with tempfile.TemporaryDirectory() as scratch:
        lib = Path(scratch) / "lib"
        lib.mkdir()
        for i, src in enumerate(files):
            os.link(src, lib / f"{i:06d}{Path(src).suffix}")
        warm = Path(scratch) / "warm"
        warm.mkdir()
        for i, src in enumerate(files[:4]):
            os.link(src, warm / f"{i}{Path(src).suffix}")
        settings = Settings(partition_size=args.batch_size)
        runs = []
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, memory_limit=0) as cluster, Client(cluster) as client:
            address = cluster.scheduler_address
            api.index(str(warm), str(Path(scratch) / "warm.db"), scheduler=address, settings=settings)
            for r in range(args.repeats):
                db = Path(scratch) / f"run{r}.db"
                t0 = time.monotonic()
                s = api.index(str(lib), str(db), scheduler=address, settings=settings)
                wall = time.monotonic() - t0
                runs.append({"photos": s.photos_indexed + s.photos_failed, "faces": s.faces_found,
                             "failed": s.photos_failed, "wall_s": round(wall, 2),
                             "photos_per_s": round((s.photos_indexed + s.photos_failed) / wall, 2),
                             "faces_per_s": round(s.faces_found / wall, 2)})
                print(json.dumps(runs[-1]), flush=True)
            worker_rss = client.run(peak_rss_mb)
        report = {
            "folder": args.folder, "photos": len(files), "workers": args.workers, "cores": os.cpu_count(),
            "median_photos_per_s": statistics.median(r["photos_per_s"] for r in runs),
            "median_faces_per_s": statistics.median(r["faces_per_s"] for r in runs),
            "peak_rss_mb_per_worker": sorted(round(v) for v in worker_rss.values()),
            "client_peak_rss_mb": round(peak_rss_mb()),
            "runs": runs,
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
