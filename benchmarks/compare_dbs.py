"""Compare two photoface databases made from the same photos (e.g. by two versions of photoface):
the same photos, detections, embeddings, people and names?

    python benchmarks/compare_dbs.py before.db after.db [--tolerance 1e-6]

Reads both files with plain sqlite3 (any schema version photoface has written), matches
photos by path and faces by (path, face index), and prints one line per check; the exit
status is 1 when anything differs beyond the tolerance.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys

import numpy as np


def _rows(db: str) -> tuple[dict, dict, dict]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    photos = {r[0]: r[1:] for r in conn.execute(
        "SELECT path, status, size, sha256, width, height, taken_at, face_count, kind, error FROM photos")}
    faces = {}
    for path, index, x1, y1, x2, y2, score, landmarks, blob, model, person, by, name, sharp, t0, t1 in conn.execute(
            "SELECT p.path, f.face_index, f.x1, f.y1, f.x2, f.y2, f.score, f.landmarks, f.embedding, f.model, "
            "f.person_id, f.assigned_by, pe.name, f.sharpness, f.t_start, f.t_end FROM faces f "
            "JOIN photos p ON p.id = f.photo_id LEFT JOIN people pe ON pe.id = f.person_id"):
        faces[(path, index)] = {"box": (x1, y1, x2, y2, score), "landmarks": landmarks, "model": model,
                                "embedding": np.frombuffer(blob, "<f4"), "person": person, "by": by, "name": name,
                                "sharpness": sharp, "time": (t0, t1)}
    attrs = {}
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'face_attributes'").fetchone():
        for path, index, age, gender, emotion in conn.execute(
                "SELECT p.path, f.face_index, a.age, a.gender, a.emotion FROM face_attributes a "
                "JOIN faces f ON f.id = a.face_id JOIN photos p ON p.id = f.photo_id"):
            attrs[(path, index)] = (round(age, 3), gender, emotion)
    conn.close()
    return photos, faces, attrs


def _partition(faces: dict) -> set[frozenset]:
    groups: dict[int, set] = {}
    for key, f in faces.items():
        if f["person"] is not None:
            groups.setdefault(f["person"], set()).add(key)
    return {frozenset(g) for g in groups.values()}


def compare(a: str, b: str, tolerance: float) -> list[tuple[str, bool, str]]:
    pa, fa, aa = _rows(a)
    pb, fb, ab = _rows(b)
    out = [("photos: same paths", pa.keys() == pb.keys(), f"{len(pa)} vs {len(pb)}"),
           ("photos: same status, size, hash, dimensions, date, face count",
            all(pa[k] == pb[k] for k in pa.keys() & pb.keys()),
            f"{sum(pa[k] != pb[k] for k in pa.keys() & pb.keys())} differ"),
           ("faces: same (photo, index)", fa.keys() == fb.keys(), f"{len(fa)} vs {len(fb)}")]
    both = sorted(fa.keys() & fb.keys())
    box = [k for k in both if fa[k]["box"] != fb[k]["box"] or fa[k]["landmarks"] != fb[k]["landmarks"]]
    out.append(("faces: same boxes, scores, landmarks", not box, f"{len(box)} differ"))
    diff = max((float(np.abs(fa[k]["embedding"] - fb[k]["embedding"]).max()) for k in both), default=0.0)
    out.append(("faces: same embeddings and model",
                diff <= tolerance and all(fa[k]["model"] == fb[k]["model"] for k in both),
                f"largest difference {diff:.3g}"))
    out.append(("faces: same sharpness and video times",
                all((fa[k]["sharpness"], fa[k]["time"]) == (fb[k]["sharpness"], fb[k]["time"]) for k in both), ""))
    same_people = _partition(fa) == _partition(fb)
    out.append(("people: same faces grouped together", same_people,
                f"{len(_partition(fa))} vs {len(_partition(fb))} people"))
    out.append(("people: same names and how each face was placed",
                all((fa[k]["name"], fa[k]["by"]) == (fb[k]["name"], fb[k]["by"]) for k in both),
                f"{sum((fa[k]['name'], fa[k]['by']) != (fb[k]['name'], fb[k]['by']) for k in both)} faces differ"))
    out.append(("attributes: same estimates", aa == ab, f"{len(aa)} vs {len(ab)} faces"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--tolerance", type=float, default=0.0, help="Largest embedding difference counted as equal.")
    args = ap.parse_args()
    checks = compare(args.before, args.after, args.tolerance)
    for what, ok, detail in checks:
        print(f"{'same' if ok else 'DIFFERENT':<10} {what}" + (f" ({detail})" if detail else ""))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
