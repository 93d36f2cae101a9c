"""Index a list of files into face rows: read -> decode -> detect -> align -> embed. No Dask, no SQLite."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np

from .align import dlib_chip, margin_crop, sharpness, square_crop
from .config import AGE_GENDER_MODEL, EMOTION_MODEL, FACENET_MODEL, MTCNN_MODEL, Settings
from .decode import DecodedImage, decode_image
from .errors import DeviceError, ImageError, ModelError
from .models import get_age_gender, get_detector, get_embedder, get_expression
from .types import EMOTIONS, Attributes, Described, Detection, Face, ModelSpec, PhotoResult, WorkItem
from .vectors import unit_mean

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
            ModelSpec(FACENET_MODEL, None, settings.device, threads, settings.embed_precision),
            ModelSpec(AGE_GENDER_MODEL, None, settings.device, threads),
            ModelSpec(EMOTION_MODEL, None, settings.device, threads),
        )

    @property
    def threads(self) -> int:
        return self.detector.threads

    def with_threads(self, threads: int) -> "PipelineSpec":
        """The same spec with every model on ``threads`` TensorFlow threads."""
        return replace(self, **{name: replace(getattr(self, name), threads=threads)
                                for name in ("detector", "embedder", "age_gender", "emotion")})


#: Files up to this size are read without looking at their header first.
SIZE_CHECK_BYTES = 64 << 20
HEADER_BYTES = 4 << 20  # where a larger file's image header must lie
HEADER_SECONDS = 5.0  # reading that header may take at most this long


def decode(data: bytes, s: Settings) -> DecodedImage:
    """A photo's bytes decoded for indexing, within the settings' pixel, memory and time bounds."""
    return decode_image(data, s.decode_max_side_px, s.max_pixels, s.max_decode_mb, s.max_decode_seconds)


def read_file(path: str) -> bytes:
    """The file's bytes, or an ImageError saying why it cannot be read. A file far larger
    than the image its header describes (a photo header followed by a gigabyte of junk) is
    refused before it is read: decoding would skip the junk byte by byte for minutes."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > SIZE_CHECK_BYTES:
                _check_size(fh, size)
            return fh.read()
    except FileNotFoundError:
        raise ImageError("file vanished before it could be read") from None
    except PermissionError:
        raise ImageError("unreadable: permission denied") from None
    except IsADirectoryError:
        raise ImageError("is a directory, not a file") from None
    except OSError as exc:
        raise ImageError(f"unreadable: {exc.strerror or exc}") from None


def _check_size(fh, size: int) -> None:
    import warnings

    from PIL import Image

    from .decode import TimedBytes, plausible_file_bytes
    from .scan import sniff_image

    head = fh.read(HEADER_BYTES)
    fh.seek(0)
    kind = sniff_image(head[:16])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(TimedBytes(head, HEADER_SECONDS))  # the header only
            bound = plausible_file_bytes(*im.size, im.format)
            what = f"a {im.size[0]}x{im.size[1]} {im.format}"
    except Exception:  # not an image Pillow knows (a video, or junk): decoding will say what it is
        if kind not in ("jpeg", "png", "webp", "bmp"):
            return
        # a photo's header is in its first megabytes; one that is not is junk, however long
        raise ImageError(f"the file is {size >> 20:,} MB and starts like {kind.upper()}, but its first "
                         f"{HEADER_BYTES >> 20} MB hold no readable image header: not read") from None
    if bound is not None and size > bound:
        raise ImageError(f"the file is {size >> 20:,} MB, far larger than {what} can be: not read")


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
    if not crops:
        return []
    female, age, age_sd = get_age_gender(spec.age_gender).predict(np.stack([c[0] for c in crops]))
    probs = get_expression(spec.emotion).predict(np.stack([c[1] for c in crops]))
    model = f"{spec.age_gender.name}+{spec.emotion.name}"
    out = []
    for i in range(len(crops)):
        best = int(np.argmax(probs[i]))
        out.append(Attributes(round(float(age[i]), 2), round(float(age_sd[i]), 2), round(float(female[i]), 4),
                              EMOTIONS[best], round(float(probs[i, best]), 4),
                              tuple(round(float(p), 4) for p in probs[i]), model))
    return out


def describe(chips: list[np.ndarray], spec: PipelineSpec) -> list[np.ndarray | None]:
    """dlib's descriptors of aligned chips (align.dlib_chip), or Nones when the settings
    ask for none."""
    if not chips or not spec.settings.describe:
        return [None] * len(chips)
    from .models import dlib_resnet

    return list(dlib_resnet.get(spec.threads).describe(np.stack(chips)))


def load_photo(item: WorkItem, spec: PipelineSpec) -> tuple[PhotoResult, DecodedImage | None, tuple | None]:
    """Read, hash and decode one file and make its detection input -> (its PhotoResult
    without faces, the decoded image, detection_input's; Nones with a failed result when
    it cannot be read or decoded)."""
    result = PhotoResult(item.path, item.size, item.mtime)
    try:
        data = read_file(item.path)
        result.sha256 = sha256_bytes(data)
        result.size = len(data)
        decoded = decode(data, spec.settings)
        del data  # the file's bytes are not needed while the photo is scaled for detection
    except ImageError as exc:
        result.status, result.error = "failed", str(exc)
        return result, None, None
    result.width, result.height, result.taken_at = decoded.width, decoded.height, decoded.taken_at
    return result, decoded, detection_input(decoded.rgb, spec)


def detect_in_photo(item: WorkItem, spec: PipelineSpec, loaded: tuple | None = None):
    """Read, hash, decode and detect one file -> (PhotoResult without embeddings, detections,
    crops, attribute crops (empty unless the settings ask for attributes), dlib chips (empty
    unless the settings ask for descriptors)). ``loaded``: what load_photo gave for the file
    already."""
    result, decoded, prepared = loaded or load_photo(item, spec)
    if decoded is None:
        return result, [], [], [], []
    detections, crops, extra = faces_in_image(decoded.rgb, spec, prepared=prepared)
    chips = [dlib_chip(decoded.rgb, d) for d in detections] if spec.settings.describe else []
    return result, [d.scaled(decoded.scale) for d in detections], crops, extra, chips


def embed_box(path: str, box: tuple[float, float, float, float], spec: PipelineSpec
              ) -> tuple[Detection, np.ndarray, float, np.ndarray | None]:
    """A face a user drew on a photo (``box``: x1, y1, x2, y2 in the photo's pixels, EXIF
    orientation applied, as stored boxes are), cropped and embedded exactly as a detected
    face is -> (its detection, with score 1 and no landmarks; embedding; sharpness; dlib's
    descriptor, None when the settings ask for none)."""
    s = spec.settings
    decoded = decode(read_file(path), s)
    det = Detection(*(float(v) for v in box), 1.0, ())
    here = det.scaled(1.0 / decoded.scale)
    crop = margin_crop(decoded.rgb, here, s.crop_size_px, s.crop_margin)
    return (det, get_embedder(spec.embedder).embed(crop[None], 1)[0], sharpness(crop),
            describe([dlib_chip(decoded.rgb, here)], spec)[0])


def detection_image(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image MTCNN looks at: ``rgb`` area-averaged down to at most ``max_side`` on its
    longer side -> (that image, the factor from its pixels to ``rgb``'s)."""
    if max(rgb.shape[:2]) <= max_side:
        return rgb, 1.0
    scale = max(rgb.shape[:2]) / max_side
    size = (max(1, round(rgb.shape[1] / scale)), max(1, round(rgb.shape[0] / scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def detection_input(rgb: np.ndarray, spec: PipelineSpec, max_side: int | None = None) -> tuple:
    """What MTCNN looks at for an RGB image: (the image scaled to at most ``max_side``, the
    factor back to ``rgb``'s pixels, its scale pyramid). OpenCV's resizes, no model: the
    next photo's is made while this one is detected."""
    from .models.detector import pyramid

    s = spec.settings
    det_rgb, det_scale = detection_image(rgb, max_side or s.detect_max_side_px)
    return det_rgb, det_scale, pyramid(det_rgb, s.min_face_px)


def faces_in_image(rgb: np.ndarray, spec: PipelineSpec, max_side: int | None = None, prepared: tuple | None = None):
    """Detect faces in an RGB image (scaled to at most ``max_side`` for detection) ->
    (detections in this image's pixels, FaceNet crops, attribute crops if the settings ask).
    ``prepared``: detection_input(rgb, spec, max_side), made beforehand."""
    s = spec.settings
    det_rgb, det_scale, levels = prepared or detection_input(rgb, spec, max_side)
    detector = get_detector(spec.detector)
    detections = [d.scaled(det_scale) for d in detector.detect(det_rgb, s.min_face_px, s.min_score, levels)]
    crops = [margin_crop(rgb, d, s.crop_size_px, s.crop_margin) for d in detections]
    extra = [attribute_crops(rgb, d) for d in detections] if s.attributes else []
    return detections, crops, extra


def index_video(item: WorkItem, spec: PipelineSpec) -> PhotoResult:
    """Sample a video, detect and embed the faces of each sample in batches, and link them
    into tracks: one Face per appearance, with its time range and representative faces.
    A video that cannot be opened or decoded is a failed result, never an exception."""
    from .models.weights import sha256_file
    from .track import Observation, Tracker
    from .types import TrackInfo
    from .video import sample_frames

    s = spec.settings
    result = PhotoResult(item.path, item.size, item.mtime, kind="video")
    tracker = Tracker(max_gap=2.5 * s.video_every_s)
    pending: list[tuple] = []  # (t, cut, detections, crops, extras) waiting for embedding

    def flush() -> None:
        crops = [c for p in pending for c in p[3]]
        vectors = iter(get_embedder(spec.embedder).embed(np.stack(crops), s.embed_batch) if crops else [])
        for t, cut, dets, crops_, extras in pending:
            obs = [Observation(t, d, next(vectors), (c, e)) for d, c, e in
                   zip(dets, crops_, extras or [None] * len(dets))]
            tracker.update(t, obs, cut)
        pending.clear()
        for tr in tracker.open:  # keep crops of each track's best face only: memory stays flat
            top = max(tr.observations, key=lambda o: o.quality)
            for o in tr.observations:
                if o is not top:
                    o.extra = None

    try:
        result.sha256 = sha256_file(item.path)
        info, samples = sample_frames(item.path, s.video_every_s, s.video_cut_threshold)
        result.width, result.height, result.fps = info.width, info.height, round(info.fps, 3)
        last_t = 0.0
        for smp in samples:
            dets, crops, extras = faces_in_image(smp.rgb, spec, s.video_max_side_px)
            pending.append((smp.t, smp.cut, dets, crops, extras))
            last_t = smp.t
            if sum(len(p[3]) for p in pending) >= s.embed_batch:
                flush()
        flush()
        result.duration = round(max(info.duration, last_t), 3)
    except ImageError as exc:
        result.status, result.error = "failed", str(exc)
        return result
    except OSError as exc:
        result.status, result.error = "failed", f"unreadable: {exc.strerror or exc}"
        return result
    tracks = tracker.finish()
    reps_of = [tr.representatives() for tr in tracks]  # best first
    best = [reps[0] for reps in reps_of]
    attrs = estimate_attributes([o.extra[1] for o in best], spec) if s.attributes and best else [None] * len(best)
    for tr, reps, top, attr in zip(tracks, reps_of, best, attrs):
        info_ = TrackInfo(round(tr.t_start, 3), round(tr.t_end, 3), round(top.t, 3), len(tr.observations),
                          tuple((round(o.t, 3), o.detection, o.embedding) for o in reps))
        result.faces.append(Face(top.detection, tr.embedding(), spec.embedder.name, sharpness(top.extra[0]),
                                 attr, info_))
    return result


@dataclass
class Detected:
    """A partition's photos read, detected and cropped, waiting for their faces to be
    embedded: what a detection task hands to an embedding task (on a GPU worker)."""

    results: list[PhotoResult]
    owners: list[int]  # for each face, the index of its photo in results
    detections: list[Detection]
    crops: list[np.ndarray]  # FaceNet crops
    extra: list  # attribute crops, when the settings ask for attributes
    chips: list  # dlib's aligned chips, when the settings ask for descriptors


def detect_files(items: list[WorkItem], spec: PipelineSpec) -> Detected:
    """Read, decode, detect and crop a partition of files. A video is indexed whole here
    (its tracker needs each sample's embeddings before the next sample).

    Never raises for a bad file: its PhotoResult has status "failed" and an error.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .scan import is_video

    out = Detected([], [], [], [], [], [])
    photos = iter([i for i, item in enumerate(items) if not is_video(item.path)])
    loading = {}
    # The next photo is read, hashed, decoded and scaled into its pyramid while this one is
    # detected (those release the GIL; the detector's Python between its network calls
    # leaves a core idle): one photo ahead, so at most two decoded photos are held.
    with ThreadPoolExecutor(1, thread_name_prefix="photoface-read") as reader:
        def read_ahead() -> None:
            i = next(photos, None)
            if i is not None:
                loading[i] = reader.submit(load_photo, items[i], spec)

        read_ahead()
        for i, item in enumerate(items):
            try:
                if is_video(item.path):
                    out.results.append(index_video(item, spec))
                    continue
                loaded = loading.pop(i)
                read_ahead()
                result, photo_dets, photo_crops, photo_extra, photo_chips = detect_in_photo(
                    item, spec, loaded.result())
            except (ModelError, DeviceError):
                raise  # the run cannot go on without its models; the client reports it once
            except Exception as exc:  # a bug or a model failure on one file must not lose the partition
                log.exception("indexing %r failed", item.path)
                result, photo_dets, photo_crops, photo_extra, photo_chips = PhotoResult(
                    item.path, item.size, item.mtime, kind="video" if is_video(item.path) else "photo"), [], [], [], []
                result.status, result.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            out.owners.extend([len(out.results)] * len(photo_dets))
            out.results.append(result)
            out.detections.extend(photo_dets)
            out.crops.extend(photo_crops)
            out.extra.extend(photo_extra)
            out.chips.extend(photo_chips)
    return out


def embed_detected(part: Detected, spec: PipelineSpec) -> list[PhotoResult]:
    """Embed (and, if asked, estimate attributes of) a partition's faces in shared batches."""
    if part.crops:
        vectors = get_embedder(spec.embedder).embed(np.stack(part.crops), spec.settings.embed_batch)
        attributes = estimate_attributes(part.extra, spec) if part.extra else [None] * len(part.crops)
        descriptors = describe(part.chips, spec) if part.chips else [None] * len(part.crops)
        for owner, det, crop, vec, attrs, desc in zip(part.owners, part.detections, part.crops, vectors, attributes,
                                                      descriptors):
            part.results[owner].faces.append(Face(det, vec, spec.embedder.name, sharpness(crop), attrs,
                                                  descriptor=desc))
    return part.results


def index_files(items: list[WorkItem], spec: PipelineSpec) -> list[PhotoResult]:
    """Index a partition of files: detect_files then embed_detected, in one task.

    Never raises for a bad file: its PhotoResult has status "failed" and an error.
    """
    return embed_detected(detect_files(items, spec), spec)


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
            decoded = decode(read_file(job.path), s)
        except ImageError as exc:
            done.extend((fid, None, str(exc)) for fid, _ in job.faces)
            continue
        for fid, det in job.faces:
            ids.append(fid)
            crops.append(attribute_crops(decoded.rgb, det.scaled(1.0 / decoded.scale)))
    done.extend((fid, attrs, None) for fid, attrs in zip(ids, estimate_attributes(crops, spec)))
    return done


@dataclass(frozen=True)
class EmbedJob:
    """Faces of one indexed photo or video to embed again from their stored boxes (after the
    embedding changed): (row id, owner, t, box) as Store.faces_to_reembed lists them."""

    path: str
    kind: str
    faces: tuple[tuple[int, int | None, float | None, Detection], ...]


class Reembedded(NamedTuple):
    """A stored face embedded again: its new vector and sharpness, or why it could not be."""

    row_id: int  # faces.id, or track_faces.id for a representative of a video track
    owner: int | None  # None for a face; the track's face id for a representative
    vector: np.ndarray | None
    sharpness: float | None
    error: str | None


def _cut_stored_faces(job: EmbedJob, s: Settings, cut) -> list[np.ndarray]:
    """``cut(image, box)`` for each stored face of ``job``: from its photo decoded again at
    indexing resolution, or from its video's frames at the stored times. Raises ImageError."""
    from .video import frame_at

    if job.kind == "video":
        frames: dict[float, np.ndarray] = {}
        for *_, t, det in job.faces:
            if t not in frames:
                frames[t] = frame_at(job.path, t or 0.0)
        return [cut(frames[t], det) for *_, t, det in job.faces]
    decoded = decode(read_file(job.path), s)
    return [cut(decoded.rgb, det.scaled(1.0 / decoded.scale)) for *_, det in job.faces]


def embeddings_for_photos(jobs: list[EmbedJob], spec: PipelineSpec) -> list[Reembedded]:
    """A Reembedded for each face of ``jobs``: its vector and sharpness, or the reason
    (``error``) when its photo or video cannot be read any more. A photo is decoded
    again at indexing resolution; a video track is cut from its frames at the stored times,
    and its face is the mean of its representatives, as when it was indexed."""
    s = spec.settings
    done, keys, crops = [], [], []
    for job in jobs:
        try:
            cut = _cut_stored_faces(job, s, lambda image, det: margin_crop(image, det, s.crop_size_px, s.crop_margin))
        except ImageError as exc:  # read_file, decode_image and frame_at report every failure so
            done.extend(Reembedded(rid, owner, None, None, str(exc)) for rid, owner, _, _ in job.faces)
            continue
        keys.extend((rid, owner) for rid, owner, _, _ in job.faces)
        crops.extend(cut)
    if not crops:
        return done
    vectors = get_embedder(spec.embedder).embed(np.stack(crops), s.embed_batch)
    reps: dict[int, list[np.ndarray]] = {}
    for (rid, owner), vec in zip(keys, vectors):
        if owner is not None:
            reps.setdefault(owner, []).append(vec)
    for (rid, owner), crop, vec in zip(keys, crops, vectors):
        if owner is None and rid in reps:  # a video track: the mean of its representatives
            vec = unit_mean(reps[rid])
        done.append(Reembedded(rid, owner, vec, sharpness(crop) if owner is None else None, None))
    return done


def descriptors_for_photos(jobs: list[EmbedJob], spec: PipelineSpec) -> list[Described]:
    """dlib's descriptor of each face of ``jobs`` (Store.faces_without_descriptors), from its
    stored box and landmarks: a photo is decoded again at indexing resolution; a video
    track's descriptor is the mean of its representatives', cut from the frames at their
    stored times."""
    done, keys, chips = [], [], []
    for job in jobs:
        try:
            cut = _cut_stored_faces(job, spec.settings, dlib_chip)
        except ImageError as exc:  # each face once (a video track's representatives are one face)
            done.extend(Described(fid, None, str(exc))
                        for fid in dict.fromkeys(rid if owner is None else owner for rid, owner, _, _ in job.faces))
            continue
        keys.extend((rid, owner) for rid, owner, _, _ in job.faces)
        chips.extend(cut)
    if not chips:
        return done
    vectors = describe(chips, spec)
    tracks: dict[int, list[np.ndarray]] = {}
    for (rid, owner), vec in zip(keys, vectors):
        if owner is None:
            done.append(Described(rid, vec, None))
        else:
            tracks.setdefault(owner, []).append(vec)
    done.extend(Described(owner, np.mean(vecs, axis=0).astype(np.float32), None) for owner, vecs in tracks.items())
    return done
