"""Clustering quality on a labeled photo folder: pairwise and BCubed precision/recall/F1.

    photoface index LABELED --db labeled.db          # LABELED/<Person>/*.jpg
    python benchmarks/cluster_quality.py labeled.db [--grid]

The true person of a photo is its folder; in a photo with several faces only the largest
is that person, the others count as strangers (each their own identity). Runs photoface's
clusterer with its defaults (and, with --grid, with other settings) on the stored
embeddings, without touching the people in the database.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np

from photoface.config import FACENET_MODEL, ClusterSettings
from photoface.evaluate import labeled_truth
from photoface.metrics import clustering_report
from photoface.organize import eligible_mask, make_clusterer
from photoface.db import Store

GRID = [
    {"min_cluster_size": 2, "min_samples": 1}, {"min_cluster_size": 3}, {"min_samples": 3},
    {"min_sharpness": 0.0}, {"min_face_px": 40.0}, {"min_face_px": 60.0}, {"n_neighbors": 10},
    {"min_score": 0.99},
    {"attach_distance": 0.7}, {"attach_distance": 0.8}, {"attach_distance": 0.85},
    {"max_link_distance": 0.8}, {"max_link_distance": 0.9}, {"max_link_distance": 1.0}, {"max_link_distance": 4.0},
    {"pair_distance": 0.0}, {"pair_distance": 0.8}, {"pair_distance": 0.9},
    {"attach_distance": 0.85, "max_link_distance": 1.0},
    {"max_link_distance": 4.0, "pair_distance": 0.0},
]


def truth_labels(store: Store, table: dict) -> np.ndarray:
    paths = dict(store.db.execute("SELECT id, path FROM photos").fetchall())
    face_paths = [paths[p] for p in table["photo_id"]]
    root = os.path.commonpath(sorted(set(face_paths)))
    return labeled_truth(face_paths, table["photo_id"], table["size"], root)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--grid", action="store_true", help="also try other settings, one change at a time")
    args = ap.parse_args()
    store = Store(args.db, create=False)
    table = store.face_table(FACENET_MODEL)
    truth = truth_labels(store, table)
    print(f"{len(truth)} faces, {len(set(truth))} true identities")
    print("| settings | clusters | noise | pairwise P | pairwise R | pairwise F1 | BCubed P | BCubed R | BCubed F1 | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = ClusterSettings()
    for change in [{}] + (GRID if args.grid else []):
        s = replace(base, **change)
        t = time.perf_counter()
        labels = make_clusterer(s).fit_predict(table["C"], groups=table["photo_id"], eligible=eligible_mask(table, s))
        r = clustering_report(truth, labels)
        pw, b3 = r["pairwise"], r["bcubed"]
        print(f"| {change or 'defaults'} | {r['clusters']} | {r['noise_fraction']:.3f} | {pw['precision']:.4f} | "
              f"{pw['recall']:.4f} | {pw['f1']:.4f} | {b3['precision']:.4f} | {b3['recall']:.4f} | {b3['f1']:.4f} | "
              f"{time.perf_counter() - t:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
