"""FaceNet's two int8 forms side by side on this CPU: LiteRT's int8 (XNNPACK) and ONNX
Runtime's static int8 (MLAS), faces/s for each thread count, and whether this CPU gives
the same embeddings as a reference CPU. It needs the two runtimes and the two converted
models only (not photoface, not TensorFlow), so it also runs on a machine where nothing
else is installed: that is how the 16-core Xeon in docs/performance.md was measured.

    python benchmarks/int8_runtimes.py [--models DIR] [--threads 1 2 16] [--reference ref.npz]

DIR holds photoface's model cache (``facenet-int8-*.tflite`` and
``facenet-int8-static-*.onnx``, made by the first `photoface index` in each precision, or
the same names compressed with xz). The faces are 64 LFW-sized crops
(``--faces faces.npz``, array ``faces`` of uint8 160x160 RGB) or, without it, fixed random
pixels: int8's speed does not depend on what is in the picture. ``--reference`` names the
embeddings of another CPU (written there by ``--save``): each runtime's embeddings are
compared exactly.
"""
from __future__ import annotations

import argparse
import glob
import json
import lzma
import os
import statistics
import tempfile
import time

import numpy as np


def _model(folder: str, pattern: str) -> str:
    found = sorted(glob.glob(os.path.join(folder, pattern))) or sorted(glob.glob(os.path.join(folder, pattern + ".xz")))
    if not found:
        raise SystemExit(f"no {pattern} in {folder}: index once with that precision, or pass --models")
    path = found[-1]
    if path.endswith(".xz"):
        out = os.path.join(tempfile.gettempdir(), os.path.basename(path)[:-3])
        with lzma.open(path) as src, open(out, "wb") as dst:
            dst.write(src.read())
        path = out
    return path


def litert(path: str, threads: int, shape):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, num_threads=threads)
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    it.resize_tensor_input(i, shape)
    it.allocate_tensors()

    def run(batch):
        it.set_tensor(i, batch)
        it.invoke()
        return it.get_tensor(o).copy()
    return run


def onnx_static(path: str, threads: int, shape):
    import onnxruntime as ort

    options = ort.SessionOptions()  # as models/onnx_int8.OnnxRunner opens it
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def cpu() -> dict:
    flags, name = set(), "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and name == "unknown":
                    name = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    return {"cpu": name, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags]}


def main() -> int:
    default_cache = os.environ.get("PHOTOFACE_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "photoface", "models")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=default_cache)
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="[default: 1, 2 and every core]")
    ap.add_argument("--faces", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reference", default=None, help="embeddings from another CPU (--save there)")
    ap.add_argument("--save", default=None, help="write this CPU's embeddings here")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    if args.faces:
        faces = np.load(args.faces)["faces"]
    else:
        faces = np.random.default_rng(0).integers(0, 256, (64, 160, 160, 3), dtype=np.uint8)
    batch = (faces.astype(np.float32) - 127.5) / 128.0  # models/facenet.preprocess
    paths = {"litert-int8": _model(args.models, "facenet-int8-[0-9a-f]*.tflite"),
             "ort-int8-static": _model(args.models, "facenet-int8-static-*.onnx")}
    opens = {"litert-int8": litert, "ort-int8-static": onnx_static}
    report = {**cpu(), "faces": len(batch), "runs": []}
    embeddings = {}
    for threads in sorted(set(args.threads or [1, 2, os.cpu_count() or 1])):
        runners = {name: opens[name](paths[name], threads, batch.shape) for name in paths}
        for name, run in runners.items():
            embeddings[name] = run(batch)  # the first call: warm-up
        times = {name: [] for name in runners}
        for _ in range(args.repeats):  # alternating, so both see the same hour of a shared machine
            for name, run in runners.items():
                t0 = time.perf_counter()
                run(batch)
                times[name].append(time.perf_counter() - t0)
        row = {"threads": threads, **{n: round(len(batch) / statistics.median(t), 1) for n, t in times.items()}}
        row["static/litert"] = round(row["ort-int8-static"] / row["litert-int8"], 2)
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
    if args.save:
        np.savez(args.save, **embeddings)
    if args.reference:
        ref = np.load(args.reference)
        report["same_as_reference"] = {n: bool(np.array_equal(ref[n], e)) for n, e in embeddings.items()}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
