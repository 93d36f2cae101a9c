"""Faces the detector missed, drawn by a user: checked, cropped and embedded like detected
faces (pipeline.embed_box), stored with source 'manual' (label.add_face)."""
from __future__ import annotations

import os

from . import label
from .config import SAME_FACE_IOU, Settings
from .db import Store
from .errors import InputError
from .pipeline import PipelineSpec, embed_box
from .types import box_iou

#: The smallest box a user may draw, in photo pixels: below it FaceNet sees mostly blur.
MIN_MANUAL_FACE_PX = 16


def add_face(store: Store, photo: str, box, name: str | None, as_new: bool, settings: Settings) -> dict:
    found = store.indexed_photo(photo)
    if found is None:
        raise InputError(f"{photo} is not an indexed photo of this library (`photoface index` it first)")
    if found["kind"] == "video":
        raise InputError("faces can be added to photos, not to videos")
    x1, y1, x2, y2 = check_box(box, found["width"], found["height"])
    for face in store.photos_with_faces([found["id"]])[0][1]:
        overlap = box_iou(face["box"], (x1, y1, x2, y2))
        if overlap >= SAME_FACE_IOU:
            raise InputError(f"face {face['face_id']} is already there (overlap {overlap:.2f}): "
                             f"`photoface move {face['face_id']} --to NAME` names it")
    if not os.path.exists(found["path"]):
        raise InputError(f"{photo} is missing: it cannot be cropped")
    spec = PipelineSpec.from_settings(settings)
    det, vector, sharp, descriptor = embed_box(found["path"], (x1, y1, x2, y2), spec)
    return label.add_face(store, found["id"], det, vector, spec.embedder.name, sharp, name, as_new, descriptor)


def check_box(box, width: int, height: int) -> tuple[float, float, float, float]:
    """The box as four floats inside the photo, at least MIN_MANUAL_FACE_PX on each side."""
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise InputError(f"a box is four numbers X1,Y1,X2,Y2 in the photo's pixels, got {box!r}") from None
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise InputError(f"the box {x1:g},{y1:g},{x2:g},{y2:g} must lie inside the {width}x{height} photo "
                         "(X1 < X2, Y1 < Y2)")
    if min(x2 - x1, y2 - y1) < MIN_MANUAL_FACE_PX:
        raise InputError(f"the box is smaller than {MIN_MANUAL_FACE_PX} px on a side: too small for a face")
    return x1, y1, x2, y2
