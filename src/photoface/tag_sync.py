"""`photoface tags write` and `tags read`: photoface's names into the XMP other apps read,
and the names other apps wrote into photoface (tags.py reads and writes the files)."""
from __future__ import annotations

from . import label, tags
from .config import Settings
from .db import Store
from .pipeline import PipelineSpec, embed_box
from .track import box_iou

#: A region and a face (or two regions) overlapping this much (intersection over union) are
#: the same face. Apps draw regions tighter or looser than MTCNN's box: a region drawn in
#: digiKam around a face MTCNN found overlaps it by 0.5-0.8.
SAME_REGION_IOU = 0.3


# --- write -----------------------------------------------------------------------------------
def plan_write(store: Store, person_id: int | None, embed: bool, style: str) -> list[dict]:
    """What `tags write` would write: one ExifTool entry per file whose tags would change."""
    photos = store.named_faces_by_photo(person_id)
    paths = {pid: p["path"] for pid, p in photos.items()}
    targets = {pid: (path if embed and photos[pid]["kind"] != "video" else tags.sidecar_for(path, style))
               for pid, path in paths.items()}
    meta = tags.read_metadata(sorted(set(targets.values()) | set(paths.values())))
    entries = []
    for pid, photo in photos.items():
        target, current = targets[pid], meta.get(targets[pid], {})
        names = sorted({name for name, _ in photo["faces"]})
        entry = {"SourceFile": target}
        dropped = set()
        if photo["kind"] != "video":
            orientation = int(meta.get(photo["path"], {}).get("IFD0:Orientation") or 1)
            w, h = photo["width"], photo["height"]
            ours = [(name, box) for name, box in photo["faces"]]
            kept = []
            old = current.get("XMP-mwg-rs:RegionInfo") or {}
            for region in tags.as_list(old.get("RegionList") if isinstance(old, dict) else None):
                box = tags.mwg_box(region, w, h, orientation)
                name = box and " ".join(str(region["Name"]).split())
                if box and (name in names or any(box_iou(box, b) >= 0.5 for _, b in ours)):
                    dropped.add(name)  # a region of one of our faces: ours replaces it
                else:
                    kept.append(region)
            stored_w, stored_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
            entry["XMP-mwg-rs:RegionInfo"] = {
                "AppliedToDimensions": {"W": stored_w, "H": stored_h, "Unit": "pixel"},
                "RegionList": kept + [tags.mwg_region(name, box, w, h, orientation) for name, box in ours]}
        for tag in ("XMP-iptcExt:PersonInImage", "XMP-dc:Subject"):
            have = [str(v) for v in tags.as_list(current.get(tag))]
            entry[tag] = [v for v in have if v not in dropped or v in names] + [n for n in names if n not in have]
        if not _same(entry, current):
            entries.append(entry)
    return entries


def _same(entry: dict, current: dict) -> bool:
    """Whether the file already holds what ``entry`` would write (numbers compared rounded)."""
    def norm(value):
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, float):
            return round(value, 4)
        return value
    return all(norm(tags.as_list(current.get(k)) if isinstance(v, list) else current.get(k)) == norm(v)
               for k, v in entry.items() if k != "SourceFile")


# --- read ------------------------------------------------------------------------------------
def read_library(store: Store, settings: Settings) -> dict:
    """Every indexed photo's face tags (embedded and sidecars) -> names on photoface's faces:
    a region over a face names it, a region over no face becomes a face of its own (embedded
    from the region's box); a face a user already placed elsewhere keeps photoface's
    decision and is listed as a conflict. One undoable change."""
    photos = [p for p in store.indexed_photos() if p[4] != "video"]
    files = {pid: [*tags.sidecars(path), path] for pid, path, *_ in photos}
    meta = tags.read_metadata(sorted({f for fs in files.values() for f in fs}))
    spec = None
    assign, new_faces, conflicts, regions = [], [], [], 0
    faces_of = {photo["photo_id"]: fs for photo, fs in store.photos_with_faces(pid for pid, *_ in photos)}
    for pid, path, w, h, _ in photos:
        found: list[tags.TagRegion] = []
        for f in files[pid]:
            for r in tags.regions_of(meta.get(f, {}), w, h, f):
                if not any(q.name == r.name and box_iou(q.box, r.box) >= 0.5 for q in found):
                    found.append(r)  # the same region in a sidecar and in the file: once
        regions += len(found)
        for r in found:
            best = max(faces_of.get(pid, []), key=lambda f: box_iou(f["box"], r.box), default=None)
            if best is not None and box_iou(best["box"], r.box) >= SAME_REGION_IOU:
                if best["name"] == r.name:
                    continue
                state = store.face_states([best["face_id"]])[0]
                if state.assigned_by == label.BY_USER and best["person_id"] is not None:
                    conflicts.append({"face": best["face_id"], "path": path, "tags": r.name, "photoface": best["name"]})
                    continue
                assign.append((best["face_id"], r.name))
            else:
                spec = spec or PipelineSpec.from_settings(settings)
                det, vector, sharp = embed_box(path, r.box, spec)
                new_faces.append((pid, det, vector, spec.embedder.name, sharp, r.name))
    applied = (label.apply_tag_names(store, assign, new_faces) if assign or new_faces
               else {"named": [], "added": [], "skipped": []})
    return {"photos": len(photos), "regions": regions, **applied, "conflicts": conflicts}
