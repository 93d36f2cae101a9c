"""FaceNet in float32, bfloat16 and int8 (LiteRT): faces/s and LFW View 2 accuracy, in one run.

    python benchmarks/embed_precision.py evalcache/labeled-<hash>/faces.db --lfw ../shared/data/lfw [--repeats 3]

The database is the full-LFW eval cache (`photoface eval cluster --labeled
lfw-deepfunneled`); the main face of every View 2 photo is cut as photoface cuts it and
embedded with each precision. Speed: the median of ``--repeats`` passes over the 7,701
crops (already decoded and cut: FaceNet alone, one process, all cores). Accuracy: the
LFW protocol on each precision's embeddings, and how far the two embeddings of a face lie
apart. bfloat16 needs a CPU with AMX or AVX512-BF16 (`grep -o 'amx_bf16\\|avx512_bf16'
/proc/cpuinfo`) and is left out elsewhere; int8 needs ai-edge-litert. ``--batch`` sets the
batch FaceNet sees (photoface index: Settings.embed_batch).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crop_variants import main_faces  # noqa: E402

from photoface.align import margin_crop  # noqa: E402
from photoface.config import Settings  # noqa: E402
from photoface.evaluate import read_lfw_pairs, verification_report  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--lfw", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[64],
                    help="batch sizes FaceNet sees (photoface index: Settings.embed_batch); each is measured")
    ap.add_argument("--precisions", nargs="+", default=None, help="of fp32, bf16, int8 [default: each this CPU runs]")
    args = ap.parse_args()
    from photoface.models import lite, onnx_int8
    from photoface.models.facenet import FaceNetEmbedder
    from photoface.models.runtime import cpu_has_bf16

    faces = main_faces(args.db)
    pairs = read_lfw_pairs(args.lfw)
    view2 = sorted({os.path.realpath(p) for pr in pairs for p in (pr.a, pr.b)})
    missing = [p for p in view2 if p not in faces]
    if missing:
        raise SystemExit(f"{len(missing)} View 2 photos have no face in {args.db}: use an eval cache of all of LFW")
    margin = Settings().crop_margin
    crops = np.stack([margin_crop(np.asarray(Image.open(p).convert("RGB")), faces[p][0], 160, margin) for p in view2])
    row = {p: i for i, p in enumerate(view2)}
    ia = np.array([row[os.path.realpath(p.a)] for p in pairs])
    ib = np.array([row[os.path.realpath(p.b)] for p in pairs])
    out = {}
    print(f"{len(crops)} faces; {args.repeats} passes each, median")
    print("| precision | faces/s (passes) | LFW View 2 accuracy | VAL @ FAR 1e-3 | AUC |")
    print("|---|---|---|---|---|")
    precisions = args.precisions or ["fp32"] + ["bf16"] * cpu_has_bf16() + ["int8"] * lite.available() + ["int8-static"] * onnx_int8.available()
    for precision in precisions:
        net = FaceNetEmbedder(device="cpu", precision=precision)
        net.embed(crops[:512], args.batch[0])  # warm-up: past QUICK_FACES, oneDNN kernels, XNNPACK packing
        for batch in args.batch:
            rates = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                E = net.embed(crops, batch)
                rates.append(len(crops) / (time.perf_counter() - t))
            out[precision] = E
            r = verification_report(pairs, np.linalg.norm(E[ia] - E[ib], axis=1))
            label = precision if len(args.batch) == 1 else f"{precision}, batch {batch}"
            print(f"| {label} | {np.median(rates):.1f} ({', '.join(f'{x:.1f}' for x in rates)}) | "
                  f"{r['accuracy']:.4f} +- {r['accuracy_std']:.4f} | {r['val']:.4f} | {r['auc']:.5f} |", flush=True)
    for precision in [p for p in precisions if p != "fp32" and "fp32" in out]:
        d = np.linalg.norm(out["fp32"] - out[precision], axis=1)
        print(f"distance between a face's fp32 and {precision} embeddings: median {np.median(d):.4f}, max {d.max():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
