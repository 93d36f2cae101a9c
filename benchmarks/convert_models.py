"""The one-time conversions of FaceNet for the CPU, each in a fresh process with an empty
model cache: seconds and peak memory (the process's maximum resident set).

    python benchmarks/convert_models.py [--precisions int8 int8-static] [--repeats 2]

int8 is LiteRT's (TensorFlow's converter), int8-static ONNX Runtime's (tf2onnx, then ONNX
Runtime's quantiser; models/onnx_int8.py). A conversion happens the first time a machine
embeds in that precision; its peak is what a small machine, or test processes converting
side by side, must hold.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from photoface.models.facenet import FaceNetEmbedder
t0 = time.perf_counter()
FaceNetEmbedder(device="cpu", precision=sys.argv[1])
print(json.dumps({"s": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precisions", nargs="+", default=["int8", "int8-static"])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    for precision in args.precisions:
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="photoface-convert-") as cache:
                done = subprocess.run([sys.executable, "-c", CHILD, precision], capture_output=True, text=True,
                                      env={**os.environ, "PHOTOFACE_MODEL_CACHE": cache}, check=False)
                if done.returncode:
                    print(done.stderr[-2000:], file=sys.stderr)
                    return 1
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        each = "; ".join(f"{r['s']:.1f} s, {r['peak_mb']:.0f} MB" for r in runs)
        print(f"{precision:12s} {statistics.median(r['s'] for r in runs):6.1f} s  "
              f"peak {statistics.median(r['peak_mb'] for r in runs):6.0f} MB  (runs: {each})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
