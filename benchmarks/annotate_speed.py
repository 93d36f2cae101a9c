"""Speed of `photoface annotate` on a 720p video, against real time.

Makes a 1280x720, 30 fps video from the photos in tests/data (a group of three people, then
each alone, slowly zooming), and annotates it several times with detection every N frames.
Prints the median frames/s and real-time factor (video seconds per second of work; above 1
is faster than real time), and the same for a plain OpenCV decode + encode of the video,
the floor any annotator pays.

Usage: python benchmarks/annotate_speed.py [--seconds 20] [--every 3 5 10] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def copy_only(src: str, dst: str) -> float:
    t0 = time.monotonic()
    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(frame)
    cap.release()
    out.release()
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--every", type=int, nargs="+", default=[3, 5, 10])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from conftest import compose_group, make_video
    from photoface import api

    tmp = Path(tempfile.mkdtemp())
    compose_group(["astronaut.jpg", "biden.jpg", "obama2.jpg"]).save(tmp / "group.jpg")
    quarter = args.seconds / 4
    src = tmp / "clip720.mp4"
    # an absolute path works where make_video expects a photo name of tests/data
    frames = make_video(src, [(str(tmp / "group.jpg"), 2 * quarter), ("obama.jpg", quarter), ("biden.jpg", quarter)],
                        fps=30.0, size=(1280, 720))
    print(f"video: {frames} frames, 1280x720, 30 fps, {frames / 30:.1f} s")
    duration = frames / 30.0
    api.annotate(str(src), str(tmp / "warm.mp4"), every=10)  # load the models once
    copies = [copy_only(str(src), str(tmp / "copy.mp4")) for _ in range(args.repeats)]
    c = statistics.median(copies)
    print(f"| decode + encode only | {frames / c:.1f} frames/s | {duration / c:.2f}x real time |")
    for every in args.every:
        runs = [api.annotate(str(src), str(tmp / f"out{every}.mp4"), every=every) for _ in range(args.repeats)]
        secs = statistics.median(r["seconds"] for r in runs)
        print(f"| annotate --every {every} | {frames / secs:.1f} frames/s | {duration / secs:.2f}x real time | "
              f"runs: {', '.join('%.1f s' % r['seconds'] for r in runs)} | names: {runs[-1]['names']} |")


if __name__ == "__main__":
    main()
