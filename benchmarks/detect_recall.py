"""Which faces does detection find, by size, and what does each setting cost?

    python benchmarks/detect_recall.py ../shared/data/lfw/lfw-deepfunneled [--scenes 150] [--repeats 3]

Makes ``--scenes`` 1000x700 group photos from real faces with known boxes: each holds 8
LFW photos' faces (the one face MTCNN finds in that 250x250 photo at >= 0.95, with its
surroundings, blended in with a soft edge) at random places and sizes (the box's shorter
side log-uniform from 14 to 130 px), on a blurred background cut from another LFW photo's
corner. Then runs photoface's detection exactly as `photoface index` does
(`pipeline.faces_in_image`: resize to --max-side, MTCNN from --min-face, score >= 0.80)
with each setting on one thread, and prints, per setting, the share of faces found in each
size band (a detection within IoU 0.4 of the known box), false detections per photo and
the median ms per photo (median of --repeats passes).

A second table says what the small faces are worth to a library: for the faces the
first setting finds, the distance of each one's embedding to the embedding of another
photo of the same person (full size), and the share within the distance at which
clustering attaches a face to a person (0.75); the last column is the pasted photos
themselves at full size.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import cv2
import numpy as np

BANDS = [14, 16, 20, 24, 28, 32, 40, 50, 131]
SIZE = (1000, 700)
FACES_PER_SCENE = 8


def iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2, ...) boxes (photoface's own, for tracks)."""
    from photoface.track import iou as detection_iou
    from photoface.types import Detection

    return detection_iou(Detection(*a[:4], 0.0, ()), Detection(*b[:4], 0.0, ()))


def clean_face(path: str, detector):
    """(rgb, box) when MTCNN finds exactly one face in the photo, a clear one at the centre."""
    rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    dets = detector.detect(rgb, 20, 0.80)
    if len(dets) == 1 and dets[0].score >= 0.95:
        d = dets[0]
        if d.x1 < rgb.shape[1] / 2 < d.x2 and d.y1 < rgb.shape[0] / 2 < d.y2:
            return rgb, (d.x1, d.y1, d.x2, d.y2)
    return None


def people_faces(lfw: str, detector, rng: random.Random, n: int):
    """Two clean photos each of ``n`` LFW people: (rgb, box) to paste, (rgb, box) to compare."""
    people = sorted(d for d in os.listdir(lfw) if len(os.listdir(os.path.join(lfw, d))) >= 2)
    rng.shuffle(people)
    out = []
    for person in people:
        photos = sorted(os.listdir(os.path.join(lfw, person)))
        rng.shuffle(photos)
        clean = []
        for name in photos[:4]:
            face = clean_face(os.path.join(lfw, person, name), detector)
            if face:
                clean.append(face)
            if len(clean) == 2:
                out.append(tuple(clean))
                break
        if len(out) == n:
            break
    return out


def make_scene(rng: random.Random, faces, backgrounds):
    """A 1000x700 RGB photo and the known boxes (x1, y1, x2, y2, source index)."""
    w, h = SIZE
    bg = backgrounds[rng.randrange(len(backgrounds))][:60, :60]
    canvas = cv2.GaussianBlur(cv2.resize(bg, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 8).astype(np.float32)
    boxes = []
    for _ in range(FACES_PER_SCENE):
        k = rng.randrange(len(faces))
        rgb, (x1, y1, x2, y2) = faces[k][0]
        side = np.exp(rng.uniform(np.log(BANDS[0]), np.log(BANDS[-1] - 1)))
        scale = side / min(x2 - x1, y2 - y1)
        # the face with half its size around it on each side (as far as the photo goes)
        bw, bh = x2 - x1, y2 - y1
        cx1, cy1 = max(0, int(x1 - bw / 2)), max(0, int(y1 - bh / 2))
        cx2, cy2 = min(rgb.shape[1], int(x2 + bw / 2)), min(rgb.shape[0], int(y2 + bh / 2))
        pw, ph = max(1, round((cx2 - cx1) * scale)), max(1, round((cy2 - cy1) * scale))
        patch = cv2.resize(rgb[cy1:cy2, cx1:cx2], (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
        for _ in range(200):
            px, py = rng.randrange(0, w - pw + 1), rng.randrange(0, h - ph + 1)
            box = (px + (x1 - cx1) * scale, py + (y1 - cy1) * scale, px + (x2 - cx1) * scale, py + (y2 - cy1) * scale)
            if all(iou((px, py, px + pw, py + ph), b[5]) == 0 for b in boxes):
                break
        else:
            continue
        mask = np.zeros((ph, pw), np.float32)
        cv2.ellipse(mask, (pw // 2, ph // 2), (max(1, int(pw * 0.45)), max(1, int(ph * 0.45))), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, min(pw, ph) / 20))[..., None]
        region = canvas[py:py + ph, px:px + pw]
        canvas[py:py + ph, px:px + pw] = region * (1 - mask) + patch * mask
        boxes.append((*box, k, (px, py, px + pw, py + ph)))
    return np.clip(canvas, 0, 255).astype(np.uint8), [b[:5] for b in boxes]


def match(truth, found) -> tuple[list[int | None], int]:
    """For each known box the index of the detection matching it (IoU >= 0.4, greedy by
    IoU), and how many detections matched nothing."""
    pairs = sorted(((iou(t[:4], f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    got: list[int | None] = [None] * len(truth)
    used = set()
    for score, i, j in pairs:
        if score < 0.4:
            break
        if got[i] is None and j not in used:
            got[i] = j
            used.add(j)
    return got, len(found) - len(used)


def band_of(box) -> int:
    side = min(box[2] - box[0], box[3] - box[1])
    return max(i for i, lo in enumerate(BANDS[:-1]) if side >= lo) if side >= BANDS[0] else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lfw", help="LFW photos folder (lfw-deepfunneled)")
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settings", nargs="+", default=["1024:20", "1024:24", "1024:28", "1024:32", "1024:40", "640:20"],
                    help="max-side:min-face pairs to compare (the first is the baseline)")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cv2.setNumThreads(1)
    from photoface.config import Settings
    from photoface.models import get_model
    from photoface.models.runtime import tensorflow
    from photoface.pipeline import PipelineSpec, faces_in_image

    tensorflow("cpu", 1)
    rng = random.Random(7)
    base = PipelineSpec.from_settings(Settings(), threads=1)
    detector = get_model(base.detector)
    faces = people_faces(args.lfw, detector, rng, 400)
    paths = sorted(os.path.join(r, f) for r, _, fs in os.walk(args.lfw) for f in fs if f.endswith(".jpg"))
    backgrounds = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in rng.sample(paths, 200)]
    scenes = [make_scene(rng, faces, backgrounds) for _ in range(args.scenes)]
    n_faces = sum(len(t) for _, t in scenes)
    print(f"{args.scenes} photos of {SIZE[0]}x{SIZE[1]}, {n_faces} known faces of {len(faces)} LFW people",
          flush=True)

    specs = []
    for item in args.settings:
        max_side, min_face = (int(v) for v in item.split(":"))
        specs.append((item, PipelineSpec.from_settings(Settings(detect_max_side_px=max_side, min_face_px=min_face), threads=1)))
    results, times = {}, {name: [] for name, _ in specs}
    for rep in range(args.repeats):
        for name, spec in specs:  # settings alternate, so the machine's noise falls on all
            t0 = time.perf_counter()
            out = [faces_in_image(rgb, spec)[:2] for rgb, _ in scenes]
            times[name].append((time.perf_counter() - t0) / len(scenes) * 1000)
            results[name] = out

    heads = [f"{lo}-{hi - 1}" for lo, hi in zip(BANDS, BANDS[1:])]
    print("\nShare of the known faces found, by the shorter side of the face box (px):")
    print("\n| --max-side:--min-face | " + " | ".join(heads) + " | all | false per photo | ms per photo | vs first |")
    print("|---|" + "---|" * (len(heads) + 4))
    base_ms = statistics.median(times[specs[0][0]])
    found_default = []
    for name, _ in specs:
        hit, total, false = np.zeros(len(heads)), np.zeros(len(heads)), 0
        for (rgb, truth), (dets, crops) in zip(scenes, results[name]):
            got, extra = match(truth, [(d.x1, d.y1, d.x2, d.y2) for d in dets])
            false += extra
            for t, j in zip(truth, got):
                b = band_of(t)
                total[b] += 1
                hit[b] += j is not None
                if name == specs[0][0] and j is not None:
                    found_default.append((b, int(t[4]), crops[j]))
        ms = statistics.median(times[name])
        cells = " | ".join(f"{h / t:.2f}" if t else "-" for h, t in zip(hit, total))
        print(f"| {name} | {cells} | {hit.sum() / total.sum():.3f} | {false / len(scenes):.2f} | {ms:.1f} | {base_ms / ms:.2f}x |")
    print("| faces in the band | " + " | ".join(str(int(t)) for t in total) + f" | {int(total.sum())} | | | |")

    # what the faces found are worth: distance to the same person's full-size embedding
    from photoface.align import margin_crop
    from photoface.types import Detection

    embedder = get_model(base.embedder)
    s = base.settings
    def embed(which: int) -> np.ndarray:
        return embedder.embed(np.stack([margin_crop(pair[which][0], Detection(*pair[which][1], 1.0, ()), s.crop_size_px,
                                                    s.crop_margin) for pair in faces]))

    pasted, other = embed(0), embed(1)
    emb = embedder.embed(np.stack([c for _, _, c in found_default]))
    people = [k for _, k, _ in found_default]
    dist = np.linalg.norm(emb - other[people], axis=1)
    full = np.linalg.norm(pasted - other, axis=1)
    print(f"\nFaces found at {specs[0][0]}: distance to another photo of the same person, by shorter side (px):")
    print("| | " + " | ".join(heads) + " | pasted photos at full size |")
    print("|---|" + "---|" * (len(heads) + 1))
    bands = np.array([b for b, _, _ in found_default])
    med = [f"{np.median(dist[bands == i]):.2f}" if (bands == i).any() else "-" for i in range(len(heads))]
    near = [f"{(dist[bands == i] < 0.75).mean():.2f}" if (bands == i).any() else "-" for i in range(len(heads))]
    print("| median distance | " + " | ".join(med) + f" | {np.median(full):.2f} |")
    print("| share within 0.75 (clustering attaches them) | " + " | ".join(near) + f" | {(full < 0.75).mean():.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
