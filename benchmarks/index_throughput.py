"""Throughput and memory of `photoface index` on a folder of real photos.

    python benchmarks/index_throughput.py FOLDER [--limit N] [--workers 2] [--repeats 3]
    python benchmarks/index_throughput.py FOLDER --limit 2000 --workers 1 2 --repeats 3

Copies (hard-links) the first N images of FOLDER (recursively, sorted) into a scratch
folder, then indexes it from scratch `--repeats` times on a cluster of `--workers` worker
processes (for each count given), and prints photos/s and faces/s (model loading
excluded: every worker is warmed first; medians are quoted), plus the peak resident
memory of each worker process. With several worker counts the clusters take turns run by
run (the idle one holds its memory, not the cores), so the machine's noise falls on all
of them, and the ratio of each median to the first is printed. TensorFlow threads per
worker are set as `photoface index` sets them (the cores shared among the workers).

Each cluster is a `dask scheduler` and a `dask worker --nworkers N --nthreads 1` started
as processes of their own, and each run is `api.index(..., scheduler=ADDRESS)`, one
client at a time in this process: an existing cluster, as a user points photoface at
one. (Clusters and clients held side by side in one process hit a tornado write-buffer
assertion in dask.distributed's client and hung.)
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import cloudpickle
from dask.distributed import Client

from photoface import api, parallel
from photoface.config import Settings
from photoface.pipeline import PipelineSpec
from photoface.scan import scan


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm(spec) -> None:
    """Load and run the detector and FaceNet once in this worker (what a first photo does)."""
    import numpy as np

    from photoface.models import get_model

    get_model(spec.detector).detect(np.full((240, 320, 3), 128, np.uint8), spec.settings.min_face_px)
    get_model(spec.embedder).embed(np.zeros((1, spec.settings.crop_size_px, spec.settings.crop_size_px, 3), np.uint8))


@contextmanager
def cluster(n: int, settings: Settings):
    """A scheduler and ``n`` single-threaded worker processes on this machine, each worker
    warmed -> the scheduler's address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--dashboard-address", "127.0.0.1:0"], **quiet)]
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
                                       str(n), "--nthreads", "1", "--memory-limit", "0", "--no-dashboard"], **quiet))
        # warm() travels by value: the workers cannot import this script
        cloudpickle.register_pickle_by_value(sys.modules[warm.__module__])
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n, timeout=120)
            client.run(warm, PipelineSpec.from_settings(settings, parallel.threads_per_worker(n)))
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=Settings().partition_size)
    args = parser.parse_args()

    files = [item.path for item in scan(args.folder)][: args.limit]
    settings = Settings(partition_size=args.batch_size)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        lib = Path(scratch) / "lib"
        lib.mkdir()
        for i, src in enumerate(files):
            os.link(src, lib / f"{i:06d}{Path(src).suffix}")
        clusters = {n: stack.enter_context(cluster(n, settings)) for n in args.workers}
        runs = {n: [] for n in args.workers}
        for r in range(args.repeats):
            for n, address in clusters.items():
                db = Path(scratch) / f"run{n}-{r}.db"
                t0 = time.monotonic()
                s = api.index(str(lib), str(db), scheduler=address, settings=settings)
                wall = time.monotonic() - t0
                runs[n].append({"workers": n, "photos": s.photos_indexed + s.photos_failed, "faces": s.faces_found,
                                "failed": s.photos_failed, "wall_s": round(wall, 2),
                                "photos_per_s": round((s.photos_indexed + s.photos_failed) / wall, 2),
                                "faces_per_s": round(s.faces_found / wall, 2)})
                print(json.dumps(runs[n][-1]), flush=True)
        first = statistics.median(r["photos_per_s"] for r in runs[args.workers[0]])
        for n, address in clusters.items():
            median = statistics.median(r["photos_per_s"] for r in runs[n])
            with Client(address, timeout="20s") as client:
                rss = client.run(peak_rss_mb)
            report = {
                "folder": args.folder, "photos": len(files), "workers": n, "cores": os.cpu_count(),
                "median_photos_per_s": median,
                "median_faces_per_s": statistics.median(r["faces_per_s"] for r in runs[n]),
                f"vs_{args.workers[0]}_workers": round(median / first, 3),
                "peak_rss_mb_per_worker": sorted(round(v) for v in rss.values()),
                "client_peak_rss_mb": round(peak_rss_mb()),
                "photos_per_s_runs": [r["photos_per_s"] for r in runs[n]],
            }
            print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
