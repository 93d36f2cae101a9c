"""Find photos by the people in them, and faces like a given one."""
from __future__ import annotations

import json

import numpy as np

from .errors import InputError
from .label import resolve_person
from .store import Store


def _photos_of(store: Store, person_id: int) -> set[int]:
    return {r[0] for r in store.db.execute(
        "SELECT DISTINCT photo_id FROM faces WHERE person_id = ?", [person_id])}


def _check_date(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"--{what} wants a date like 2019-01-31, got {text!r}") from None


def people_query(store: Store, all_of=(), any_of=(), none_of=(), only: bool = False,
                 after: str | None = None, before: str | None = None, attrs=None) -> list[dict]:
    """Photos showing every person in ``all_of``, at least one in ``any_of`` (when given),
    nobody in ``none_of``; with ``only``, nobody else either (every face in the photo is
    one of the asked people). Dates (EXIF, YYYY-MM-DD) are inclusive. ``attrs`` (a
    demographics.AttributeFilter) keeps photos with a face of that age, gender and
    expression; when people are named, that face must be one of theirs."""
    from .demographics import matching_faces, require_attributes

    after, before = _check_date(after, "after"), _check_date(before, "before")
    if not all_of and not any_of and not attrs:
        raise InputError("name at least one person, or an --emotion, --age or --gender, to search for")
    need = [resolve_person(store, r)["id"] for r in all_of]
    some = [resolve_person(store, r)["id"] for r in any_of]
    avoid = [resolve_person(store, r)["id"] for r in none_of]
    photos: set[int] | None = None
    for pid in need:
        found = _photos_of(store, pid)
        photos = found if photos is None else photos & found
    if some:
        found = set().union(*(_photos_of(store, pid) for pid in some))
        photos = found if photos is None else photos & found
    matched = None
    if attrs:
        require_attributes(store)
        matched = matching_faces(store, attrs)
        named = set(need) | set(some)
        if named:
            theirs = {r[0] for r in store.db.execute(
                f"SELECT id FROM faces WHERE person_id IN ({','.join('?' * len(named))})", list(named))}
            matched = {ph: fs & theirs for ph, fs in matched.items()}
            matched = {ph: fs for ph, fs in matched.items() if fs}
        photos = set(matched) if photos is None else photos & set(matched)
    for pid in avoid:
        photos -= _photos_of(store, pid)
    return describe_photos(store, sorted(photos), only_people=set(need) | set(some) if only else None,
                           after=after, before=before, matched=matched, wanted=set(need) | set(some))


def _appearances(faces: list[dict], people, matched, photo_id) -> list[dict]:
    """Time ranges of a video's face tracks that answer the query (the asked people's, or
    the attribute filter's), in order."""
    keep = [f for f in faces if "t_start" in f and (
        (matched is not None and f["face_id"] in matched.get(photo_id, ())) or
        (matched is None and (not people or f["person_id"] in people)))]
    return [{"start": f["t_start"], "end": f["t_end"], "face_id": f["face_id"], "person_id": f["person_id"],
             "name": f["name"]} for f in sorted(keep, key=lambda f: f["t_start"])]


def describe_photos(store: Store, photo_ids, only_people=None, after=None, before=None, matched=None,
                    wanted=None) -> list[dict]:
    """Present photos with their faces (box, person, and age/gender/expression where
    estimated), filtered by date and "only these people". ``matched`` ({photo: {face ids}})
    marks the faces an attribute filter matched."""
    from .demographics import face_attributes

    out = []
    ids = list(photo_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        photos = {r[0]: r for r in store.db.execute(
            f"SELECT id, path, taken_at, width, height, kind, duration FROM photos "
            f"WHERE +status = 'indexed' AND id IN ({marks})",
            chunk)}
        faces: dict[int, list] = {}
        for fid, photo, pid, name, x1, y1, x2, y2, t_start, t_end, t in store.db.execute(
                f"SELECT f.id, f.photo_id, f.person_id, pe.name, f.x1, f.y1, f.x2, f.y2, f.t_start, f.t_end, f.t "
                f"FROM faces f LEFT JOIN people pe ON pe.id = f.person_id WHERE f.photo_id IN ({marks}) "
                f"ORDER BY f.face_index", chunk):
            face = {"face_id": fid, "person_id": pid, "name": name,
                    "box": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)]}
            if t_start is not None:  # a face track of a video: when it is on screen, and the box's frame
                face.update(t_start=t_start, t_end=t_end, t=t)
            faces.setdefault(photo, []).append(face)
        attrs = face_attributes(store, [f["face_id"] for fs in faces.values() for f in fs])
        for photo, fs in faces.items():
            for f in fs:
                if f["face_id"] in attrs:
                    f["attributes"] = attrs[f["face_id"]]
                if matched is not None:
                    f["matched"] = f["face_id"] in matched.get(photo, ())
        for pid in chunk:
            if pid not in photos:
                continue
            _, path, taken, width, height, kind, duration = photos[pid]
            if (after or before) and not taken:
                continue
            if after and taken[:10] < after or before and taken[:10] > before:
                continue
            fs = faces.get(pid, [])
            if only_people is not None and any(f["person_id"] not in only_people for f in fs):
                continue
            row = {"photo_id": pid, "path": path, "taken_at": taken, "width": width, "height": height, "faces": fs}
            if kind == "video":
                row.update(kind="video", duration=duration, appearances=_appearances(fs, wanted, matched, pid))
            out.append(row)
    out.sort(key=lambda r: (r["taken_at"] or "", r["path"]))
    return out


def similar_faces(store: Store, index, query: np.ndarray, limit: int, max_distance: float) -> list[dict]:
    """Faces of present photos nearest to ``query``, closest first, exact distances."""
    approx, ids = index.search(query[None, :], max(limit * 4, 50))
    ids = [int(i) for i in ids[0] if i >= 0]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = store.db.execute(
        f"SELECT f.id, f.embedding, p.id, p.path, f.person_id, pe.name, f.x1, f.y1, f.x2, f.y2 FROM faces f "
        f"JOIN photos p ON p.id = f.photo_id LEFT JOIN people pe ON pe.id = f.person_id "
        f"WHERE +p.status = 'indexed' AND f.id IN ({marks})", ids).fetchall()
    out = []
    for fid, blob, photo, path, pid, name, x1, y1, x2, y2 in rows:
        d = float(np.linalg.norm(np.frombuffer(blob, dtype="<f4") - query))
        if d <= max_distance:
            out.append({"face_id": fid, "distance": round(d, 4), "photo_id": photo, "path": path,
                        "person_id": pid, "name": name,
                        "box": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)]})
    out.sort(key=lambda r: r["distance"])
    return out[:limit]


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)
