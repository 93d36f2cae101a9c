"""Time and peak memory of `photoface cluster` and of one search-by-face query at 10k, 100k, 1M faces.

    python benchmarks/people_scale.py --sizes 10000 100000 1000000 --out /tmp/scale [--descriptors]

Synthetic embeddings with the structure of real ones: identity centres are random unit
vectors in 512-d (pairs of random directions lie ~1.41 apart; real different-person
FaceNet distances are 1.2-1.4), each face is its centre plus Gaussian noise of 0.023 per
dimension, renormalised (same-person distances ~0.75, as measured on real photos, 0.6-0.9);
people have Zipf-distributed photo counts (a few with hundreds of faces, most with a few),
and 1 face in 5 is a stranger seen once. Faces go into a real photoface database (one
photo per face), and each step runs in a fresh process so its peak RSS is its own. With
``--descriptors`` every face also gets a synthetic 128-d dlib descriptor of the same
structure (its own random identity centres), so clustering runs on the fused vectors, as
in a library indexed with descriptors (the default).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

NEW = 1000  # faces added after clustering, assigned incrementally


def synth_labels(n: int, rng) -> np.ndarray:
    """The true identity of each synthetic face (the first draws of ``rng``)."""
    known = int(n * 0.8)
    sizes = rng.zipf(1.7, known).clip(1, 2000)
    labels = np.repeat(np.arange(len(sizes)), sizes)[:known]
    labels = np.concatenate([labels, labels.max() + 1 + np.arange(n - len(labels))])
    rng.shuffle(labels)
    return labels


def synth(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = synth_labels(n, rng)
    X = np.empty((n, 512), np.float32)
    c = rng.standard_normal((labels.max() + 1, 512), dtype=np.float32)
    for start in range(0, n, 100_000):
        lab = labels[start:start + 100_000]
        block = c[lab] / np.linalg.norm(c[lab], axis=1, keepdims=True)
        block += rng.standard_normal(block.shape, dtype=np.float32) * 0.023
        X[start:start + len(lab)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return X, labels


def synth_descriptors(labels: np.ndarray, seed: int = 1) -> np.ndarray:
    """A dlib-like descriptor for each face: its identity's random centre plus noise."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((labels.max() + 1, 128), dtype=np.float32)
    d = c[labels] / np.linalg.norm(c[labels], axis=1, keepdims=True)
    d += rng.standard_normal(d.shape, dtype=np.float32) * 0.03
    return d


DESCRIBED = os.environ.get("PHOTOFACE_SCALE_DESCRIPTORS") == "1"


def make_db(path: str, n: int) -> None:
    from photoface.config import DLIB_MODEL, FACENET_MODEL
    from photoface.db import Store

    X, labels = synth(n + NEW)
    X = X[:n]  # the last NEW faces arrive later (the assign step)
    D = synth_descriptors(labels)[:n] if DESCRIBED else None
    store = Store(path)
    run = store.start_run("/synthetic", {})
    with store.db.atomic():
        for start in range(0, n, 50_000):
            end = min(n, start + 50_000)
            store.db.conn.executemany(
                "INSERT INTO photos (id, path, size, mtime, status, face_count, run_id, width, height) "
                "VALUES (?, ?, 0, 0, 'indexed', 1, ?, 1000, 800)",
                ((i + 1, f"/synthetic/{i:08d}.jpg", run) for i in range(start, end)))
            store.db.conn.executemany(
                "INSERT INTO faces (photo_id, face_index, x1, y1, x2, y2, score, landmarks, embedding, model, sharpness) "
                "VALUES (?, 0, 100, 100, 300, 340, 0.999, '[]', ?, ?, 80)",
                ((i + 1, X[i].tobytes(), FACENET_MODEL) for i in range(start, end)))
            if D is not None:  # face ids are 1..n, in photo order
                store.db.conn.executemany(
                    "INSERT INTO face_descriptors (face_id, model, descriptor) VALUES (?, ?, ?)",
                    ((i + 1, DLIB_MODEL, D[i].tobytes()) for i in range(start, end)))
    store.finish_run(run, "completed", {})
    store.close()


def step(kind: str, db: str) -> dict:
    """One measured step, run in this (fresh) process."""
    from photoface import api
    from photoface.config import FACENET_MODEL
    from photoface.neighbors import FaceIndex
    from photoface.search import similar_faces
    from photoface.db import Store

    t0 = time.perf_counter()
    if kind == "make":
        n = int(os.path.basename(db).split("-")[1].split(".")[0])
        make_db(db, n)
        result = {}
    elif kind == "cluster":
        out = api.cluster(db, full=True)
        result = {k: out[k] for k in ("faces", "people", "unknown", "elapsed_s")}
    elif kind == "quality":  # how well the full clustering recovered the synthetic identities
        from photoface.metrics import clustering_report

        store = Store(db)
        got = np.array([r[0] for r in store.db.execute(
            "SELECT coalesce(person_id, -1) FROM faces ORDER BY id")], dtype=np.int64)
        n = store.db.execute("SELECT count(*) FROM photos WHERE path NOT LIKE '/synthetic/new%'").fetchone()[0]
        truth = synth_labels(n + NEW, np.random.default_rng(0))[:len(got)]  # added faces included
        report = clustering_report(truth, got)
        result = {"true_people": report["true_people"], "clusters": report["clusters"],
                  "noise": round(report["noise_fraction"], 4),
                  "bcubed_p": round(float(report["bcubed"]["precision"]), 4),
                  "bcubed_r": round(float(report["bcubed"]["recall"]), 4),
                  "bcubed_f1": round(float(report["bcubed"]["f1"]), 4)}
    elif kind == "add":  # 1k new faces arrive (in their own process: not part of the measured step)
        from photoface.config import DLIB_MODEL

        store = Store(db)
        n = store.db.execute("SELECT max(id) FROM photos").fetchone()[0]
        X, labels = synth(n + NEW)
        X = X[n:]  # new photos of the same people (and new strangers)
        D = synth_descriptors(labels)[n:] if DESCRIBED else None
        with store.db.atomic():
            for i in range(NEW):
                pid = store.db["photos"].insert({"path": f"/synthetic/new{i}.jpg", "status": "indexed",
                                                 "face_count": 1, "width": 1000, "height": 800}).last_pk
                fid = store.db.execute(
                    "INSERT INTO faces (photo_id, face_index, x1, y1, x2, y2, score, landmarks, embedding, model) "
                    "VALUES (?, 0, 100, 100, 300, 340, 0.999, '[]', ?, ?)", [pid, X[i].tobytes(), FACENET_MODEL]).lastrowid
                if D is not None:
                    store.db.execute("INSERT INTO face_descriptors (face_id, model, descriptor) VALUES (?, ?, ?)",
                                     [fid, DLIB_MODEL, D[i].tobytes()])
        store.close()
        result = {"library": n}
    elif kind == "assign":  # the incremental run that places them
        out = api.cluster(db)
        result = {k: out[k] for k in ("mode", "assigned", "new_people", "elapsed_s")}
    elif kind == "index":  # build (or refresh) the search index beside the database
        store = Store(db)
        FaceIndex(db, FACENET_MODEL).sync(store, FACENET_MODEL)
        result = {}
    else:  # one query on the existing index; opening it is part of the cost
        store = Store(db)
        row = store.db.execute("SELECT embedding FROM faces WHERE id = 12345 % (SELECT count(*) FROM faces) + 1").fetchone()
        q = np.frombuffer(row[0], "<f4").copy()
        t0 = time.perf_counter()
        index = FaceIndex(db, FACENET_MODEL)
        index.sync(store, FACENET_MODEL)
        hits = similar_faces(store, index, q, 20, 1.1)
        result = {"hits": len(hits), "top_distance": hits[0]["distance"] if hits else None}
    result["seconds"] = round(time.perf_counter() - t0, 3)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def peak_rss_mb() -> int:
    """This process's own peak resident memory. VmHWM, not ru_maxrss: Linux carries
    ru_maxrss over from the parent through fork and exec, so a step started by a parent
    holding 2 GB of synthetic embeddings would report at least 2 GB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--out", default="/tmp/photoface-scale")
    ap.add_argument("--queries", type=int, default=5, help="search queries per size (median reported)")
    ap.add_argument("--step", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--descriptors", action="store_true", help="dlib descriptors too: clustering on the fused vectors")
    args = ap.parse_args()
    if args.descriptors:
        os.environ["PHOTOFACE_SCALE_DESCRIPTORS"] = "1"  # the steps run in child processes
    if args.step:
        print(json.dumps(step(*args.step)))
        return 0
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for n in args.sizes:
        db = os.path.join(args.out, f"synthetic-{n}.db")
        for leftover in (db, db + "-wal", db + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        def run(kind):
            out = subprocess.run([sys.executable, __file__, "--step", kind, db], capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
            return json.loads(out.stdout.strip().splitlines()[-1])

        print(f"{n}: database made in {run('make')['seconds']:.0f} s", file=sys.stderr)

        row = {"faces": n, "cluster": run("cluster")}
        row["quality"] = run("quality")
        row["index_build"] = run("index")  # the first search or incremental run builds it
        run("add")
        row["assign_1k"] = run("assign")
        queries = [run("query") for _ in range(args.queries)]
        row["query"] = {"median_s": float(np.median([q["seconds"] for q in queries])),
                        "peak_rss_mb": max(q["peak_rss_mb"] for q in queries), "hits": queries[0]["hits"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| faces | cluster --full s | cluster peak MB | people | BCubed P / R / F1 | search index build s "
          "| assign 1k new: run s (call incl. imports) | assign peak MB | query s (median) | query peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, q = r["assign_1k"], r["quality"]
        print(f"| {r['faces']:,} | {r['cluster']['seconds']} | {r['cluster']['peak_rss_mb']:,} | {r['cluster']['people']:,} "
              f"| {q['bcubed_p']} / {q['bcubed_r']} / {q['bcubed_f1']} "
              f"| {r['index_build']['seconds']} | {a['elapsed_s']} ({a['seconds']}) | {a['peak_rss_mb']:,} "
              f"| {r['query']['median_s']} | {r['query']['peak_rss_mb']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
