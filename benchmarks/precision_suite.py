"""Clustering quality with FaceNet in each precision: every set of the clustering suite, its
faces cut once and embedded in float32, bfloat16 (where the CPU has it), int8 (LiteRT) and
static int8 (ONNX Runtime),
then clustered by photoface with the defaults and scored (BCubed and pairwise F1).

    python benchmarks/precision_suite.py SETS [--lfw ../shared/data/lfw/lfw-deepfunneled] [--cache DIR] [--only SET ...]
        [--perturb 0.016 --seeds 48]

The faces are the ones `cluster_suite.py` indexed into the cache (run it first): the same
boxes for every precision, cut as `photoface index` cuts them, so only FaceNet's arithmetic
differs. The issue's bar: BCubed F1 within 0.005 of float32 on every set.

With ``--perturb D`` each precision's score is also the mean over ``--seeds`` runs with
every embedding moved by a random vector of median length D (the same vectors for every
precision): on sets whose float32 clustering sits on an edge (a face or two that any change
moves), one run's difference says more about that edge than about the precision, and the
mean over small perturbations is the expected score of a library like it
(docs/performance.md, "How fine the clustering bar is").
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_suite import ORDER, expected_f1  # noqa: E402

from photoface.align import margin_crop  # noqa: E402
from photoface.config import ClusterSettings, Settings  # noqa: E402
from photoface.db import open_store  # noqa: E402
from photoface.evaluate import cache_dir, cache_key, cluster_report, labeled_faces  # noqa: E402
from photoface.pipeline import decode, read_file  # noqa: E402
from photoface.types import Detection  # noqa: E402


def crops_of(folder: str, cache: str | None) -> tuple[dict, np.ndarray, np.ndarray]:
    """The set's face table and truth (from the cache) and every face's crop, in table order."""
    db = os.path.join(cache_dir(cache), "labeled-" + cache_key([os.path.abspath(folder)]), "faces.db")
    if not os.path.isfile(db):
        raise SystemExit(f"{folder} is not indexed in the cache: run cluster_suite.py first")
    table, truth = labeled_faces(folder, cache, lambda root, db: None)
    with open_store(db) as store:
        boxes = {fid: (x1, y1, x2, y2, score, json.loads(lm or "[]")) for fid, x1, y1, x2, y2, score, lm in
                 store.db.execute("SELECT id, x1, y1, x2, y2, score, landmarks FROM faces").fetchall()}
    s = Settings()
    crops = np.empty((len(table["id"]), s.crop_size_px, s.crop_size_px, 3), np.uint8)
    order = np.argsort(table["path"].astype(str), kind="stable")
    last, decoded = None, None
    for i in order:
        if table["path"][i] != last:
            last, decoded = table["path"][i], decode(read_file(table["path"][i]), s)
        x1, y1, x2, y2, score, lm = boxes[int(table["id"][i])]
        det = Detection(x1, y1, x2, y2, score, tuple(tuple(p) for p in lm))
        crops[i] = margin_crop(decoded.rgb, det.scaled(1.0 / decoded.scale), s.crop_size_px, s.crop_margin)
    return table, truth, crops


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets")
    ap.add_argument("--lfw", help="all of LFW (lfw-deepfunneled), as cluster_suite.py --lfw")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--only", nargs="*", help="these sets only")
    ap.add_argument("--perturb", type=float, default=0.0,
                    help="also score each precision as the mean over --seeds random moves of this median length")
    ap.add_argument("--seeds", type=int, default=48)
    args = ap.parse_args()
    from photoface.models import lite, onnx_int8
    from photoface.models.facenet import FaceNetEmbedder
    from photoface.models.runtime import cpu_has_bf16

    folders = {name: os.path.join(args.sets, name) for name in ORDER if os.path.isdir(os.path.join(args.sets, name))}
    if args.lfw:
        folders["lfw_all"] = args.lfw
    precisions = ["fp32"] + ["bf16"] * cpu_has_bf16() + ["int8"] * lite.available() + ["int8-static"] * onnx_int8.available()
    nets = {p: FaceNetEmbedder(device="cpu", precision=p) for p in precisions}
    smoothed = ([f"{p} mean over moves" for p in precisions] + [f"{p} - fp32 (moves)" for p in precisions[1:]]
                if args.perturb > 0 else [])
    print("| set | faces | " + " | ".join(f"{p} BCubed F1 | {p} pairwise F1" for p in precisions)
          + " | " + " | ".join([f"{p} - fp32" for p in precisions[1:]] + smoothed) + " |")
    print("|---|---" + "|---|---" * len(precisions) + "|---" * (len(precisions) - 1 + len(smoothed)) + "|")
    for name in [n for n in ORDER if n in folders and (not args.only or n in args.only)]:
        table, truth, crops = crops_of(folders[name], args.cache)
        f1, mean, cells, moved_cells = {}, {}, [], []
        for p in precisions:
            embeddings = nets[p].embed(crops)
            table["X"] = table["C"] = embeddings  # FaceNet's precision alone (dlib's network runs in float32)
            row = cluster_report(table, truth, ClusterSettings(), anchors=False)["results"][0]
            f1[p] = row["bcubed_f1"]
            cells.append(f"{row['bcubed_f1']:.4f} | {row['pairwise_f1']:.4f}")
            if args.perturb > 0:
                mean[p], se = expected_f1(table, truth, ClusterSettings(), args.perturb, args.seeds)["photoface"]
                moved_cells.append(f"{mean[p]:.4f} +- {se:.4f}")
        extra = moved_cells + [f"{mean[p] - mean['fp32']:+.4f}" for p in precisions[1:] if p in mean]
        print(f"| {name} | {len(crops)} | " + " | ".join(cells) + " | "
              + " | ".join([f"{f1[p] - f1['fp32']:+.4f}" for p in precisions[1:]] + extra) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
