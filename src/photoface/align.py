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
