"""Where a command's start-up goes: each stage timed in a fresh process (warm file cache),
medians of several processes: the models in LiteRT (MTCNN float32, FaceNet int8), with
FaceNet in ONNX Runtime's static int8 (auto's choice on AVX2-only CPUs), and in TensorFlow (FaceNet float32, and bfloat16 where the CPU has
it), and `photoface verify` of two bundled photos as a whole command.

    python benchmarks/startup.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "photos"

STAGES = r"""
import json, sys, time
import numpy as np
t = time.perf_counter(); out = {}
from photoface.models.runtime import tensorflow, cpu_has_bf16
if sys.argv[1] == "int8":
    import ai_edge_litert.interpreter
    out["import LiteRT"] = time.perf_counter() - t
elif sys.argv[1] == "int8-static":
    import ai_edge_litert.interpreter, onnxruntime
    out["import LiteRT, ONNX Runtime"] = time.perf_counter() - t
else:
    tf = tensorflow("cpu"); out["import TensorFlow"] = time.perf_counter() - t
if sys.argv[1] == "bf16" and not cpu_has_bf16():
    print(json.dumps(None)); raise SystemExit
from photoface.models.detector import MTCNNDetector
t = time.perf_counter(); det = MTCNNDetector("cpu", runtime="litert" if sys.argv[1].startswith("int8") else "tensorflow")
out["load MTCNN"] = time.perf_counter() - t
from photoface.models.facenet import FaceNetEmbedder
t = time.perf_counter(); emb = FaceNetEmbedder(device="cpu", precision=sys.argv[1]); out["load FaceNet"] = time.perf_counter() - t
faces = np.zeros((2, 160, 160, 3), np.uint8)
t = time.perf_counter(); emb.network(faces); out["FaceNet first call (2 faces)"] = time.perf_counter() - t
t = time.perf_counter(); emb.network(faces); out["FaceNet next call (2 faces)"] = time.perf_counter() - t
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for precision in ("int8", "int8-static", "fp32", "bf16"):
        runs = []
        for _ in range(args.repeats):
            done = subprocess.run([sys.executable, "-c", STAGES, precision], capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if runs[0] is None:
            print(f"{precision}: this CPU has no bfloat16 instructions")
            continue
        runtime = {"int8": "LiteRT", "int8-static": "ONNX Runtime (MTCNN in LiteRT)"}.get(precision, "TensorFlow")
        print(f"{runtime}, FaceNet {precision}, medians of {args.repeats} fresh processes:")
        for stage in runs[0]:
            print(f"  {stage:<32} {statistics.median(r[stage] for r in runs):6.2f} s")
    whole = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "photoface", "verify", str(PHOTOS / "obama.jpg"),
                        str(PHOTOS / "obama2.jpg")], capture_output=True, check=True)
        whole.append(time.perf_counter() - t)
    print(f"photoface verify (two photos): median {statistics.median(whole):.2f} s "
          f"({', '.join(f'{w:.2f}' for w in whole)})")


if __name__ == "__main__":
    main()
