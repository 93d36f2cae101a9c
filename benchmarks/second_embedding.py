"""Would a second face embedding next to FaceNet cluster the suite's sets better? dlib's
ResNet (the only other face embedding whose weights ship on PyPI: face-recognition-models
with dlib-bin) on photoface's own detections, fused with FaceNet, clustered by photoface.

    python benchmarks/cluster_suite.py SETS --cache C [--lfw LFW]      # index the sets once
    python benchmarks/second_embedding.py SETS --cache C [--lfw LFW] \\
        [--weights 0.5 0.75 1] [--scales 0.9 0.95 1] [--gaps 0.05 0.1]

dlib is not a dependency of photoface: as benchmarks/dlib_baseline.py does, the descriptors
are computed in a virtual environment of their own (PHOTOFACE_DLIB_VENV, or one made under
~/.cache/photoface), one per face at the box photoface detected (dlib's 5-point shape
predictor on that box, then its 150 px aligned chip and ResNet), and cached next to each
set's database. Fusion: dlib's descriptor made a unit vector, the centre of dlib's space
removed (the mean of lfw_subset's people's mean descriptors, each person weighing the same,
as photoface's FaceNet centre is made) and made a unit vector again; FaceNet's embedding and
``weight`` times that, concatenated and normalised. The fused distances are shorter than
FaceNet's, so every distance of the clusterer's settings is multiplied by ``scale`` and the
attach gap below the longest link tried at each of ``--gaps``. Each row prints every set's
BCubed F1 and the worst set; the first row is FaceNet alone with the shipped settings.
``--lfw`` adds all of LFW (15,247 faces; about 16 minutes of dlib on 2 cores, once).
The last lines give dlib's own speed here: faces per second of the shape predictor and
ResNet alone, one process, the photo already decoded.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CENTRE_SET = "lfw_subset"

_models = None


def _load_models():
    global _models
    if _models is None:
        import dlib
        import face_recognition_models as frm

        _models = (dlib, dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
                   dlib.face_recognition_model_v1(frm.face_recognition_model_location()))
    return _models


def _descriptors_of_photo(item):
    """Runs in the dlib environment: (face id, descriptor) for each box of one photo, and
    the seconds spent in dlib alone."""
    from PIL import Image, ImageOps

    path, faces = item
    dlib, shapes, resnet = _load_models()
    with Image.open(path) as im:
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    out, t = [], time.perf_counter()
    for face_id, x1, y1, x2, y2 in faces:
        box = dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
        out.append((face_id, np.asarray(resnet.compute_face_descriptor(rgb, shapes(rgb, box)), np.float32)))
    return out, time.perf_counter() - t


def embed(job: str, out: str, processes: int) -> None:
    """Runs in the dlib environment."""
    from multiprocessing import Pool

    items = json.loads(Path(job).read_text())
    with Pool(processes) as pool:
        parts = pool.map(_descriptors_of_photo, items, chunksize=8)
    found = [x for part, _ in parts for x in part]
    np.savez(out, ids=np.array([i for i, _ in found], np.int64), D=np.stack([d for _, d in found]),
             seconds=sum(s for _, s in parts))


def cached_rows(cached: str, table: dict, fresh: bool) -> tuple[np.ndarray, float, int]:
    """The descriptors in ``cached`` in ``table``'s row order; with the seconds and faces
    computed in this call (0 and 0 when the file was there before)."""
    data = np.load(cached)
    where = {int(i): k for k, i in enumerate(data["ids"])}
    rows = data["D"][[where[int(i)] for i in table["id"]]]
    return (rows, float(data["seconds"]), len(data["ids"])) if fresh else (rows, 0.0, 0)


def dlib_descriptors(db: str, table: dict, processes: int) -> tuple[np.ndarray, float, int]:
    """dlib's descriptor of each face of ``table`` (rows in its order), computed once into
    a file next to the database; with dlib's own seconds and the number of faces computed
    in this call (0 and 0 when read from that file)."""
    import sqlite3

    cached = os.path.join(os.path.dirname(db), "dlib-descriptors.npz")
    fresh = not os.path.exists(cached)
    if fresh:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT f.id, p.path, f.x1, f.y1, f.x2, f.y2 FROM faces f JOIN photos p "
                               "ON p.id = f.photo_id WHERE p.status = 'indexed'").fetchall()
        by_photo: dict[str, list] = {}
        for face_id, path, *box in rows:
            by_photo.setdefault(path, []).append([face_id, *box])
        job = cached + ".json"
        Path(job).write_text(json.dumps(sorted(by_photo.items())))
        from dlib_baseline import ensure_venv

        subprocess.run([ensure_venv(), os.path.abspath(__file__), "embed", job, cached, str(processes)], check=True)
        os.remove(job)
    return cached_rows(cached, table, fresh)


def own_descriptors(db: str, table: dict) -> tuple[np.ndarray, float, int]:
    """The descriptors photoface computes itself (models/dlib_resnet.py: dlib's network read
    from its file, run in ONNX Runtime, on chips aligned by MTCNN's landmarks), cached next
    to the database like dlib's; with the seconds of chips and network and the faces computed."""
    import sqlite3

    from photoface.align import dlib_chip
    from photoface.decode import decode_image
    from photoface.models.dlib_resnet import DlibResNet
    from photoface.types import Detection

    cached = os.path.join(os.path.dirname(db), "own-descriptors.npz")
    fresh = not os.path.exists(cached)
    if fresh:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT f.id, p.path, f.x1, f.y1, f.x2, f.y2, f.landmarks FROM faces f JOIN photos p "
                               "ON p.id = f.photo_id WHERE p.status = 'indexed'").fetchall()
        by_photo: dict[str, list] = {}
        for face_id, path, x1, y1, x2, y2, marks in rows:
            by_photo.setdefault(path, []).append((face_id, Detection(x1, y1, x2, y2, 1.0, tuple(map(tuple, json.loads(marks))))))
        net, ids, out, seconds = DlibResNet(threads=1), [], [], 0.0
        for path, faces in sorted(by_photo.items()):
            rgb = decode_image(Path(path).read_bytes()).rgb
            t = time.perf_counter()
            chips = np.stack([dlib_chip(rgb, det) for _, det in faces])
            out.append(net.describe(chips))
            seconds += time.perf_counter() - t
            ids += [i for i, _ in faces]
        np.savez(cached, ids=np.array(ids, np.int64), D=np.concatenate(out), seconds=seconds)
    return cached_rows(cached, table, fresh)


def unit(m: np.ndarray) -> np.ndarray:
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def person_centre(descriptors: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The mean of each person's mean unit descriptor (the photos' main faces only)."""
    named = np.array([not t.startswith("stranger-") for t in truth])
    d, t = unit(descriptors[named]), truth[named]
    return np.mean([d[t == p].mean(axis=0) for p in np.unique(t)], axis=0)


def scaled(settings, scale: float, gap: float):
    """The clusterer's distances times ``scale``; the attach gap below the link ``gap``."""
    return dataclasses.replace(
        settings, max_link_distance=settings.max_link_distance * scale,
        min_link_distance=settings.min_link_distance * scale, pair_distance=settings.pair_distance * scale,
        spread_max_distance=settings.spread_max_distance * scale, spread_margin=settings.spread_margin * scale,
        single_cluster_radius=settings.single_cluster_radius * scale, attach_below_link=gap)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "embed":
        embed(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", type=Path)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--lfw", help="all of LFW (deep-funneled <Person>/ folder) as one more set")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.75, 1.0])
    ap.add_argument("--scales", type=float, nargs="+", default=[0.9, 0.95, 1.0])
    ap.add_argument("--gaps", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--only", nargs="+", help="these sets only (lfw_subset is always read: the centre)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--source", choices=("dlib", "photoface"), default="dlib",
                    help="dlib's own descriptors (its shape predictor and library) or photoface's (its "
                         "landmarks, the network in ONNX Runtime)")
    ap.add_argument("--save-centre", type=Path, help="write the centre of the descriptors (made on lfw_subset) here "
                    "(photoface's own: src/photoface/models/dlib_centre.npy)")
    args = ap.parse_args()

    from cluster_suite import HELD_OUT, ORDER
    from photoface import api
    from photoface.config import ClusterSettings
    from photoface.evaluate import cache_dir, cache_key, compare_clusterings
    from photoface.organize import eligible_mask, make_clusterer
    from photoface.vectors import fused

    folders = {p.name: str(p) for p in args.sets.iterdir() if p.is_dir()}
    if args.lfw:
        folders["lfw_all"] = args.lfw
    if CENTRE_SET not in folders:
        raise SystemExit(f"{CENTRE_SET} (benchmarks/make_lfw_subset.py) is needed: dlib's centre is made on it")
    names = [n for n in ORDER if n in folders] + sorted(set(folders) - set(ORDER))
    if args.only:
        names = [n for n in names if n in args.only or n == CENTRE_SET]
    sets, seconds, computed = {}, 0.0, 0
    for name in names:
        table, truth = api._labeled_faces(folders[name], args.cache, None, "sync", None, None)
        db = os.path.join(cache_dir(args.cache), "labeled-" + cache_key([os.path.abspath(folders[name])]), "faces.db")
        descriptors, s, n = (dlib_descriptors(db, table, args.processes) if args.source == "dlib"
                             else own_descriptors(db, table))
        sets[name], seconds, computed = (table, truth, descriptors), seconds + s, computed + n
        print(f"{name}: {len(truth)} faces", file=sys.stderr, flush=True)
    centre = person_centre(sets[CENTRE_SET][2], sets[CENTRE_SET][1])
    if args.save_centre:
        np.save(args.save_centre, centre.astype(np.float32))
    shipped = ClusterSettings()

    def f1(table, truth, x, settings) -> float:
        labels = make_clusterer(settings).fit_predict(x, groups=table["photo_id"],
                                                      eligible=eligible_mask(table, settings))
        return compare_clusterings(truth, {"run": labels})[0]["bcubed_f1"]

    header = ["embedding", "weight", "scale", "gap"] + [n + (" (held out)" if n == HELD_OUT else "") for n in names]
    print("| " + " | ".join(header + ["worst"]) + " |")
    print("|" + "---|" * (len(header) + 1))
    rows = [("FaceNet", None, 1.0, g) for g in sorted({shipped.attach_below_link, *args.gaps})]
    rows += [("FaceNet + dlib", w, s, g) for w in args.weights for s in args.scales for g in args.gaps]
    for label, weight, scale, gap in rows:
        scores = []
        for name in names:
            table, truth, descriptors = sets[name]
            x = table["X"] if weight is None else fused(table["X"], descriptors, centre, weight)
            scores.append(f1(table, truth, x, scaled(shipped, scale, gap)))
        cells = [label, "" if weight is None else f"{weight:g}", f"{scale:g}", f"{gap:g}"]
        print("| " + " | ".join(cells + [f"{v:.3f}" for v in scores] + [f"{min(scores):.3f}"]) + " |", flush=True)
    if seconds > 0:
        print(f"\ndlib (5-point shapes and ResNet), per process: {computed / seconds:.1f} faces/s over {computed} "
              f"faces computed in this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
