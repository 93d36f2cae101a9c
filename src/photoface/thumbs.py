"""Images for the browser: face thumbnails and downsized photos, cut on demand from the
indexed photos and cached on disk beside the database (a cache, not the library: written
by a read-only server too, and skipped where the folder cannot be written). Only photos in
the database are ever read (by id), never a path from a request."""
from __future__ import annotations

import io
import os

from PIL import Image

from .decode import decode_image

FACE_PX = 160
PHOTO_PX = 1600


def cache_dir(db: str) -> str:
    return os.path.abspath(db) + ".thumbs"


def _cached(db: str, name: str, make) -> bytes:
    path = os.path.join(cache_dir(db), name)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        pass
    data = make()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # atomic: a concurrent request never reads half a file
    except OSError:  # a library on read-only storage: served, not cached
        pass
    return data


def _jpeg(img: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _image(path: str, t: float | None):
    """(RGB array, scale to original pixels): the photo, or a video's frame at ``t`` seconds."""
    from .scan import is_video

    if is_video(path):
        from .video import frame_at

        return frame_at(path, t or 0.0), 1.0
    with open(path, "rb") as fh:
        decoded = decode_image(fh.read(), PHOTO_PX)
    return decoded.rgb, decoded.scale


def face_jpeg(db: str, face_id: int, path: str, box, mtime: float, t: float | None = None) -> bytes:
    """A square crop around the face box (with some margin), FACE_PX wide; for a face
    track of a video, from the frame at ``t``."""
    def make():
        rgb, scale = _image(path, t)
        x1, y1, x2, y2 = (v / scale for v in box)
        side = max(x2 - x1, y2 - y1) * 1.4
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        img = Image.fromarray(rgb)
        crop = img.crop((round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)))
        return _jpeg(crop.resize((FACE_PX, FACE_PX), Image.Resampling.LANCZOS))

    return _cached(db, f"face/{face_id % 1000:03d}/{face_id}-{int(mtime)}.jpg", make)


def photo_jpeg(db: str, photo_id: int, path: str, mtime: float) -> bytes:
    """The photo, EXIF-oriented, at most PHOTO_PX on its longer side (a video: its first frame)."""
    def make():
        img = Image.fromarray(_image(path, None)[0])
        img.thumbnail((PHOTO_PX, PHOTO_PX), Image.Resampling.LANCZOS)
        return _jpeg(img)

    return _cached(db, f"photo/{photo_id % 1000:03d}/{photo_id}-{int(mtime)}.jpg", make)


def frame_jpeg(db: str, face_id: int, path: str, mtime: float, t: float) -> bytes:
    """The frame of a video at ``t`` seconds (where face track ``face_id`` was seen), at most
    PHOTO_PX on its longer side."""
    def make():
        img = Image.fromarray(_image(path, t)[0])
        img.thumbnail((PHOTO_PX, PHOTO_PX), Image.Resampling.LANCZOS)
        return _jpeg(img)

    return _cached(db, f"frame/{face_id % 1000:03d}/{face_id}-{int(mtime)}.jpg", make)
