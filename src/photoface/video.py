"""Video files -> sampled RGB frames (every N seconds and at scene cuts), through OpenCV."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own messages on bad files: errors are reported by photoface
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from .errors import ImageError


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # as the container states it; may be approximate

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class Sample:
    index: int  # frame number
    t: float  # seconds from the start
    rgb: np.ndarray
    cut: bool  # the first frame after a scene cut


def open_video(path: str) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture and the stream's size, frame rate and length, or an ImageError."""
    if not os.path.exists(path):
        raise ImageError("file vanished before it could be read")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise ImageError("not a readable video (corrupt, or a codec OpenCV cannot decode)")
    info = VideoInfo(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                     float(cap.get(cv2.CAP_PROP_FPS) or 0.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    if info.width <= 0 or info.height <= 0:
        cap.release()
        raise ImageError("not a readable video: no video stream")
    if not (0 < info.fps < 1000):
        info = VideoInfo(info.width, info.height, 25.0, info.frames)  # a broken rate field: assume 25
    return cap, info


def _signature(bgr: np.ndarray) -> np.ndarray:
    small = cv2.resize(bgr, (64, 36), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)


def sample_frames(path: str, every_s: float = 1.0, cut_threshold: float = 30.0,
                  check_every_s: float = 0.2) -> tuple[VideoInfo, Iterator[Sample]]:
    """The video's info and an iterator over its samples: a frame every ``every_s``
    seconds, and the first frame after each scene cut. A cut is a mean absolute change
    of more than ``cut_threshold`` grey levels between two frames ``check_every_s``
    apart (measured on 64x36 thumbnails); 0 turns cut detection off.

    Raises ImageError when the file cannot be opened or holds no decodable frame.
    """
    cap, info = open_video(path)
    step = max(1, round(info.fps * every_s))
    check = max(1, round(info.fps * check_every_s))

    def frames() -> Iterator[Sample]:
        previous = None
        last_sample = -step
        index = 0
        try:
            while cap.grab():
                sample_due = index - last_sample >= step
                if sample_due or (cut_threshold > 0 and index % check == 0):
                    ok, bgr = cap.retrieve()
                    if not ok:
                        break
                    cut = False
                    if cut_threshold > 0 and index % check == 0:
                        sig = _signature(bgr)
                        cut = previous is not None and float(np.mean(np.abs(sig - previous))) > cut_threshold
                        previous = sig
                    if sample_due or cut:
                        last_sample = index
                        yield Sample(index, index / info.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), cut)
                index += 1
        finally:
            cap.release()
        if index == 0:
            raise ImageError("not a readable video: no frame could be decoded")

    return info, frames()


def frame_at(path: str, t: float) -> np.ndarray:
    """The RGB frame of a video at ``t`` seconds (thumbnails of face tracks)."""
    cap, info = open_video(path)
    try:
        cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, t) * 1000.0)
        ok, bgr = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = cap.read()
        if not ok:
            raise ImageError("not a readable video: no frame could be decoded")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
