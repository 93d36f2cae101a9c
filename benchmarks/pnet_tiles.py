"""P-Net over the pyramid levels of a folder's photos: interpreters prepared per level shape
(the LiteRT detector before tiles) against tiles (models/pnet_tiles.py, what it runs now).

    python benchmarks/pnet_tiles.py FOLDER [--repeats 3] [--threads 0]
    python benchmarks/cpu_kind.py avx2 -- python benchmarks/pnet_tiles.py FOLDER

The photos are decoded and scaled for detection as `photoface index` does, and their
levels made as the detector makes them (20 px smallest face). Both ways run every level
in the photos' order, alternating, ``--repeats`` times; each starts with no interpreter
prepared, as a new process does. Prints seconds (median, runs), the preparations each made
and whether their outputs are identical, bit for bit.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from photoface.config import Settings
from photoface.decode import decode_image
from photoface.errors import ImageError
from photoface.models import lite
from photoface.models.detector import MTCNN_WEIGHTS, PNET_POOLED_VALUES, PNET_SHAPES, _convert, pyramid
from photoface.models.pnet_tiles import PNetTiles
from photoface.pipeline import detection_image
from photoface.scan import scan


class Counting(lite.ShapePool):
    """A ShapePool that counts the interpreters it prepares (a new one or a resize)."""

    prepared = 0

    def _get(self, shape):
        if not self.ready(shape):
            self.prepared += 1
        return super()._get(shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="threads per interpreter (0: every usable core)")
    args = ap.parse_args()
    settings = Settings()
    levels = []
    for entry in scan(args.folder):
        try:
            with open(entry.path, "rb") as f:
                rgb = decode_image(f.read(), settings.decode_max_side_px).rgb
        except (ImageError, OSError):
            continue
        levels += pyramid(detection_image(rgb, settings.detect_max_side_px)[0], 20)[0]
    shapes = {level.shape for level in levels}
    print(f"{len(levels)} levels of the photos in {args.folder}, {len(shapes)} shapes")
    path, content = lite.cached_model("mtcnn-pnet", MTCNN_WEIGHTS[0].sha256, lambda: _convert("pnet", args.threads))

    def per_shape():
        pool = Counting(path, content, args.threads, PNET_SHAPES, PNET_POOLED_VALUES)
        return pool, (lambda level: pool(level[None])[0])

    def tiled():
        pool = Counting(path, content, args.threads, PNET_SHAPES, PNET_POOLED_VALUES)
        return pool, PNetTiles(pool)

    times = {"interpreter per level shape": [], "tiles": []}
    prepared, outputs = {}, {}
    for _ in range(args.repeats):
        for name, make in (("interpreter per level shape", per_shape), ("tiles", tiled)):
            pool, run = make()
            start = time.perf_counter()
            outputs[name] = [run(level) for level in levels]
            times[name].append(time.perf_counter() - start)
            prepared[name] = pool.prepared
    same = all(np.array_equal(a, b) for a, b in zip(*outputs.values()))
    print("| P-Net | s (median) | runs | interpreters prepared |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} | {', '.join(f'{t:.2f}' for t in ts)} | {prepared[name]} |")
    print(f"outputs identical: {same}")


if __name__ == "__main__":
    main()
