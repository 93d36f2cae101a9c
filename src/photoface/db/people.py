"""People: who each face belongs to, the people themselves, "not this person" rejections, and
the change log that makes every decision undoable."""
from __future__ import annotations

import getpass
import json
import zlib
from collections.abc import Iterable
from dataclasses import asdict, fields

from ..types import ChangeEvent, FaceState, Person, StoredFace
from .base import chunks, marks, now_iso, valid_id

PERSON_COLUMNS = tuple(f.name for f in fields(Person))
FACE_STATE = FaceState._fields
STORED_FACE = tuple(f.name for f in fields(StoredFace))


class People:
    # --- people -----------------------------------------------------------------------------
    def create_person(self, name: str | None = None, name_source: str | None = None,
                      confidence: float | None = None) -> int:
        stamp = now_iso()
        return self.db["people"].insert({
            "name": name, "name_source": name_source if name else None, "name_confidence": confidence,
            "hidden": 0, "created_at": stamp, "updated_at": stamp,
        }).last_pk

    def update_person(self, person_id: int, **fields) -> None:
        self.db["people"].update(person_id, {**fields, "updated_at": now_iso()})

    def delete_person(self, person_id: int) -> None:
        self.db.execute("DELETE FROM people WHERE id = ?", [person_id])

    def person(self, person_id: int) -> Person | None:
        if not valid_id(person_id):
            return None
        row = self.db.execute(
            f"SELECT {', '.join(PERSON_COLUMNS)} FROM people WHERE id = ?", [person_id]).fetchone()
        return Person(*row) if row else None

    def people_by_name(self, name: str) -> list[Person]:
        rows = self.db.execute(
            f"SELECT {', '.join(PERSON_COLUMNS)} FROM people WHERE name = ? COLLATE NOCASE ORDER BY id", [name])
        return [Person(*r) for r in rows]

    def person_names(self) -> dict[int, str | None]:
        return dict(self.db.execute("SELECT id, name FROM people").fetchall())

    def named_person_ids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT id FROM people WHERE name IS NOT NULL")}

    def hidden_person_ids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT id FROM people WHERE hidden = 1")}

    def people_total(self) -> int:
        """People and clusters, hidden ones included."""
        return self._one("SELECT count(*) FROM people")

    def empty_clusters(self, candidates: Iterable[int] | None = None) -> list[int]:
        """Unnamed, visible people left without faces (only among ``candidates`` when given)."""
        sql = ("SELECT id FROM people pe WHERE name IS NULL AND hidden = 0 "
               "AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.person_id = pe.id)")
        if candidates is None:
            return [r[0] for r in self.db.execute(sql)]
        return [r[0] for pid in sorted(candidates) for r in self.db.execute(sql + " AND pe.id = ?", [pid])]

    # --- faces' places ----------------------------------------------------------------------
    def face(self, face_id: int) -> StoredFace | None:
        if not valid_id(face_id):
            return None
        row = self.db.execute(
            f"SELECT {', '.join('f.' + c if c != 'path' else 'p.path' for c in STORED_FACE)} "
            "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id = ?", [face_id]).fetchone()
        return StoredFace(*row) if row else None

    def face_ids_of(self, person_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM faces WHERE person_id = ? ORDER BY id", [person_id])]

    def faces_of_person_best_first(self, person_id: int) -> list[tuple[int, int, str | None]]:
        """(face id, photo id, assigned_by) of a person's faces, best detection first."""
        return self.db.execute(
            "SELECT id, photo_id, assigned_by FROM faces WHERE person_id = ? ORDER BY score DESC, id",
            [person_id]).fetchall()

    def photo_ids_of(self, person_id: int) -> set[int]:
        """Photos (present or not) with a face of the person."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT photo_id FROM faces WHERE person_id = ?", [person_id])}

    def face_ids_of_people(self, person_ids: Iterable[int]) -> set[int]:
        out: set[int] = set()
        for chunk, qs in chunks(person_ids):
            out |= {r[0] for r in self.db.execute(f"SELECT id FROM faces WHERE person_id IN ({qs})", chunk)}
        return out

    def photo_face_in_person(self, person_id: int, photo_id: int, other_than: Iterable[int]) -> int | None:
        """A photo face (not a video track) of ``photo_id`` in ``person_id`` other than the given faces."""
        others = list(other_than)
        return self._one(
            f"SELECT id FROM faces WHERE person_id = ? AND photo_id = ? AND t_start IS NULL "
            f"AND id NOT IN ({marks(others)})", [person_id, photo_id, *others])

    def face_states(self, face_ids: Iterable[int]) -> list[FaceState]:
        out = []
        for chunk, qs in chunks(face_ids):
            out += [FaceState(*r) for r in self.db.execute(
                f"SELECT {', '.join(FACE_STATE)} FROM faces WHERE id IN ({qs})", chunk)]
        return out

    def set_faces(self, rows: Iterable[tuple]) -> None:
        """Write FaceStates (or tuples in its order: id, person_id, assigned_by, assign_distance, clustered)."""
        self.db.conn.executemany(
            "UPDATE faces SET person_id = ?, assigned_by = ?, assign_distance = ?, clustered = ? WHERE id = ?",
            ((p, by, d, c, i) for i, p, by, d, c in rows))

    def photo_faces_by_person(self, photo_ids: Iterable[int]) -> dict[int, set[int]]:
        """{photo_id: {person ids with a face in that photo}}."""
        out: dict[int, set[int]] = {}
        for chunk, qs in chunks(set(photo_ids)):
            for photo, person in self.db.execute(
                    f"SELECT photo_id, person_id FROM faces WHERE person_id IS NOT NULL AND photo_id IN ({qs})", chunk):
                out.setdefault(photo, set()).add(person)
        return out

    # --- rejections -------------------------------------------------------------------------
    def rejections(self) -> set[tuple[int, int]]:
        return {(f, p) for f, p in self.db.execute("SELECT face_id, person_id FROM rejections")}

    def is_rejected(self, face_id: int, person_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM rejections WHERE face_id = ? AND person_id = ?",
                               [face_id, person_id]).fetchone() is not None

    def rejected_faces(self, person_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT face_id FROM rejections WHERE person_id = ?", [person_id])]

    def add_rejection(self, face_id: int, person_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO rejections VALUES (?, ?, ?)", [face_id, person_id, now_iso()])

    def remove_rejection(self, face_id: int, person_id: int) -> None:
        self.db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [face_id, person_id])

    # --- the change log ---------------------------------------------------------------------
    def record_event(self, action: str, summary: str, details: dict, undo: bytes | None) -> int:
        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment
            user = None
        return self.db["events"].insert({
            "at": now_iso(), "user": user, "action": action, "summary": summary,
            "details": json.dumps(details, sort_keys=True, default=str), "undo": undo, "undone_at": None,
        }).last_pk

    def events(self, limit: int = 50) -> list[ChangeEvent]:
        rows = self.db.execute(
            "SELECT id, at, user, action, summary, details, undone_at, undo IS NOT NULL FROM events "
            "ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        return [ChangeEvent(*r[:5], json.loads(r[5] or "{}"), r[6], bool(r[7])) for r in rows]

    def event_undo(self, event_id: int) -> tuple[bytes | None, str | None]:
        row = self.db.execute("SELECT undo, undone_at FROM events WHERE id = ?", [event_id]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def latest_undoable(self) -> tuple[int, str] | None:
        """(id, summary) of the newest change that can still be undone."""
        return self.db.execute(
            "SELECT id, summary FROM events WHERE undone_at IS NULL AND undo IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()

    def mark_undone(self, event_id: int) -> None:
        self.db.execute("UPDATE events SET undone_at = ? WHERE id = ?", [now_iso(), event_id])

    # --- changes made while a run held the library ---------------------------------------------
    def queue_change(self, action: str, args: list) -> int:
        return self.db["pending_changes"].insert(
            {"at": now_iso(), "action": action, "args": json.dumps(args), "applied_at": None, "error": None}).last_pk

    def waiting_changes(self) -> list[tuple[int, str, list]]:
        """(id, action, arguments) of queued changes not applied yet, oldest first."""
        return [(i, a, json.loads(args)) for i, a, args in self.db.execute(
            "SELECT id, action, args FROM pending_changes WHERE applied_at IS NULL ORDER BY id")]

    def has_waiting_changes(self) -> bool:
        return self.db.execute("SELECT 1 FROM pending_changes WHERE applied_at IS NULL LIMIT 1").fetchone() is not None

    def mark_applied(self, change_id: int, error: str | None = None) -> None:
        self.db.execute("UPDATE pending_changes SET applied_at = ?, error = ? WHERE id = ?", [now_iso(), error, change_id])

    @staticmethod
    def snapshot_payload(faces: Iterable[FaceState], people: dict[int, Person | None],
                         rejections: dict[tuple[int, int], bool], added_faces: Iterable[int] = (),
                         removed_faces: Iterable[dict] = ()) -> bytes:
        """What an undo puts back: face states, people rows (None: created by the change),
        rejections (whether each existed), faces the change added (removed again) and face
        rows it deleted (put back)."""
        return zlib.compress(json.dumps({
            "faces": [list(f) for f in faces],
            "people": [[pid, None if row is None else asdict(row)] for pid, row in people.items()],
            "rejections": [[f, p, existed] for (f, p), existed in rejections.items()],
            "added_faces": list(added_faces), "removed_faces": list(removed_faces),
        }).encode())

    def restore(self, payload: bytes) -> None:
        """Put back the snapshot of an undo payload (inside the caller's transaction)."""
        data = json.loads(zlib.decompress(payload))
        people = self.db["people"]
        existing = [pid for pid, row in data["people"] if row is not None and self.person(pid)]
        for pid in existing:  # names are unique: let go of every name before any is given back
            self.db.execute("UPDATE people SET name = NULL WHERE id = ?", [pid])
        for pid, row in data["people"]:
            if row is not None:
                if pid in existing:
                    people.update(pid, row)
                else:
                    people.insert(row)
        for row in data.get("removed_faces", []):  # after their people, before their states
            self.insert_face_row(row)
        self.set_faces((fid, pid, by, dist, clustered) for fid, pid, by, dist, clustered in data["faces"])
        for face_id, person_id, existed in data["rejections"]:
            if existed:
                self.add_rejection(face_id, person_id)
            else:
                self.remove_rejection(face_id, person_id)
        for fid in data.get("added_faces", []):
            self.delete_face(fid)
        for pid, row in data["people"]:
            if row is None:
                self.db.execute("UPDATE faces SET person_id = NULL WHERE person_id = ?", [pid])
                self.delete_person(pid)
