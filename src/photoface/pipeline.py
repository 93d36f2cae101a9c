"""Index a list of files into face rows: read -> decode -> detect -> align -> embed. No Dask, no SQLite."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .align import margin_crop, sharpness
from .config import FACENET_MODEL, MTCNN_MODEL, Settings
from .decode import decode_image
from .errors import DeviceError, ImageError, ModelError
from .models import get_model
from .types import Face, ModelSpec, PhotoResult, WorkItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSpec:
    """Everything a worker needs to index files; small and picklable (no model inside)."""

    settings: Settings
    detector: ModelSpec
    embedder: ModelSpec

    @classmethod
    def from_settings(cls, settings: Settings, threads: int = 0) -> "PipelineSpec":
        return cls(
            settings,
            ModelSpec(MTCNN_MODEL, None, settings.device, threads),
            ModelSpec(FACENET_MODEL, None, settings.device, threads),
        )


def read_file(path: str) -> bytes:
    """The file's bytes, or an ImageError saying why it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ImageError("file vanished before it could be read") from None
    except PermissionError:
        raise ImageError("unreadable: permission denied") from None
    except IsADirectoryError:
        raise ImageError("is a directory, not a file") from None
    except OSError as exc:
        raise ImageError(f"unreadable: {exc.strerror or exc}") from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def detect_in_photo(item: WorkItem, spec: PipelineSpec):
    """Read, hash, decode and detect one file -> (PhotoResult without embeddings, detections, crops)."""
    s = spec.settings
    result = PhotoResult(item.path, item.size, item.mtime)
    try:
        data = read_file(item.path)
        result.sha256 = sha256_bytes(data)
        result.size = len(data)
        decoded = decode_image(data, s.decode_max_side_px, s.max_pixels)
        del data
    except ImageError as exc:
        result.status, result.error = "failed", str(exc)
        return result, [], []
    result.width, result.height, result.taken_at = decoded.width, decoded.height, decoded.taken_at
    rgb = decoded.rgb
    det_scale = 1.0
    if max(rgb.shape[:2]) > s.detect_max_side_px:
        det_scale = max(rgb.shape[:2]) / s.detect_max_side_px
        size = (max(1, round(rgb.shape[1] / det_scale)), max(1, round(rgb.shape[0] / det_scale)))
        det_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    else:
        det_rgb = rgb
    detector = get_model(spec.detector)
    detections = detector.detect(det_rgb, s.min_face_px, s.min_score)
    crops, originals = [], []
    for det in detections:
        in_decoded = det.scaled(det_scale)
        crops.append(margin_crop(rgb, in_decoded, s.crop_size_px, s.crop_margin))
        originals.append(in_decoded.scaled(decoded.scale))
    return result, originals, crops


def index_files(items: list[WorkItem], spec: PipelineSpec) -> list[PhotoResult]:
    """Index a partition of files; faces of all its photos are embedded in shared batches.

    Never raises for a bad file: its PhotoResult has status "failed" and an error.
    """
    results, owners, dets, crops = [], [], [], []
    for item in items:
        try:
            result, photo_dets, photo_crops = detect_in_photo(item, spec)
        except (ModelError, DeviceError):
            raise  # the run cannot go on without its models; the client reports it once
        except Exception as exc:  # a bug or a model failure on one photo must not lose the partition
            log.exception("indexing %r failed", item.path)
            result, photo_dets, photo_crops = PhotoResult(item.path, item.size, item.mtime), [], []
            result.status, result.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        results.append(result)
        owners.extend([result] * len(photo_dets))
        dets.extend(photo_dets)
        crops.extend(photo_crops)
    if crops:
        embedder = get_model(spec.embedder)
        vectors = embedder.embed(np.stack(crops), spec.settings.embed_batch)
        for owner, det, crop, vec in zip(owners, dets, crops, vectors):
            owner.faces.append(Face(det, vec, spec.embedder.name, sharpness(crop)))
    return results
