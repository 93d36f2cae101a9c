"""Face crops for the embedder: pure functions on arrays, no model."""
from __future__ import annotations

import cv2
import numpy as np

from .types import Detection


def margin_crop(image_rgb: np.ndarray, det: Detection, size_px: int, margin: float) -> np.ndarray:
    """Crop ``det`` (in ``image_rgb`` pixels) with a margin and resize to size_px x size_px.

    ``margin`` is the total margin as a fraction of the box size, split between the two
    sides, as in FaceNet's own MTCNN alignment; the crop is clipped to the image.
    """
    h, w = image_rgb.shape[:2]
    mx = det.width * margin / 2
    my = det.height * margin / 2
    x1 = int(np.clip(np.floor(det.x1 - mx), 0, w - 1))
    y1 = int(np.clip(np.floor(det.y1 - my), 0, h - 1))
    x2 = int(np.clip(np.ceil(det.x2 + mx), x1 + 1, w))
    y2 = int(np.clip(np.ceil(det.y2 + my), y1 + 1, h))
    crop = image_rgb[y1:y2, x1:x2]
    shrinking = crop.shape[0] > size_px or crop.shape[1] > size_px
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (size_px, size_px), interpolation=interp)


def sharpness(crop_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop: a blur measure (below about 30 is blurred at 160 px)."""
    grey = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def square_crop(image_rgb: np.ndarray, det: Detection, size_px: int, scale: float) -> np.ndarray:
    """A square of side ``scale`` x the box's longer side, centred on the box, resized to
    size_px x size_px. Parts outside the image repeat its border pixels (as the age/gender
    model's own pipeline pads), so a face at the edge keeps its proportions."""
    h, w = image_rgb.shape[:2]
    side = max(det.width, det.height) * scale
    cx, cy = (det.x1 + det.x2) / 2, (det.y1 + det.y2) / 2
    x1, y1 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    x2, y2 = int(np.ceil(cx + side / 2)), int(np.ceil(cy + side / 2))
    pad = [max(0, -y1), max(0, y2 - h), max(0, -x1), max(0, x2 - w)]
    crop = image_rgb[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
    if crop.size == 0:
        return np.zeros((size_px, size_px, 3), np.uint8)
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if crop.shape[0] > size_px else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (size_px, size_px), interpolation=interp)


#: Where MTCNN's five landmarks (left eye, right eye, nose, mouth corners) lie on the face
#: chip dlib's descriptor network was trained on, as fractions of the chip before padding:
#: the median over 267 faces of LFW, celeb5, actors5 and stock of MTCNN's landmarks mapped
#: by the transform dlib's own 5-point shape gives (get_face_chip_details; `python
#: benchmarks/dlib_chips.py template`). Descriptors of chips cut this way lie a median 0.15 from dlib's
#: own (their same-person distances are about 0.3-0.5, different people 0.8).
DLIB_CHIP_LANDMARKS = np.array([[0.2268, 0.1998], [0.7530, 0.2009], [0.4911, 0.5296], [0.2557, 0.7814],
                                [0.7175, 0.7834]])
DLIB_CHIP_PADDING = 0.25  # dlib's compute_face_descriptor's default
#: MTCNN's landmarks as fractions of its box (the median over the same faces), for a face
#: without landmarks (one drawn by hand).
BOX_LANDMARKS = np.array([[0.270, 0.390], [0.737, 0.380], [0.508, 0.594], [0.314, 0.763], [0.723, 0.752]])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation, uniform scale and translation that maps ``src`` points onto ``dst``
    with the least squared error (Umeyama's closed form)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, s, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    r = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / max((a ** 2).sum(axis=1).mean(), 1e-12)
    return np.hstack([scale * r, (md - scale * r @ ms)[:, None]])


def dlib_chip(image_rgb: np.ndarray, det: Detection, size_px: int = 150) -> np.ndarray:
    """The aligned chip dlib's descriptor network takes (models/dlib_resnet.py): the face
    rotated, scaled and moved so its landmarks fall on DLIB_CHIP_LANDMARKS, with dlib's
    padding. A face shrunk more than twice is first resized with area averaging (dlib's
    extract_image_chips uses a pyramid for the same reason); outside the image is black."""
    points = np.asarray(det.landmarks, np.float64) if len(det.landmarks) == 5 else \
        np.array([det.x1, det.y1]) + BOX_LANDMARKS * np.array([det.width, det.height])
    target = (DLIB_CHIP_PADDING + DLIB_CHIP_LANDMARKS) / (2 * DLIB_CHIP_PADDING + 1) * size_px
    m = similarity_transform(points, target)
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if scale < 0.5:
        h, w = image_rgb.shape[:2]
        corners = np.array([[0, 0], [size_px, 0], [0, size_px], [size_px, size_px]], np.float64)
        inverse = cv2.invertAffineTransform(m)
        around = corners @ inverse[:, :2].T + inverse[:, 2]
        x0, y0 = np.clip(np.floor(around.min(axis=0)).astype(int), 0, [w, h])
        x1, y1 = np.clip(np.ceil(around.max(axis=0)).astype(int), 0, [w, h])
        if x1 > x0 and y1 > y0:
            f = 2 * scale  # the region at twice the chip's scale, then the affine warp halves it
            region = cv2.resize(np.ascontiguousarray(image_rgb[y0:y1, x0:x1]),
                                (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))),
                                interpolation=cv2.INTER_AREA)
            # a photo point p is region point q = (p - (x0, y0)) * f
            m = np.hstack([m[:, :2] / f, (m[:, 2] + m[:, :2] @ np.array([x0, y0], np.float64))[:, None]])
            image_rgb = region
    return cv2.warpAffine(np.ascontiguousarray(image_rgb), m, (size_px, size_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
