"""Measure the activation ranges of static int8 FaceNet (models/onnx_int8.py) on faces of many kinds.

    python benchmarks/calibrate_int8.py SETS [--cache DIR] [--per-set 80] [--out src/photoface/models/facenet_int8_ranges.json]

The faces are the clustering suite's (run `cluster_suite.py` first): from every set but the
held-out one (bbt) and all of LFW (its 13,233 photos are represented by lfw_subset),
``--per-set`` faces drawn at random (seed 0) from each, every face of a photo counted,
strangers in group photos and small background faces too, cut as `photoface index` cuts
them. FaceNet in float32 runs on them and ONNX Runtime keeps each tensor's smallest and
largest value (its MinMax calibration); the result is ONNX Runtime's calibration cache,
which ships with photoface, so a user's machine quantises with these ranges and measures
nothing itself. Quality with the ranges: `embed_precision.py` (LFW View 2) and
`precision_suite.py` (BCubed F1 on every set, the held-out set included).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_suite import HELD_OUT, ORDER  # noqa: E402
from precision_suite import crops_of  # noqa: E402

from photoface.models import facenet, onnx_int8  # noqa: E402
from photoface.models.runtime import tensorflow  # noqa: E402
from photoface.models.weights import FACENET_PB, locate  # noqa: E402


def set_crops(folder: str, cache: str | None) -> np.ndarray:
    """The set's face crops from whichever CPU precision's eval cache holds it (the boxes
    do not depend on FaceNet's arithmetic)."""
    real = facenet.choose_precision
    for precision in (None, "int8", "int8-static", "fp32"):
        if precision:
            facenet.choose_precision = lambda *a, p=precision, **k: p
        try:
            return crops_of(folder, cache)[2]
        except SystemExit:
            continue
        finally:
            facenet.choose_precision = real
    raise SystemExit(f"{folder} is not indexed in the cache: run cluster_suite.py first")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--per-set", type=int, default=80)
    ap.add_argument("--out", default=str(onnx_int8.RANGES_PATH))
    ap.add_argument("--method", default="MinMax", choices=("MinMax", "Percentile", "Entropy"),
                    help="ONNX Runtime's calibration method")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    picked = []
    for name in ORDER:
        folder = os.path.join(args.sets, name)
        if name in (HELD_OUT, "lfw_all") or not os.path.isdir(folder):
            continue
        crops = set_crops(folder, args.cache)
        take = rng.choice(len(crops), min(args.per_set, len(crops)), replace=False)
        picked.append(crops[np.sort(take)])
        print(f"{name}: {len(take)} of {len(crops)} faces", flush=True)
    batches = facenet.preprocess(np.concatenate(picked))
    print(f"{len(batches)} faces in all", flush=True)

    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            # batches of one size (the histogram methods stack them): the largest divisor <= 16
            size = max(d for d in range(1, 17) if len(batches) % d == 0)
            self._batches = iter([{"input:0": batches[i:i + size]} for i in range(0, len(batches), size)])

        def get_next(self):
            return next(self._batches, None)

    out = Path(args.out)
    out.unlink(missing_ok=True)
    graph_def = facenet.read_graph(locate(FACENET_PB, None), tensorflow("cpu"))
    with tempfile.TemporaryDirectory(prefix="photoface-calibrate-") as folder:
        ready = onnx_int8.float_model(graph_def, folder)
        onnx_int8.quantise(ready, os.path.join(folder, "int8.onnx"), out, Reader(), args.method)
    out.chmod(0o644)  # written through a private temporary file
    print(f"ranges of {len(__import__('json').loads(out.read_text())['data'])} tensors written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
