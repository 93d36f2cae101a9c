"""Recipe: index a folder, then list which faces look like the same person.

    python workflows/index_and_match.py tests/data/photos --db demo.db

Prints each photo's faces, then every pair of faces from different photos whose FaceNet
distance is under the same-person threshold documented in models/facenet.md.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np

from photoface import api
from photoface.config import SAME_PERSON_DISTANCE
from photoface.errors import PhotofaceError
from photoface.db import Store


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--db", default="photoface.db")
    parser.add_argument("--scheduler", default="local")
    args = parser.parse_args(argv)
    try:
        summary = api.index(args.folder, args.db, scheduler=args.scheduler)
    except PhotofaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"indexed {summary.photos_indexed} photos, {summary.faces_found} new faces")

    store = Store(args.db)
    faces = list(store.iter_faces())
    store.close()
    for face in faces:
        name = os.path.relpath(face["path"], args.folder)
        box = ", ".join(f"{face[k]:.0f}" for k in ("x1", "y1", "x2", "y2"))
        print(f"face {face['id']}: {name} [{box}] score {face['score']:.3f}")
    print(f"same person (distance < {SAME_PERSON_DISTANCE}):")
    for a, b in itertools.combinations(faces, 2):
        if a["photo_id"] == b["photo_id"]:
            continue
        dist = float(np.linalg.norm(a["embedding"] - b["embedding"]))
        if dist < SAME_PERSON_DISTANCE:
            print(f"  {os.path.relpath(a['path'], args.folder)} ~ {os.path.relpath(b['path'], args.folder)}: {dist:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
