"""Face detection on one thread: photoface's MTCNN cascade against the mtcnn package's own.

    python benchmarks/detect_speed.py [--lfw ../shared/data/lfw --photos 1500] [--repeats 7]

Table 1: the group photo the tests compose from three committed photos, resized to each
size, median milliseconds of ``--repeats`` runs per detector, alternating, faces found.
Table 2 (with --lfw): ``--photos`` random LFW photos (seed 1) at full size: in how many the
photo's own face (the one covering the centre, LFW's subject) is found, how many faces in
all (score >= 0.80, shorter side >= 20 px, as photoface keeps them) and ms per photo.
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import statistics
import sys
import time

import cv2
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from conftest import PHOTOS, compose_group  # noqa: E402

from photoface.models.runtime import tensorflow  # noqa: E402

MIN_SCORE, MIN_FACE = 0.80, 20


def package_detect(package, rgb: np.ndarray, min_face: int = MIN_FACE) -> list[tuple]:
    rows = np.asarray(package.detect_faces(rgb, box_format="xyxy", output_type="numpy", min_face_size=20),
                      dtype=np.float64).reshape(-1, 16)
    return [tuple(r[1:5]) for r in rows if r[5] >= MIN_SCORE and min(r[3] - r[1], r[4] - r[2]) >= min_face]


def ours_detect(detector, rgb: np.ndarray, min_face: int = MIN_FACE) -> list[tuple]:
    return [(d.x1, d.y1, d.x2, d.y2) for d in detector.detect(rgb, min_face, MIN_SCORE)]


def timed(fn, repeats: int) -> tuple[float, list]:
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", help="LFW folder (with lfw-deepfunneled/) for the recall table")
    ap.add_argument("--photos", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cv2.setNumThreads(1)
    tensorflow("cpu", 1)
    from mtcnn import MTCNN

    from photoface.models.detector import MTCNNDetector

    ours, package = MTCNNDetector("cpu", 1), MTCNN(device="CPU:0")  # ours: LiteRT where installed
    graphs = MTCNNDetector("cpu", 1, runtime="tensorflow")
    cwd = os.getcwd()
    os.chdir(PHOTOS)
    group = np.asarray(compose_group(["astronaut.jpg", "biden.jpg", "obama2.jpg"]).convert("RGB"))
    os.chdir(cwd)
    print(f"| size | --min-face | photoface ({ours.runtime}) ms | faces | photoface (tensorflow) ms | faces "
          "| mtcnn package ms | faces | speed-up over the package |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (w, h), min_face in (((1000, 700), 20), ((1000, 700), 40), ((640, 448), 20), ((250, 250), 20)):
        rgb = cv2.resize(group, (w, h), interpolation=cv2.INTER_AREA)
        a, got = timed(lambda: ours_detect(ours, rgb, min_face), args.repeats)
        g, by_graphs = timed(lambda: ours_detect(graphs, rgb, min_face), args.repeats)
        b, want = timed(lambda: package_detect(package, rgb, min_face), args.repeats)
        print(f"| {w}x{h} | {min_face} | {a:.1f} | {len(got)} | {g:.1f} | {len(by_graphs)} | {b:.1f} | {len(want)} "
              f"| {b / a:.1f}x |")
    if not args.lfw:
        return 0
    random.seed(1)
    paths = sorted(glob.glob(os.path.join(args.lfw, "lfw-deepfunneled", "*", "*.jpg")))
    paths = random.sample(paths, min(args.photos, len(paths)))
    stats = {"photoface": [0, 0, 0.0], "mtcnn package": [0, 0, 0.0]}
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        h, w = rgb.shape[:2]
        for name, fn in (("photoface", lambda: ours_detect(ours, rgb)), ("mtcnn package", lambda: package_detect(package, rgb))):
            t0 = time.perf_counter()
            boxes = fn()
            stats[name][2] += time.perf_counter() - t0
            stats[name][0] += any(b[0] <= w / 2 <= b[2] and b[1] <= h / 2 <= b[3] for b in boxes)
            stats[name][1] += len(boxes)
    print(f"\n| {len(paths)} LFW photos | subject's face found | faces found | ms per photo |")
    print("|---|---|---|---|")
    for name, (centre, faces, secs) in stats.items():
        print(f"| {name} | {centre} | {faces} | {secs / len(paths) * 1000:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
