"""LFW View 2 accuracy of other crops, test-time flips and centring, on photoface's own detections.

    photoface eval cluster --labeled ../shared/data/lfw/lfw-deepfunneled --cache evalcache --no-anchors
    python benchmarks/crop_variants.py evalcache/labeled-<hash>/faces.db --lfw ../shared/data/lfw \\
        [--variants m30 m20 warp ...] [--flip m30 m20 ...] [--box detected|onet2|mirror|avg-onet2|avg-mirror] \\
        [--out crops-cache]

The database is the full-LFW eval cache (every LFW photo indexed by photoface); its
detections (box, five landmarks) are kept, and for each variant the main face of every
View 2 photo is cut again and embedded with FaceNet (about 2 minutes per variant on 2
cores; embeddings are cached in --out). Variants: ``mNN`` is the margin crop with NN%
margin (photoface uses 20); ``warp`` is a 5-point similarity alignment to the mean
landmark layout of the 30% crops (mirrored to be symmetric). Each is scored on FaceNet's raw
output, with a horizontal flip (embeddings summed, or concatenated), and centred: the mean
embedding of the training folds subtracted before the distance (the facenet repository's
recipe, as its validate_on_lfw.py runs with --subtract_mean: the mean over the training pairs'
two embeddings, then angular distance), or a fixed centre (the mean raw output for the LFW
photos outside View 2, as stored in the cache: photoface's own crop, whatever the variant;
with a database of View 2 photos only, such as `photoface eval pairs` makes, the centre
photoface ships). ``--box`` cuts around another box than the detected one: ``onet2``, the
detected box squared and refined by O-Net once more; ``mirror``, the box found in the
mirrored photo, mirrored back (the overlapping one, IoU > 0.5); ``avg-...``, the mean of
the detected box and that one (does a less noisy box help?). The row "m20, flip,
concatenated" centred on training folds is the published recipe for this model
(validate_on_lfw.py --use_flipped_images --subtract_mean --distance_metric 1
--use_fixed_image_standardization) on photoface's own detections.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time

import cv2
import numpy as np
from PIL import Image

from photoface.align import margin_crop
from photoface.config import FACENET_MODEL
from photoface.evaluate import _accuracy, _best_threshold, read_lfw_pairs, verification_report
from photoface.models.facenet import load_centre, uncentred
from photoface.types import Detection


def main_faces(db: str) -> dict:
    """path -> (detection, stored embedding) of the face nearest each photo's centre, as
    `photoface eval` picks it."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT p.path, p.width, p.height, f.x1, f.y1, f.x2, f.y2, f.score, f.landmarks, f.embedding "
                       "FROM photos p JOIN faces f ON f.photo_id = p.id WHERE p.status = 'indexed'").fetchall()
    con.close()
    best = {}
    for path, w, h, x1, y1, x2, y2, score, lm, blob in rows:
        off = np.hypot((x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2)
        rank = (round(off / max(w, h, 1), 2), -(x2 - x1) * (y2 - y1))
        real = os.path.realpath(path)
        if real not in best or rank < best[real][0]:
            det = Detection(x1, y1, x2, y2, score, [tuple(p) for p in json.loads(lm)])
            best[real] = (rank, det, np.frombuffer(blob, "<f4").copy())
    return {p: (det, e) for p, (_, det, e) in best.items()}


def template(dets: list[Detection], margin: float = 0.30) -> np.ndarray:
    """Mean landmark layout inside the margin crop at 160 px, made left-right symmetric."""
    pts = []
    for d in dets:
        lm = np.array(d.landmarks, np.float64)
        origin = np.array([d.x1 - d.width * margin / 2, d.y1 - d.height * margin / 2])
        pts.append((lm - origin) / [d.width * (1 + margin), d.height * (1 + margin)] * 160)
    t = np.mean(pts, 0)
    mirror = t[[1, 0, 2, 4, 3]].copy()
    mirror[:, 0] = 160 - mirror[:, 0]
    return (t + mirror) / 2


def cut(variant: str, img: np.ndarray, det: Detection, tmpl: np.ndarray) -> np.ndarray:
    if variant.startswith("m") and variant[1:].isdigit():
        return margin_crop(img, det, 160, int(variant[1:]) / 100)
    if variant == "warp":
        M, _ = cv2.estimateAffinePartial2D(np.array(det.landmarks, np.float32), tmpl.astype(np.float32),
                                           method=cv2.LMEDS)
        return cv2.warpAffine(img, M, (160, 160), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    raise SystemExit(f"unknown variant {variant!r}: mNN (margin NN%) or warp")


def other_boxes(kind: str, paths: list[str], faces: dict) -> dict:
    """path -> the Detection to cut around instead of the detected one (see --box)."""
    from photoface.models.detector import MTCNNDetector, _regress, _relative, _square
    from photoface.track import iou

    detector = MTCNNDetector("cpu", 0)
    tf = detector._tf
    out = {}
    for p in paths:
        img = np.asarray(Image.open(p).convert("RGB"))
        h, w = img.shape[:2]
        d = faces[p][0]
        base = np.array([d.x1, d.y1, d.x2, d.y2])
        if kind.endswith("onet2"):
            sq = _square(np.array([[*base, d.score]], np.float32))
            offsets, _, _ = (t.numpy() for t in detector._onet(tf.constant(img), tf.constant(_relative(sq, w, h))))
            other = np.clip(_regress(sq, offsets)[0, :4], 0, [w - 1, h - 1, w - 1, h - 1])
        else:  # mirror
            other, best = base, 0.5
            for m in detector.detect(np.ascontiguousarray(img[:, ::-1]), 20, 0.80):
                back = Detection(w - 1 - m.x2, m.y1, w - 1 - m.x1, m.y2, m.score, m.landmarks)
                overlap = iou(d, back)
                if overlap > best:
                    other, best = np.array([back.x1, back.y1, back.x2, back.y2]), overlap
        box = (base + other) / 2 if kind.startswith("avg-") else other
        out[p] = Detection(*(float(v) for v in box), d.score, d.landmarks)
    return out


def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--lfw", required=True)
    ap.add_argument("--variants", nargs="+", default=["m30", "m20", "m15", "warp"])
    ap.add_argument("--flip", nargs="*", default=["m30", "m20"], help="variants also embedded flipped")
    ap.add_argument("--out", default="crops-cache")
    ap.add_argument("--box", default="detected", choices=["detected", "onet2", "mirror", "avg-onet2", "avg-mirror"],
                    help="the box to cut around (default: the detected one)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="FaceNet's precision, as photoface index --precision (auto: bf16 where the CPU has it)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    faces = main_faces(args.db)
    pairs = read_lfw_pairs(args.lfw)
    view2 = sorted({os.path.realpath(p) for pr in pairs for p in (pr.a, pr.b)})
    have = [p for p in view2 if p in faces]
    outside = [faces[p][1] for p in faces if p not in set(view2)]
    if outside:
        outside = np.stack(outside)
        con = sqlite3.connect(args.db)
        stored_model = con.execute("SELECT model FROM faces LIMIT 1").fetchone()[0]
        con.close()
        if stored_model == FACENET_MODEL:  # stored embeddings are centred: compare raw outputs
            outside = uncentred(outside, load_centre())
        centre = outside.mean(0)
        print(f"{len(view2)} View 2 photos, {len(have)} with a face; fixed centre from {len(outside)} other LFW faces")
    else:
        centre = load_centre()
        print(f"{len(view2)} View 2 photos, {len(have)} with a face; fixed centre: the one photoface ships")
    row = {p: i for i, p in enumerate(have)}
    ia = np.array([row.get(os.path.realpath(p.a), -1) for p in pairs])
    ib = np.array([row.get(os.path.realpath(p.b), -1) for p in pairs])
    same = np.array([p.same for p in pairs])
    fold = np.array([p.fold for p in pairs])
    tmpl = template([faces[p][0] for p in have])
    if args.box != "detected":
        t = time.perf_counter()
        boxes = other_boxes(args.box, have, faces)
        faces = {p: (boxes[p], faces[p][1]) for p in have}
        print(f"  {args.box} boxes in {time.perf_counter() - t:.0f} s")

    def distances(E):
        d = np.linalg.norm(E[np.maximum(ia, 0)] - E[np.maximum(ib, 0)], axis=1)
        d[(ia < 0) | (ib < 0)] = np.nan
        return d

    def fold_centred(E):
        accs = []
        for k in np.unique(fold):
            train = fold != k
            slots = np.concatenate([ia[train], ib[train]])  # facenet: each pair's two embeddings
            d = distances(unit(E - E[slots[slots >= 0]].mean(0)))
            accs.append(_accuracy(d[~train], same[~train], _best_threshold(d[train], same[train])))
        return np.mean(accs), np.std(accs)

    def embeddings(variant, flip):
        box = "" if args.box == "detected" else f"_{args.box}"
        path = os.path.join(args.out, f"{variant}{'_flip' if flip else ''}{box}_{args.precision}.npy")
        if not os.path.exists(path):
            from photoface.models.facenet import FaceNetEmbedder

            t = time.perf_counter()
            crops = []
            for p in have:
                c = cut(variant, np.asarray(Image.open(p).convert("RGB")), faces[p][0], tmpl)
                crops.append(c[:, ::-1] if flip else c)
            # raw network outputs: centring is a column of the table
            np.save(path, FaceNetEmbedder(precision=args.precision).network(np.stack(crops)))
            print(f"  embedded {variant}{' flipped' if flip else ''} in {time.perf_counter() - t:.0f} s")
        return np.load(path)

    print("| crop | test-time | accuracy | threshold | VAL @ FAR 1e-3 | centred on training folds | fixed centre |")
    print("|---|---|---|---|---|---|---|")
    for v in args.variants:
        E = embeddings(v, False)
        runs = [("none", E)]
        if v in args.flip:
            F = embeddings(v, True)
            runs += [("flip, summed", unit(E + F)), ("flip, concatenated", np.hstack([E, F]) / np.sqrt(2))]
        for name, X in runs:
            r = verification_report(pairs, distances(X))
            fa, fs = fold_centred(X)
            fixed = ""
            if X.shape[1] == centre.shape[0]:
                rc = verification_report(pairs, distances(unit(X - centre)))
                fixed = f"{rc['accuracy']:.4f} +- {rc['accuracy_std']:.4f}"
            print(f"| {v} | {name} | {r['accuracy']:.4f} +- {r['accuracy_std']:.4f} | {r['threshold']:.3f} | "
                  f"{r['val']:.4f} | {fa:.4f} +- {fs:.4f} | {fixed} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
