"""How fast `photoface serve` renders its pages on a big library.

    python benchmarks/serve_pages.py [--clusters 10000] [--big 10000] [--unknown 10000] [--repeats 5]
                                     [--out /tmp/photoface-serve]

Builds a database of synthetic faces (benchmarks/people_scale.py's embeddings, fake photo
paths) holding ``--clusters`` people of 10 faces each plus one person with ``--big``
faces, and ``--unknown`` faces in no person (taken from the last clusters), then times each page through Flask's test client in this process: the whole
request (api calls, SQL, template), without the browser and without thumbnails (they are
separate requests, loaded lazily, and cached on disk after the first). The first request
of the person page also builds the search index used for "closest people"; it is reported
apart. Medians of ``--repeats`` requests.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from people_scale import make_db  # noqa: E402


def build(path: str, clusters: int, big: int, unknown: int) -> None:
    from photoface.db import Store

    n = clusters * 10 + big
    make_db(path, n)
    store = Store(path)
    now = "2026-01-01T00:00:00+00:00"
    with store.db.atomic():
        store.db.conn.executemany("INSERT INTO people (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                                  ((i, "Big Person" if i == 1 else None, now, now) for i in range(1, clusters + 2)))
        store.db.execute("UPDATE faces SET person_id = 1, assigned_by = 'cluster', clustered = 1 WHERE id <= ?", [big])
        store.db.execute("UPDATE faces SET person_id = 2 + (id - ? - 1) / 10, assigned_by = 'cluster', clustered = 1 "
                         "WHERE id > ?", [big, big])
        store.db.execute("UPDATE faces SET person_id = NULL, assigned_by = NULL WHERE id > ?", [n - unknown])
        store.db.execute("DELETE FROM people WHERE id > 1 AND id NOT IN (SELECT DISTINCT person_id FROM faces "
                         "WHERE person_id IS NOT NULL)")
    store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--unknown", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="/tmp/photoface-serve")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    db = os.path.join(args.out, f"serve-{args.clusters}-{args.big}-{args.unknown}.db")
    if not os.path.exists(db):
        t = time.perf_counter()
        build(db, args.clusters, args.big, args.unknown)
        print(f"database: {args.clusters:,} clusters of 10 faces + one person with {args.big:,} faces, "
              f"{args.unknown:,} of the clusters' faces left unknown, made in {time.perf_counter() - t:.0f} s")
    from photoface.web import create_app

    client = create_app(db).test_client()
    last_people = -(-(args.clusters - args.unknown // 10 + 1) // 60)
    pages = {"people, first page": "/people", f"people, page {last_people} (last)": f"/people?page={last_people}",
             f"person with {args.big:,} faces": "/person/1", "same, page 50": "/person/1?page=50",
             "person with 10 faces": "/person/2", "review queue": "/review", "status": "/status",
             "search by person": "/search?people=Big+Person",
             f"unknown faces ({args.unknown:,}), first page": "/unknown",
             "unknown faces, page 50": "/unknown?page=50"}
    t = time.perf_counter()
    assert client.get("/person/1").status_code == 200
    print(f"first person page (builds the search index): {time.perf_counter() - t:.2f} s")
    print("| page | median s | min s | max s | bytes |")
    print("|---|---|---|---|---|")
    for name, url in pages.items():
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            resp = client.get(url)
            times.append(time.perf_counter() - t)
            assert resp.status_code == 200, (url, resp.status_code)
        print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} | {len(resp.data):,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
