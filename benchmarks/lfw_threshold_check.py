"""Check the same-person distance threshold on LFW pairs (a quick check, not the full 10-fold protocol).

    python benchmarks/lfw_threshold_check.py LFW_DIR [--folds 1] [--db lfw.db]

Indexes the photos of the first N folds of LFW's pairs.txt with photoface's own detection
and alignment, takes the face nearest the centre of each 250x250 photo, and prints the
accuracy at photoface.config.SAME_PERSON_DISTANCE and the best threshold on those pairs.
Photos where no face is found are counted and reported (their pairs are scored as errors).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from photoface import api
from photoface.config import SAME_PERSON_DISTANCE
from photoface.db import Store


def read_pairs(path: Path, folds: int):
    lines = path.read_text().split("\n")
    n_folds, per = map(int, lines[0].split())
    pairs, i = [], 1
    for _ in range(folds):
        for kind in ("same", "diff"):
            for _ in range(per):
                p = lines[i].split()
                i += 1
                if kind == "same":
                    pairs.append(((p[0], int(p[1])), (p[0], int(p[2])), True))
                else:
                    pairs.append(((p[0], int(p[1])), (p[2], int(p[3])), False))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lfw")
    ap.add_argument("--folds", type=int, default=1)
    ap.add_argument("--db", default=None)
    args = ap.parse_args()
    lfw = Path(args.lfw)
    pairs = read_pairs(lfw / "pairs.txt", args.folds)
    images = sorted({p for a, b, _ in pairs for p in (a, b)})
    with tempfile.TemporaryDirectory() as scratch:
        lib = Path(scratch) / "lib"
        for name, num in images:
            (lib / name).mkdir(parents=True, exist_ok=True)
            src = lfw / "lfw-deepfunneled" / name / f"{name}_{num:04d}.jpg"
            os.link(src, lib / name / src.name)
        db = args.db or str(Path(scratch) / "lfw.db")
        summary = api.index(str(lib), db)
        store = Store(db)
        central = {}
        for f in store.iter_faces():
            key = os.path.relpath(f["path"], lib)
            d = abs((f["x1"] + f["x2"]) / 2 - 125) + abs((f["y1"] + f["y2"]) / 2 - 125)
            if key not in central or d < central[key][0]:
                central[key] = (d, f["embedding"])
        store.close()
    dist, same, missing = [], [], 0
    for a, b, is_same in pairs:
        ka, kb = (f"{n}/{n}_{i:04d}.jpg" for n, i in (a, b))
        if ka not in central or kb not in central:
            missing += 1
            dist.append(np.inf if is_same else -np.inf)  # scored as an error
        else:
            dist.append(float(np.linalg.norm(central[ka][1] - central[kb][1])))
        same.append(is_same)
    dist, same = np.array(dist), np.array(same)
    acc = lambda t: float(((dist < t) == same).mean())
    grid = np.arange(0.5, 1.6, 0.005)
    best = max(grid, key=acc)
    print(json.dumps({
        "pairs": len(pairs), "photos": len(images), "photos_without_face": len(images) - len(central),
        "pairs_with_a_missing_face": missing, "faces_found": summary.faces_found,
        "threshold": SAME_PERSON_DISTANCE, "accuracy_at_threshold": round(acc(SAME_PERSON_DISTANCE), 4),
        "best_threshold_on_these_pairs": round(float(best), 3), "best_accuracy": round(acc(best), 4),
    }, indent=2))


if __name__ == "__main__":
    main()
