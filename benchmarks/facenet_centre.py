"""Compute the FaceNet centre photoface subtracts from every embedding.

    python benchmarks/facenet_centre.py evalcache/labeled-<hash>/faces.db --lfw ../shared/data/lfw \
        [--margin 0.20] [--out src/photoface/models/facenet_centre.npy]

FaceNet's 512-d outputs share a common offset: the mean of many people's faces is far
from the origin, so part of every distance measures nothing about identity. Subtracting
that mean before normalizing separates people better (docs/quality.md). The centre is the
mean over people of each person's mean raw FaceNet output, over the main face of every
LFW photo outside the View 2 test pairs (2,030 people), cut the way photoface cuts faces
(a margin crop of ``--margin``). Each person weighs the same: a plain mean over photos
leans towards the few people with hundreds of photos (George W. Bush has 530), and
subtracting it pulls exactly their faces apart (docs/quality.md has the numbers). The
detections come from an eval cache (``photoface eval cluster --labeled
lfw-deepfunneled``), so nothing here is tuned on the test pairs.
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
from photoface.evaluate import read_lfw_pairs  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--lfw", required=True)
    ap.add_argument("--margin", type=float, default=0.20)
    ap.add_argument("--out", default="facenet_centre.npy")
    args = ap.parse_args()
    from photoface.models.facenet import FaceNetEmbedder

    faces = main_faces(args.db)
    view2 = {os.path.realpath(p) for pr in read_lfw_pairs(args.lfw) for p in (pr.a, pr.b)}
    photos = sorted(p for p in faces if p not in view2)
    net = FaceNetEmbedder(precision="fp32")  # the reference arithmetic
    t = time.perf_counter()
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for start in range(0, len(photos), 256):
        chunk = photos[start:start + 256]
        crops = [margin_crop(np.asarray(Image.open(p).convert("RGB")), faces[p][0], 160, args.margin) for p in chunk]
        for p, raw in zip(chunk, net.network(np.stack(crops)).astype(np.float64)):
            person = os.path.basename(os.path.dirname(p))
            sums[person] = sums.get(person, 0.0) + raw
            counts[person] = counts.get(person, 0) + 1
    centre = np.mean([sums[k] / counts[k] for k in sums], axis=0).astype(np.float32)
    np.save(args.out, centre)
    print(f"centre of {len(photos)} LFW faces of {len(sums)} people outside View 2 (margin {args.margin:.2f}, "
          f"each person weighing the same): length {np.linalg.norm(centre):.4f}, "
          f"{time.perf_counter() - t:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
