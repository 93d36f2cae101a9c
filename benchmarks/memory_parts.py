"""Where an indexing process's memory goes: resident memory (VmRSS) after each step of
what a worker does, and the peak (VmHWM) after indexing photos, in one fresh process.

    python benchmarks/memory_parts.py FOLDER [--limit 200] [--precision auto]

Steps: Python with photoface's pipeline imported (numpy, OpenCV, Pillow), Dask's
distributed worker imported, MTCNN loaded, FaceNet loaded, then FOLDER's first N photos
indexed through `pipeline.index_files` (decode, detect, crop, embed; no database).
"""
from __future__ import annotations

import argparse


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    steps = [("python + photoface pipeline imported", None)]
    from photoface import pipeline
    from photoface.config import Settings
    from photoface.models import get_detector, get_embedder
    from photoface.scan import scan

    steps[0] = (steps[0][0], rss_mb())
    import distributed  # noqa: F401  (what a worker process holds besides)

    steps.append(("dask.distributed imported", rss_mb()))
    spec = pipeline.PipelineSpec.from_settings(Settings(embed_precision=args.precision))
    get_detector(spec.detector)
    steps.append(("MTCNN loaded", rss_mb()))
    get_embedder(spec.embedder)
    steps.append(("FaceNet loaded", rss_mb()))
    items = [item for _, item in zip(range(args.limit), scan(args.folder))]
    results = pipeline.index_files(items, spec)
    steps.append((f"{len(items)} photos indexed ({sum(len(r.faces) for r in results)} faces)", rss_mb()))
    steps.append(("peak (VmHWM)", rss_mb("VmHWM")))
    print("| step | resident MB |")
    print("|---|---|")
    for name, mb in steps:
        print(f"| {name} | {mb:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
