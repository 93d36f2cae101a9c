"""Read models: what the listings, pages, searches and reports show, each in as few queries
as the page needs."""
from __future__ import annotations

from collections.abc import Iterable

from ..types import FaceExample, PersonSummary
from .base import chunks, stored_path, valid_id


class Queries:
    # --- people -------------------------------------------------------------------------
    def people(self, include_hidden: bool = False, examples: int = 3, limit: int | None = None,
               offset: int = 0, unnamed_first: bool = False) -> list[PersonSummary]:
        """People with face and photo counts and a few example faces, largest first (unnamed
        clusters before named people with ``unnamed_first``); a page with ``limit``/``offset``."""
        rows = self.db.execute(
            "SELECT pe.id, pe.name, pe.name_source, pe.name_confidence, pe.hidden, "
            "count(f.id), count(DISTINCT f.photo_id) FROM people pe "
            "LEFT JOIN faces f ON f.person_id = pe.id "
            "AND f.photo_id IN (SELECT id FROM photos WHERE status = 'indexed') "
            + ("" if include_hidden else "WHERE pe.hidden = 0 ")
            + "GROUP BY pe.id ORDER BY " + ("pe.name IS NULL DESC, " if unnamed_first else "")
            + "count(f.id) DESC, pe.id"
            + ("" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}")
        ).fetchall()
        shown: dict[int, list] = {r[0]: [] for r in rows}
        if examples:
            self._wanted(shown)
            for pid, fid, path in self.db.execute(
                    "SELECT person_id, id, path FROM (SELECT f.person_id, f.id, f.path, row_number() OVER ("
                    "PARTITION BY f.person_id ORDER BY f.score DESC, f.id) AS k FROM present_faces f "
                    "WHERE f.person_id IN (SELECT id FROM wanted_ids)) WHERE k <= ? ORDER BY person_id, k",
                    [examples]):
                shown[pid].append(FaceExample(fid, path))
        return [PersonSummary(pid, name, source, conf, bool(hidden), nfaces, nphotos, shown[pid])
                for pid, name, source, conf, hidden, nfaces, nphotos in rows]

    def people_count(self, include_hidden: bool = False) -> int:
        return self._one("SELECT count(*) FROM people" + ("" if include_hidden else " WHERE hidden = 0"))

    def person_face_list(self, person_id: int) -> list[dict]:
        """Every present face of a person, by photo path: id, path, box, how it was placed."""
        rows = self.db.execute(
            "SELECT id, path, x1, y1, x2, y2, assigned_by, assign_distance FROM present_faces "
            "WHERE person_id = ? ORDER BY path", [person_id]).fetchall()
        return [{"face_id": r[0], "path": r[1], "box": [round(v, 1) for v in r[2:6]],
                 "assigned_by": r[6], "distance": r[7]} for r in rows]

    def person_face_count(self, person_id: int) -> int:
        return self._one("SELECT count(*) FROM present_faces WHERE person_id = ?", [person_id])

    def person_faces_page(self, person_id: int, limit: int, offset: int) -> list[dict]:
        """A page of a person's present faces, oldest photo first."""
        rows = self.db.execute(
            "SELECT id, photo_id, path, assigned_by, assign_distance FROM present_faces WHERE person_id = ? "
            "ORDER BY taken_at, path, id LIMIT ? OFFSET ?", [person_id, limit, offset]).fetchall()
        return [{"face_id": r[0], "photo_id": r[1], "path": r[2], "assigned_by": r[3], "distance": r[4]}
                for r in rows]

    def named_faces_by_photo(self, person_id: int | None = None) -> dict[int, dict]:
        """Present photos with faces of named people (or of ``person_id``): {photo id: {path,
        kind, width, height, faces: [(name, box)]}}."""
        rows = self.db.execute(
            "SELECT p.id, p.path, p.path_bytes, p.kind, p.width, p.height, pe.name, f.x1, f.y1, f.x2, f.y2 "
            "FROM faces f JOIN photos p ON p.id = f.photo_id JOIN people pe ON pe.id = f.person_id "
            "WHERE p.status = 'indexed' AND pe.name IS NOT NULL" + ("" if person_id is None else " AND pe.id = ?")
            + " ORDER BY p.id, f.face_index", [] if person_id is None else [person_id]).fetchall()
        out: dict[int, dict] = {}
        for pid, path, raw, kind, w, h, name, *box in rows:
            photo = out.setdefault(pid, {"path": stored_path(path, raw), "kind": kind, "width": w, "height": h,
                                         "faces": []})
            photo["faces"].append((name, tuple(box)))
        return out

    def indexed_photos(self) -> list[tuple[int, str, int, int, str]]:
        """(id, path, width, height, kind) of every indexed photo and video."""
        return [(i, stored_path(p, raw), w, h, k) for i, p, raw, w, h, k in self.db.execute(
            "SELECT id, path, path_bytes, width, height, kind FROM photos WHERE status = 'indexed' ORDER BY id")]

    # --- photos with their faces ----------------------------------------------------------
    def photos_with_faces(self, photo_ids: Iterable[int]) -> list[tuple[dict, list[dict]]]:
        """[(photo, its faces in detection order)] for the indexed photos among ``photo_ids``,
        in the order asked. A photo: photo_id, path, taken_at, width, height, kind, duration;
        a face: face_id, person_id, name, box and, for a face track of a video, t_start, t_end, t."""
        out = []
        for chunk, qs in chunks(i for i in photo_ids if valid_id(i)):
            photos = {r[0]: r for r in self.db.execute(
                f"SELECT id, path, taken_at, width, height, kind, duration FROM photos "
                f"WHERE +status = 'indexed' AND id IN ({qs})", chunk)}
            faces: dict[int, list] = {}
            for fid, photo, pid, name, x1, y1, x2, y2, t_start, t_end, t in self.db.execute(
                    f"SELECT f.id, f.photo_id, f.person_id, pe.name, f.x1, f.y1, f.x2, f.y2, f.t_start, f.t_end, f.t "
                    f"FROM faces f LEFT JOIN people pe ON pe.id = f.person_id WHERE f.photo_id IN ({qs}) "
                    f"ORDER BY f.face_index", chunk):
                face = {"face_id": fid, "person_id": pid, "name": name,
                        "box": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)]}
                if t_start is not None:  # a face track of a video: when it is on screen, and the box's frame
                    face.update(t_start=t_start, t_end=t_end, t=t)
                faces.setdefault(photo, []).append(face)
            for pid in chunk:
                if pid in photos:
                    keys = ("photo_id", "path", "taken_at", "width", "height", "kind", "duration")
                    out.append((dict(zip(keys, photos[pid])), faces.get(pid, [])))
        return out

    # --- age, gender and expression ---------------------------------------------------------
    def has_attributes(self) -> bool:
        return self.db.execute("SELECT 1 FROM face_attributes LIMIT 1").fetchone() is not None

    def face_attributes(self, face_ids: Iterable[int]) -> dict[int, dict]:
        """{face id: {age, gender, emotion, ...}} for the faces that have attributes."""
        out = {}
        for chunk, qs in chunks(face_ids):
            for fid, age, sd, gender, gconf, emotion, econf in self.db.execute(
                    f"SELECT face_id, age, age_sd, gender, gender_confidence, emotion, emotion_confidence "
                    f"FROM face_attributes WHERE face_id IN ({qs})", chunk):
                out[fid] = {"age": round(age, 1), "age_sd": round(sd, 1), "gender": gender,
                            "gender_confidence": gconf, "emotion": emotion, "emotion_confidence": econf}
        return out

    def attribute_rows(self, person_id: int | None = None) -> list[tuple]:
        """(person id, age, gender, emotion, emotions JSON) of present faces with attributes
        (of one person when given)."""
        where, args = ("f.person_id = ?", [person_id]) if person_id is not None else ("1", [])
        return self.db.execute(
            f"SELECT f.person_id, a.age, a.gender, a.emotion, a.emotions FROM face_attributes a "
            f"JOIN present_faces f ON f.id = a.face_id WHERE {where}", args).fetchall()

    def faces_with_attributes(self, emotion: str | None = None, gender: str | None = None,
                              min_age: float | None = None, below_age: float | None = None) -> dict[int, set[int]]:
        """{photo id: {face ids}} of present faces whose estimates match (None: any)."""
        terms, args = [], []
        for sql, value in (("a.emotion = ?", emotion), ("a.gender = ?", gender), ("a.age >= ?", min_age),
                           ("a.age < ?", below_age)):
            if value is not None:
                terms.append(sql)
                args.append(value)
        out: dict[int, set[int]] = {}
        for fid, photo in self.db.execute(
                f"SELECT f.id, f.photo_id FROM face_attributes a JOIN present_faces f ON f.id = a.face_id "
                f"WHERE {' AND '.join(terms) or '1'}", args):
            out.setdefault(photo, set()).add(fid)
        return out
