"""Write a copy of a video with a box and a name on every face.

Faces are detected and recognized every ``every`` frames; in between, each box follows its
face by optical flow (Lucas-Kanade on corner points inside the box), which costs a few
milliseconds per frame instead of a detection. Names come from the library's named people:
the nearest named face within ``max_distance``; anything else is labeled "unknown".
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .config import NAMING_DISTANCE
from .errors import InputError
from .track import iou
from .types import Detection
from .vectors import NamedFaces

UNKNOWN = "unknown"


@dataclass
class Box:
    x1: float
    y1: float
    x2: float
    y2: float
    name: str
    distance: float | None
    detected: bool = True  # False: moved here by optical flow since the last detection

    def as_dict(self) -> dict:
        return {"box": [round(v, 1) for v in (self.x1, self.y1, self.x2, self.y2)], "name": self.name,
                "distance": None if self.distance is None else round(self.distance, 4), "detected": self.detected}


@dataclass
class AnnotateResult:
    output: str
    frames: int
    fps: float
    width: int
    height: int
    detections: int  # frames on which faces were detected
    seconds: float
    names: dict[str, int] = field(default_factory=dict)  # frames on which each name appears

    @property
    def realtime_factor(self) -> float:
        """Video seconds written per second of work: above 1 is faster than real time."""
        return (self.frames / self.fps) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"output": self.output, "frames": self.frames, "fps": self.fps, "width": self.width,
                "height": self.height, "detection_frames": self.detections, "seconds": round(self.seconds, 2),
                "frames_per_s": round(self.frames / self.seconds, 1) if self.seconds else 0.0,
                "realtime_factor": round(self.realtime_factor, 2), "names": self.names}


def _follow(prev_grey: np.ndarray, grey: np.ndarray, boxes: list[Box]) -> list[Box]:
    """Move each box by the median optical flow of corner points inside it."""
    out = []
    h, w = grey.shape
    for b in boxes:
        x1, y1 = max(0, int(b.x1)), max(0, int(b.y1))
        x2, y2 = min(w, int(b.x2)), min(h, int(b.y2))
        if x2 - x1 < 8 or y2 - y1 < 8:
            out.append(b)
            continue
        mask = np.zeros_like(prev_grey)
        mask[y1:y2, x1:x2] = 255
        points = cv2.goodFeaturesToTrack(prev_grey, 30, 0.01, 3, mask=mask)
        dx = dy = 0.0
        if points is not None:
            moved, status, _ = cv2.calcOpticalFlowPyrLK(prev_grey, grey, points, None, winSize=(15, 15), maxLevel=2)
            ok = status.ravel() == 1
            if ok.sum() >= 3:
                shift = np.median((moved - points).reshape(-1, 2)[ok], axis=0)
                dx, dy = float(shift[0]), float(shift[1])
        out.append(Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy, b.name, b.distance, detected=False))
    return out


def _draw(bgr: np.ndarray, boxes: list[Box], scale: float) -> None:
    thick = max(2, round(bgr.shape[0] / 360))
    font = max(0.5, bgr.shape[0] / 900)
    for b in boxes:
        known = b.name != UNKNOWN
        color = (60, 200, 60) if known else (40, 40, 230)  # BGR: green for a name, red for unknown
        p1 = (round(b.x1 * scale), round(b.y1 * scale))
        p2 = (round(b.x2 * scale), round(b.y2 * scale))
        cv2.rectangle(bgr, p1, p2, color, thick)
        (tw, th), base = cv2.getTextSize(b.name, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        top = max(0, p1[1] - th - base - 4)
        cv2.rectangle(bgr, (p1[0], top), (p1[0] + tw + 6, top + th + base + 4), color, -1)
        cv2.putText(bgr, b.name, (p1[0] + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick,
                    cv2.LINE_AA)


def annotate_video(src: str, dst: str, recognizer: NamedFaces, spec, every: int, max_side: int,
                   cut_threshold: float, labels_path: str | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> AnnotateResult:
    """Copy ``src`` to ``dst`` (same size, frame rate and frame count) with faces boxed and
    named; ``every``, ``max_side`` and ``cut_threshold`` as Settings.annotate_every,
    annotate_max_side_px and video_cut_threshold."""
    from .models import get_embedder
    from .pipeline import faces_in_image
    from .video import open_video

    cap, info = open_video(src)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if dst.lower().endswith((".mp4", ".m4v", ".mov")) else "MJPG"))
    writer = cv2.VideoWriter(dst, fourcc, info.fps, (info.width, info.height))
    if not writer.isOpened():
        cap.release()
        raise InputError(f"cannot write the video {dst}: use a .mp4 or .avi name in a writable folder")
    scale = min(1.0, max_side / max(info.width, info.height))  # detection and tracking resolution
    size = (max(1, round(info.width * scale)), max(1, round(info.height * scale)))
    embedder = get_embedder(spec.embedder)
    labels = open(labels_path, "w") if labels_path else None
    result = AnnotateResult(dst, 0, info.fps, info.width, info.height, 0, 0.0)
    boxes: list[Box] = []
    prev_grey = prev_sig = None
    started = time.monotonic()
    try:
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
            grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            sig = cv2.resize(grey, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
            cut = prev_sig is not None and float(np.mean(np.abs(sig - prev_sig))) > cut_threshold
            prev_sig = sig
            if index % every == 0 or cut:  # a scene cut: boxes of the last shot must not linger
                rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
                dets, crops, _ = faces_in_image(rgb, spec, max_side)
                named = recognizer.match(embedder.embed(np.stack(crops)), UNKNOWN) if crops else []
                fresh = [Box(d.x1, d.y1, d.x2, d.y2, n, dist) for d, (n, dist) in zip(dets, named)]
                boxes = _keep_names(boxes, fresh, recognizer.max_distance + 0.1)
                result.detections += 1
            elif prev_grey is not None and boxes:
                boxes = _follow(prev_grey, grey, boxes)
            prev_grey = grey
            _draw(bgr, boxes, 1.0 / scale)
            writer.write(bgr)
            for b in boxes:
                result.names[b.name] = result.names.get(b.name, 0) + 1
            if labels:
                labels.write(json.dumps({"frame": index, "t": round(index / info.fps, 3),
                                         "faces": [_scaled(b, 1.0 / scale).as_dict() for b in boxes]}) + "\n")
            index += 1
            if on_progress and index % 25 == 0:
                on_progress(index, info.frames)
        result.frames = index
    finally:
        cap.release()
        writer.release()
        if labels:
            labels.close()
    result.seconds = time.monotonic() - started
    if result.frames == 0:
        raise InputError(f"no frame of {src} could be decoded")
    return result


def _scaled(b: Box, f: float) -> Box:
    return Box(b.x1 * f, b.y1 * f, b.x2 * f, b.y2 * f, b.name, b.distance, b.detected)


def _keep_names(previous: list[Box], fresh: list[Box], near_miss: float) -> list[Box]:
    """A face named a moment ago that is now only a near miss (nearest named face within
    ``near_miss``) in nearly the same place keeps its name, so labels do not flicker
    between a name and "unknown" from one detection to the next."""
    for b in fresh:
        if b.name != UNKNOWN or b.distance is None or b.distance > near_miss:
            continue
        best = max(previous, default=None, key=lambda p: iou(_det(p), _det(b)))
        if best is not None and best.name != UNKNOWN and iou(_det(best), _det(b)) > 0.5:
            b.name = best.name
    return fresh


def _det(b: Box) -> Detection:
    return Detection(b.x1, b.y1, b.x2, b.y2, 1.0, ())


def annotate_file(video: str, output: str, names: list[str], vectors: np.ndarray, settings, every: int | None = None,
                  max_side: int | None = None, max_distance: float = NAMING_DISTANCE, labels: str | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Write ``output``: ``video`` with every face boxed and named after the closest of the
    named faces (``names``, ``vectors``) within ``max_distance``, or "unknown". Detection and
    recognition run every ``every`` frames at ``max_side`` pixels (Settings.annotate_every
    and annotate_max_side_px by default); optical flow moves the boxes in between.
    ``labels`` writes one JSON line per frame with its boxes and names."""
    from .pipeline import PipelineSpec

    every = settings.annotate_every if every is None else every
    max_side = settings.annotate_max_side_px if max_side is None else max_side
    if every < 1:
        raise InputError(f"--every must be at least 1, got {every}")
    if not os.path.isfile(video):
        raise InputError(f"video not found: {video}")
    if os.path.abspath(video) == os.path.abspath(output):
        raise InputError("the output must be a new file, not the input video")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {output}: folder {folder} does not exist")
    result = annotate_video(video, output, NamedFaces(vectors, names, max_distance),
                            PipelineSpec.from_settings(settings), every=every, max_side=max_side,
                            cut_threshold=settings.video_cut_threshold, labels_path=labels, on_progress=on_progress)
    return {**result.to_dict(), "named_people": len(set(names))}
