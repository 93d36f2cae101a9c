"""What reading face tags costs `photoface index`: the same folder indexed with and without
(--no-tags), alternating, each into a fresh library; medians of several runs.

    python benchmarks/tags_cost.py [--lfw ../shared/data/lfw] [--photos 200] [--runs 3]

The folder: the first photos of LFW (every person's in turn), every other one with a
digiKam-style sidecar (PHOTO.jpg.xmp, one MWG face region named after the person, written
by ExifTool), so that reading finds regions to match as well as files without any. Prints
whole-command seconds and photos/s for both, the time the tag reading itself took inside
the run, and the cost of a second, unchanged run (only file signatures are compared).
--sidecar-every 0: a library no app has tagged (JPEGs whose metadata names no face tag are
not given to ExifTool at all).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _people_folder(lfw: Path) -> Path:
    """LFW's folder of people (lfw-deepfunneled/ or lfw/ inside the data set's folder)."""
    return next((lfw / d for d in ("lfw-deepfunneled", "lfw") if (lfw / d).is_dir()), lfw)


def build(lfw: Path, n: int, out: Path, every: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for d in sorted(_people_folder(lfw).iterdir())
                    if d.is_dir() for p in sorted(d.glob("*.jpg")))[:n]
    entries = []
    for i, p in enumerate(photos):
        shutil.copy(p, out / p.name)
        if every and i % every == 0:  # LFW's face lies about in the middle of the 250 px photo
            entries.append({"SourceFile": str(out / (p.name + ".xmp")), "XMP-mwg-rs:RegionInfo": {
                "AppliedToDimensions": {"W": 250, "H": 250, "Unit": "pixel"},
                "RegionList": [{"Area": {"X": 0.5, "Y": 0.46, "W": 0.4, "H": 0.5, "Unit": "normalized"},
                                "Name": p.parent.name.replace("_", " "), "Type": "Face"}]}})
    if entries:
        spec = out.parent / "tags.json"
        spec.write_text(json.dumps(entries))
        subprocess.run(["exiftool", "-q", "-struct", f"-json={spec}", *[e["SourceFile"] for e in entries]], check=True)
    return len(photos)


def index(folder: Path, db: Path, tags: bool) -> tuple[float, dict]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "photoface", "index", str(folder), "--db", str(db), "--scheduler",
                           "sync", "--json", "--no-progress", *([] if tags else ["--no-tags"])],
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - t, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"))
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sidecar-every", type=int, default=2, help="A sidecar for every Nth photo (0: none).")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tags-cost-"))
    n = build(Path(args.lfw), args.photos, work / "photos", args.sidecar_every)
    tagged = len(list((work / "photos").glob("*.xmp")))
    rows = {True: [], False: []}
    for run in range(args.runs):
        for tags in ((False, True) if run % 2 == 0 else (True, False)):
            db = work / f"r{run}-{int(tags)}.db"
            seconds, summary = index(work / "photos", db, tags)
            again, second = index(work / "photos", db, tags)
            rows[tags].append((seconds, summary, again))
            t = summary.get("tags") or {}
            print(f"run {run} tags={'on ' if tags else 'off'}: {seconds:6.1f} s, {n / seconds:5.2f} photos/s"
                  + (f"; reading tags {t['elapsed_s']:.2f} s, {len(t['named'])} faces named" if t else "")
                  + f"; unchanged re-run {again:.1f} s", flush=True)
    off = statistics.median(r[0] for r in rows[False])
    on = statistics.median(r[0] for r in rows[True])
    inside = statistics.median(r[1]["tags"]["elapsed_s"] for r in rows[True])
    print(f"\n{n} photos ({tagged} with a sidecar), medians of {args.runs}: without tags {off:.1f} s "
          f"({n / off:.2f} photos/s), with tags {on:.1f} s ({n / on:.2f} photos/s): {100 * (on / off - 1):+.1f}%")
    print(f"reading the tags inside the run: {inside:.2f} s ({1000 * inside / n:.1f} ms per photo, "
          f"{100 * inside / off:.1f}% of the run without); unchanged re-run: "
          f"{statistics.median(r[2] for r in rows[False]):.1f} s without, {statistics.median(r[2] for r in rows[True]):.1f} s with")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
