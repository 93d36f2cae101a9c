"""`photoface tags write` and `tags read`: photoface's names into the XMP other apps read,
and the names other apps wrote into photoface (tags.py reads and writes the files)."""
from __future__ import annotations

from . import label, tags
from .config import SAME_FACE_IOU, SAME_REGION_IOU, Settings
from .db import Store
from .pipeline import PipelineSpec, embed_box
from .types import box_iou


# --- write -----------------------------------------------------------------------------------
def plan_write(store: Store, person_id: int | None, embed: bool, style: str, microsoft: bool = False) -> list[dict]:
    """What `tags write` would write: one ExifTool entry per file whose tags would change
    (MWG regions; Microsoft People Tagging regions too with ``microsoft``)."""
    photos = store.named_faces_by_photo(person_id)
    paths = {pid: p["path"] for pid, p in photos.items()}
    targets = {pid: (path if embed and photos[pid]["kind"] != "video" else tags.sidecar_for(path, style))
               for pid, path in paths.items()}
    seen = {t: tags.file_state(t) for t in targets.values()}  # before reading: a change after it is caught
    meta = tags.read_metadata(sorted(set(targets.values()) | set(paths.values())))
    entries = []
    for pid, photo in photos.items():
        target, current = targets[pid], meta.get(targets[pid], {})
        names = sorted({name for name, _ in photo["faces"]})
        entry = {"SourceFile": target, "seen": seen[target]}
        dropped = set()
        if photo["kind"] != "video":
            orientation = tags.orientation_of(meta.get(photo["path"], {}))
            w, h = photo["width"], photo["height"]
            ours = [(name, box) for name, box in photo["faces"]]
            kept = []
            old = current.get("XMP-mwg-rs:RegionInfo") or {}
            for region in tags.as_list(old.get("RegionList") if isinstance(old, dict) else None):
                box = tags.mwg_box(region, w, h, orientation)
                name = box and " ".join(str(region["Name"]).split())
                if box and (name in names or any(box_iou(box, b) >= SAME_FACE_IOU for _, b in ours)):
                    dropped.add(name)  # a region of one of our faces: ours replaces it
                else:
                    kept.append(region)
            stored_w, stored_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
            entry["XMP-mwg-rs:RegionInfo"] = {
                "AppliedToDimensions": {"W": stored_w, "H": stored_h, "Unit": "pixel"},
                "RegionList": kept + [tags.mwg_region(name, box, w, h, orientation) for name, box in ours]}
            if microsoft:
                old = current.get("XMP-MP:RegionInfoMP") or {}
                others = [r for r in tags.as_list(old.get("Regions") if isinstance(old, dict) else None)
                          if not _ours_mp(r, names, ours, w, h, orientation, dropped)]
                entry["XMP-MP:RegionInfoMP"] = {
                    "Regions": others + [tags.mp_region(name, box, w, h, orientation) for name, box in ours]}
        for tag in ("XMP-iptcExt:PersonInImage", "XMP-dc:Subject"):
            have = [str(v) for v in tags.as_list(current.get(tag))]
            entry[tag] = [v for v in have if v not in dropped or v in names] + [n for n in names if n not in have]
        if not _same(entry, current):
            entries.append(entry)
    return entries


def _ours_mp(region, names, ours, w, h, orientation, dropped: set) -> bool:
    """Whether a Microsoft region is one of photoface's faces (ours replaces it)."""
    box = tags.mp_box(region, w, h, orientation)
    name = box and " ".join(str(region["PersonDisplayName"]).split())
    if box and (name in names or any(box_iou(box, b) >= SAME_FACE_IOU for _, b in ours)):
        dropped.add(name)
        return True
    return False


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
               for k, v in entry.items() if k not in ("SourceFile", "seen"))


# --- read ------------------------------------------------------------------------------------
def read_library(store: Store, settings: Settings, changed_only: bool = False,
                 ahead: dict[str, tuple[str, dict]] | None = None) -> dict:
    """Every indexed photo's face tags (embedded and sidecars; with ``changed_only`` only
    photos whose photo or sidecars changed since they were last read) -> names on
    photoface's faces, as user decisions in one undoable change:

    - a region over a face names it; a region over no face becomes a face of its own,
      embedded from the region's box;
    - a PersonInImage name with no region names the photo's one face nobody placed, when
      there is exactly one; else it is listed as unplaced;
    - a name the tags gave earlier and another app changed or removed since is changed or
      removed here too; a name the user gave in photoface wins and is listed as a conflict.

    ``ahead``: tags.read_ahead's result for some of the files (read while the photos were
    being indexed); an entry is used only while its file is unchanged.
    """
    photos = [p for p in store.indexed_photos() if p[4] != "video"]
    side = {pid: tags.sidecars(path) for pid, path, *_ in photos}
    signatures = {pid: tags.signature([*side[pid], path]) for pid, path, *_ in photos}
    if changed_only:
        known = store.tag_signatures()
        photos = [p for p in photos if known.get(p[0]) != signatures[p[0]]]
    report = {"photos": len(photos), "regions": 0, "named": [], "added": [], "unnamed": [], "skipped": [],
              "conflicts": [], "unplaced": [], "unreadable": []}
    if not photos:
        return report
    # ExifTool reads the sidecars, and the photos that have one (for their orientation) or
    # may carry tags themselves: a JPEG whose metadata names no face tag is not read
    files = {pid: tags.tag_files(path, side[pid]) for pid, path, *_ in photos}
    meta, missing = tags.prefetched(sorted({f for pid, *_ in photos for f in files[pid]}), ahead)
    meta.update(tags.read_metadata(missing))
    faces_of = {photo["photo_id"]: fs for photo, fs in store.photos_with_faces(pid for pid, *_ in photos)}
    given = store.tag_names_of(faces_of)
    pinned = {s.id for s in store.face_states(f["face_id"] for fs in faces_of.values() for f in fs)
              if s.assigned_by == label.BY_USER}
    rejected = store.rejections()
    spec = None
    assign, unname, new_faces, names = [], [], [], {}
    for pid, path, w, h, _ in photos:
        bad = [(f, tags.unreadable(meta.get(f, {}))) for f in files[pid] if tags.unreadable(meta.get(f, {}))]
        report["unreadable"] += [{"path": f, "why": why} for f, why in bad]
        found, people = _regions(meta, files[pid], w, h, tags.orientation_of(meta.get(path, {})))
        report["regions"] += len(found)
        faces = faces_of.get(pid, [])
        on_face: dict[int, str] = {}
        for r in found:
            best = max(faces, key=lambda f: box_iou(f["box"], r.box), default=None)
            if best is not None and box_iou(best["box"], r.box) >= SAME_REGION_IOU and best["face_id"] not in on_face:
                on_face[best["face_id"]] = r.name
            elif best is None or box_iou(best["box"], r.box) < SAME_REGION_IOU:
                spec = spec or PipelineSpec.from_settings(settings)
                det, vector, sharp, descriptor = embed_box(path, r.box, spec)
                new_faces.append((pid, det, vector, spec.embedder.name, sharp, r.name, descriptor))
        held = {_key(f["name"]) for f in faces if f["name"]} | {_key(n) for n in on_face.values()}
        loose = [n for n in people if _key(n) not in held and _key(n) not in {_key(r.name) for r in found}]
        free = [f for f in faces if f["face_id"] not in on_face and f["face_id"] not in pinned]
        if len(loose) == 1 and len(free) == 1:
            on_face[free[0]["face_id"]] = loose[0]
        elif loose:
            report["unplaced"].append({"path": path, "names": loose})
        for f in faces:
            fid, now, before = f["face_id"], f["name"], given.get(f["face_id"])
            new = on_face.get(fid)
            if new is None:
                if before is not None and not bad:  # another app removed the name
                    names[fid] = None
                    if fid in pinned and _key(now) == _key(before):
                        unname.append(fid)
                continue
            names[fid] = new
            if _key(now) == _key(new):
                continue
            from_tags = before is not None and _key(now) == _key(before)  # what the tags gave it earlier
            holder = store.people_by_name(new)
            if fid in pinned and not from_tags:  # the user's decision: named, or ignored, in photoface
                report["conflicts"].append({"face": fid, "path": path, "tags": new, "photoface": now or "(ignored)"})
            elif holder and (fid, holder[0].id) in rejected:
                report["conflicts"].append({"face": fid, "path": path, "tags": new, "photoface": f"not {new}"})
            else:
                assign.append((fid, new))
    if assign or new_faces or unname:
        applied = label.apply_tag_names(store, assign, new_faces, unname)
        for key in ("named", "added", "unnamed", "skipped"):
            report[key] = applied[key]
        names.update(applied["new_names"])
    store.set_tag_names(names)
    store.set_tag_signatures((pid, signatures[pid]) for pid, *_ in photos)
    return report


def _key(name: str | None) -> str | None:
    """Names compare as the database compares them: case aside."""
    return None if name is None else name.casefold()


def _regions(meta: dict, files: list[str], w: int, h: int, orientation: int) -> tuple[list[tags.TagRegion], list[str]]:
    """One photo's named face regions (a region in a sidecar and in the file counted once)
    and its photo-level person names, from all its tag files."""
    found: list[tags.TagRegion] = []
    people: list[str] = []
    for f in files:
        for r in tags.regions_of(meta.get(f, {}), w, h, f, orientation):
            if not any(_key(q.name) == _key(r.name) and box_iou(q.box, r.box) >= SAME_FACE_IOU for q in found):
                found.append(r)
        people += [n for n in tags.person_names(meta.get(f, {})) if _key(n) not in map(_key, people)]
    return found, people
