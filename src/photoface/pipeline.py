"""Index a list of files into face rows: read -> decode -> detect -> align -> embed. No Dask, no SQLite."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .align import margin_crop, sharpness, square_crop
from .config import AGE_GENDER_MODEL, EMOTION_MODEL, FACENET_MODEL, MTCNN_MODEL, Settings
from .decode import decode_image
from .errors import DeviceError, ImageError, ModelError
from .models import get_model
from .types import Attributes, Detection, Face, ModelSpec, PhotoResult, WorkItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSpec:
    """Everything a worker needs to index files; small and picklable (no model inside)."""

    settings: Settings
    detector: ModelSpec
    embedder: ModelSpec
    age_gender: ModelSpec
    emotion: ModelSpec

    @classmethod
    def from_settings(cls, settings: Settings, threads: int = 0) -> "PipelineSpec":
        return cls(
            settings,
            ModelSpec(MTCNN_MODEL, None, settings.device, threads),
            ModelSpec(FACENET_MODEL, None, settings.device, threads),
            ModelSpec(AGE_GENDER_MODEL, None, settings.device, threads),
            ModelSpec(EMOTION_MODEL, None, settings.device, threads),
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


def attribute_crops(rgb: np.ndarray, det: Detection) -> tuple[np.ndarray, np.ndarray]:
    """The age/gender crop (64x64 RGB) and the expression crop (64x64 grey) of one face."""
    from .models import agegender, emotion

    ag = square_crop(rgb, det, agegender.INPUT_SIZE, agegender.CROP_SCALE)
    grey = cv2.cvtColor(square_crop(rgb, det, emotion.INPUT_SIZE, emotion.CROP_SCALE), cv2.COLOR_RGB2GRAY)
    return ag, grey


def estimate_attributes(crops: list[tuple[np.ndarray, np.ndarray]], spec: PipelineSpec) -> list[Attributes]:
    """Age, gender and expression for a batch of attribute_crops()."""
    from .models.emotion import EMOTIONS

    if not crops:
        return []
    female, age, age_sd = get_model(spec.age_gender).predict(np.stack([c[0] for c in crops]))
    probs = get_model(spec.emotion).predict(np.stack([c[1] for c in crops]))
    model = f"{spec.age_gender.name}+{spec.emotion.name}"
    out = []
    for i in range(len(crops)):
        best = int(np.argmax(probs[i]))
        out.append(Attributes(round(float(age[i]), 2), round(float(age_sd[i]), 2), round(float(female[i]), 4),
                              EMOTIONS[best], round(float(probs[i, best]), 4),
                              tuple(round(float(p), 4) for p in probs[i]), model))
    return out


def detect_in_photo(item: WorkItem, spec: PipelineSpec):
    """Read, hash, decode and detect one file -> (PhotoResult without embeddings, detections,
    crops, attribute crops (empty unless the settings ask for attributes))."""
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
        return result, [], [], []
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
    crops, originals, extra = [], [], []
    for det in detections:
        in_decoded = det.scaled(det_scale)
        crops.append(margin_crop(rgb, in_decoded, s.crop_size_px, s.crop_margin))
        originals.append(in_decoded.scaled(decoded.scale))
        if s.attributes:
            extra.append(attribute_crops(rgb, in_decoded))
    return result, originals, crops, extra


def index_files(items: list[WorkItem], spec: PipelineSpec) -> list[PhotoResult]:
    """Index a partition of files; faces of all its photos are embedded in shared batches.

    Never raises for a bad file: its PhotoResult has status "failed" and an error.
    """
    results, owners, dets, crops, extra = [], [], [], [], []
    for item in items:
        try:
            result, photo_dets, photo_crops, photo_extra = detect_in_photo(item, spec)
        except (ModelError, DeviceError):
            raise  # the run cannot go on without its models; the client reports it once
        except Exception as exc:  # a bug or a model failure on one photo must not lose the partition
            log.exception("indexing %r failed", item.path)
            result, photo_dets, photo_crops, photo_extra = PhotoResult(item.path, item.size, item.mtime), [], [], []
            result.status, result.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        results.append(result)
        owners.extend([result] * len(photo_dets))
        dets.extend(photo_dets)
        crops.extend(photo_crops)
        extra.extend(photo_extra)
    if crops:
        embedder = get_model(spec.embedder)
        vectors = embedder.embed(np.stack(crops), spec.settings.embed_batch)
        attributes = estimate_attributes(extra, spec) if extra else [None] * len(crops)
        for owner, det, crop, vec, attrs in zip(owners, dets, crops, vectors, attributes):
            owner.faces.append(Face(det, vec, spec.embedder.name, sharpness(crop), attrs))
    return results


@dataclass(frozen=True)
class AttributeJob:
    """Faces of one already indexed photo that need attributes: (face id, box in photo pixels)."""

    path: str
    faces: tuple[tuple[int, Detection], ...]


def attributes_for_photos(jobs: list[AttributeJob], spec: PipelineSpec) -> list[tuple[int, Attributes | None, str | None]]:
    """(face id, attributes, None) for each face, or (face id, None, why) when its photo
    cannot be read any more; the photo is decoded again at indexing resolution."""
    s = spec.settings
    done, ids, crops = [], [], []
    for job in jobs:
        try:
            decoded = decode_image(read_file(job.path), s.decode_max_side_px, s.max_pixels)
        except ImageError as exc:
            done.extend((fid, None, str(exc)) for fid, _ in job.faces)
            continue
        for fid, det in job.faces:
            ids.append(fid)
            crops.append(attribute_crops(decoded.rgb, det.scaled(1.0 / decoded.scale)))
    done.extend((fid, attrs, None) for fid, attrs in zip(ids, estimate_attributes(crops, spec)))
    return done
