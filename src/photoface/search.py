"""Find photos by the people in them, and faces like a given one."""
from __future__ import annotations

import numpy as np

from .db import Store
from .errors import InputError
from .label import resolve_person
from .vectors import distance


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
    need = [resolve_person(store, r).id for r in all_of]
    some = [resolve_person(store, r).id for r in any_of]
    avoid = [resolve_person(store, r).id for r in none_of]
    photos: set[int] | None = None
    for pid in need:
        found = store.photo_ids_of(pid)
        photos = found if photos is None else photos & found
    if some:
        found = set().union(*(store.photo_ids_of(pid) for pid in some))
        photos = found if photos is None else photos & found
    matched = None
    if attrs:
        require_attributes(store)
        matched = matching_faces(store, attrs)
        named = set(need) | set(some)
        if named:
            theirs = store.face_ids_of_people(named)
            matched = {ph: fs & theirs for ph, fs in matched.items()}
            matched = {ph: fs for ph, fs in matched.items() if fs}
        photos = set(matched) if photos is None else photos & set(matched)
    for pid in avoid:
        photos -= store.photo_ids_of(pid)
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
    found = store.photos_with_faces(photo_ids)
    attrs = store.face_attributes(f["face_id"] for _, fs in found for f in fs)
    out = []
    for photo, fs in found:
        for f in fs:
            if f["face_id"] in attrs:
                f["attributes"] = attrs[f["face_id"]]
            if matched is not None:
                f["matched"] = f["face_id"] in matched.get(photo["photo_id"], ())
        taken = photo["taken_at"]
        if (after or before) and not taken:
            continue
        if after and taken[:10] < after or before and taken[:10] > before:
            continue
        if only_people is not None and any(f["person_id"] not in only_people for f in fs):
            continue
        kind, duration = photo.pop("kind"), photo.pop("duration")
        row = {**photo, "faces": fs}
        if kind == "video":
            row.update(kind="video", duration=duration,
                       appearances=_appearances(fs, wanted, matched, photo["photo_id"]))
        out.append(row)
    out.sort(key=lambda r: (r["taken_at"] or "", r["path"]))
    return out


def similar_faces(store: Store, index, query: np.ndarray, limit: int, max_distance: float) -> list[dict]:
    """Faces of present photos nearest to ``query``, closest first, exact distances."""
    approx, ids = index.search(query[None, :], max(limit * 4, 50))
    ids = [int(i) for i in ids[0] if i >= 0]
    if not ids:
        return []
    hits = store.face_hits(ids)
    exact = [distance(h.pop("vector"), query) for h in hits]
    out = []
    for hit, d in zip(hits, exact):
        if d <= max_distance:
            out.append({"face_id": hit["face_id"], "distance": round(float(d), 4), **hit})
    out.sort(key=lambda r: r["distance"])
    return out[:limit]
