"""Incremental clustering quality on a labeled library: cluster most photos, add the rest later.

    photoface eval cluster --labeled LABELED --cache evalcache      # indexes LABELED once
    python benchmarks/incremental_quality.py evalcache/labeled-<hash>/faces.db [--hold 0.2] [--set NAME=VALUE ...]

Works on copies of the database (the original is only read). One copy is clustered in
full (`photoface cluster --full` over every face); on the other, the faces of a random
``--hold`` share of the photos are taken out, the rest is clustered in full, then the
held faces come back as new faces and `photoface cluster --incremental` runs (and, on
a third copy, plain `photoface cluster`, which re-clusters libraries of up to
full_run_faces faces in full). The end states are scored against the truth (the folder
of each photo; the other faces of a photo are strangers), as in `photoface eval cluster`.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time

import numpy as np

from photoface import api
from photoface.config import ClusterSettings, with_overrides
from photoface.evaluate import compare_clusterings, labeled_truth

HELD_COLUMNS_RESET = ("id", "person_id", "assigned_by", "assign_distance", "clustered")


def copy_db(src: str, dst: str) -> str:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def hold_out(db: str, share: float, seed: int) -> np.ndarray:
    """Move the faces of a random ``share`` of the photos into a side table; their photo ids."""
    con = sqlite3.connect(db)
    photos = np.array([r[0] for r in con.execute("SELECT id FROM photos ORDER BY id")])
    held = np.sort(np.random.default_rng(seed).choice(photos, size=int(len(photos) * share), replace=False))
    with con:
        con.execute("CREATE TABLE held_photos (id INTEGER PRIMARY KEY)")
        con.executemany("INSERT INTO held_photos VALUES (?)", [(int(h),) for h in held])
        con.execute("CREATE TABLE held AS SELECT * FROM faces WHERE photo_id IN (SELECT id FROM held_photos)")
        con.execute("CREATE TABLE held_descriptors AS SELECT * FROM face_descriptors "
                    "WHERE face_id IN (SELECT id FROM held)")
        con.execute("DELETE FROM face_descriptors WHERE face_id IN (SELECT id FROM held)")
        con.execute("DELETE FROM faces WHERE photo_id IN (SELECT id FROM held_photos)")
    con.close()
    return held


def bring_back(db: str) -> None:
    """The held faces return as faces never seen by a clustering run (new ids, no person),
    with their dlib descriptors, as a later `photoface index` stores them."""
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(held)") if r[1] not in HELD_COLUMNS_RESET]
    with con:
        for old, *values in con.execute(f"SELECT id, {','.join(cols)} FROM held ORDER BY id").fetchall():
            new = con.execute(f"INSERT INTO faces ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                              values).lastrowid
            con.execute("INSERT INTO face_descriptors (face_id, model, descriptor) SELECT ?, model, descriptor "
                        "FROM held_descriptors WHERE face_id = ?", [new, old])
    con.close()


def people_of(db: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photo id, truth, person id or -1) per face, in a fixed order."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT f.photo_id, p.path, (f.x2 - f.x1) * (f.y2 - f.y1), f.person_id FROM faces f "
                       "JOIN photos p ON p.id = f.photo_id ORDER BY f.photo_id, f.face_index").fetchall()
    con.close()
    photo, paths, size, person = zip(*rows)
    photo = np.array(photo)
    root = os.path.commonpath(sorted(set(paths)))
    truth = labeled_truth(list(paths), photo, np.array(size, float), root)
    return photo, truth, np.array([-1 if p is None else p for p in person])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="a photoface database of a labeled folder (LABELED/<Person>/*.jpg)")
    ap.add_argument("--hold", type=float, default=0.2, help="share of the photos added later (default 0.2)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="a clustering setting (repeatable), as in `photoface eval cluster --set`")
    args = ap.parse_args()
    settings = with_overrides(ClusterSettings(), args.overrides)
    with tempfile.TemporaryDirectory() as work:
        full = copy_db(args.db, os.path.join(work, "full.db"))
        t = time.perf_counter()
        api.cluster(full, full=True, settings=settings)
        full_s = time.perf_counter() - t
        inc = copy_db(args.db, os.path.join(work, "incremental.db"))
        held = hold_out(inc, args.hold, args.seed)
        api.cluster(inc, full=True, settings=settings)
        bring_back(inc)
        chosen = copy_db(inc, os.path.join(work, "chosen.db"))
        t = time.perf_counter()
        summary = api.cluster(inc, full=False, settings=settings)
        inc_s = time.perf_counter() - t
        t = time.perf_counter()
        mode = api.cluster(chosen, settings=settings)["mode"]
        chosen_s = time.perf_counter() - t
        photo, truth, full_labels = people_of(full)
        photo_i, truth_i, inc_labels = people_of(inc)
        photo_c, truth_c, chosen_labels = people_of(chosen)
    assert (photo == photo_i).all() and (truth == truth_i).all() and (photo == photo_c).all()
    new = np.isin(photo, held)
    print(f"{len(truth)} faces, {len(set(truth))} true identities; {int(new.sum())} faces in "
          f"{len(held)} photos added later")
    print(f"full run {full_s:.1f} s; incremental run {inc_s:.1f} s: {summary['assigned']} faces joined people, "
          f"{summary['new_people']} new people; {float((inc_labels[new] < 0).mean()):.3f} of the new faces unknown")
    print(f"the default run (`photoface cluster`, full_run_faces={settings.full_run_faces}) was {mode}, "
          f"{chosen_s:.1f} s")
    print("| run | clusters | noise | pairwise P | pairwise R | pairwise F1 | BCubed P | BCubed R | BCubed F1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = compare_clusterings(truth, {"one full run": full_labels,
                                       f"full run on {1 - args.hold:.0%}, then incremental": inc_labels,
                                       f"full run on {1 - args.hold:.0%}, then the default ({mode})": chosen_labels})
    for r in rows:
        print(f"| {r['algorithm']} | {r['clusters']} | {r['noise']:.3f} | {r['pairwise_p']:.4f} | "
              f"{r['pairwise_r']:.4f} | {r['pairwise_f1']:.4f} | {r['bcubed_p']:.4f} | {r['bcubed_r']:.4f} | "
              f"{r['bcubed_f1']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
