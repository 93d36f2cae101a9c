"""The library: index runs, photos and their faces as the index writes them, face tracks of
videos, face attributes, and re-embedding stored faces."""
from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence


from .. import __version__
from ..config import DLIB_MODEL, SAME_FACE_IOU
from ..types import EMOTIONS, Attributes, Detection, PhotoResult, box_iou
from ..vectors import from_blob, to_blob
from .base import chunks, marks, now_iso, path_key, stored_path, valid_id


class Library:
    # --- index runs ---------------------------------------------------------------------
    def start_run(self, root: str, settings: dict) -> int:
        with self.db.atomic():
            self.db.execute(
                "UPDATE index_runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'", [now_iso()]
            )
            return self.db["index_runs"].insert({
                "root": root, "started_at": now_iso(), "status": "running",
                "settings": json.dumps(settings, sort_keys=True), "pid": os.getpid(),
                "host": socket.gethostname(), "version": __version__,
            }).last_pk

    def embedding_precision(self) -> str | None:
        """The FaceNet arithmetic the library's faces were embedded in, as the latest index
        run that recorded one chose it ("int8", "int8-static", ...); None for a library
        without faces or indexed before runs recorded it."""
        if self.db.execute("SELECT 1 FROM faces LIMIT 1").fetchone() is None:
            return None
        for (settings,) in self.db.execute("SELECT settings FROM index_runs WHERE settings LIKE '%\"precision\"%' "
                                           "ORDER BY id DESC LIMIT 1"):
            try:
                return json.loads(settings).get("precision")
            except (TypeError, ValueError):
                return None
        return None

    def update_run(self, run_id: int, **fields) -> None:
        with self.db.atomic():
            self.db["index_runs"].update(run_id, fields)

    def finish_run(self, run_id: int, status: str, counts: dict, error: str | None = None) -> None:
        """Record how the run ended. A write that Ctrl-C cut short between its BEGIN and the
        block that would roll it back (sqlite-utils' atomic) leaves its transaction open: it
        is rolled back first (closing would discard it anyway), or the run's end would be
        written into it and lost with it."""
        if self.db.conn.in_transaction:
            self.db.conn.rollback()
        self.update_run(run_id, status=status, finished_at=now_iso(), error=error, **counts)

    # --- photos -------------------------------------------------------------------------
    def photo_states(self, root: str) -> dict[str, tuple[int, float, str]]:
        """{path: (size, mtime, status)} for photos under ``root`` (including missing ones)."""
        prefix = root.rstrip(os.sep) + os.sep
        rows = self.db.execute(
            "SELECT path, path_bytes, size, mtime, status FROM photos WHERE substr(path, 1, ?) = ?",
            [len(prefix), prefix],
        )
        out = {}
        for path, raw, size, mtime, status in rows:
            out[stored_path(path, raw)] = (size, mtime, status)
        return out

    def missing_photos_by_size(self, sizes: Iterable[int]) -> dict[int, list[tuple[int, str, str]]]:
        """Photos marked missing (or about to be), grouped by size: candidates for a move."""
        out: dict[int, list] = {}
        for chunk, qs in chunks(set(sizes)):
            for pid, path, size, sha in self.db.execute(
                f"SELECT id, path, size, sha256 FROM photos WHERE status = 'missing' AND sha256 IS NOT NULL "
                f"AND size IN ({qs})", chunk,
            ):
                out.setdefault(size, []).append((pid, path, sha))
        return out

    def indexed_sha256(self, paths: Iterable[str]) -> dict[str, str]:
        """{path: content hash} of the indexed photos among ``paths``."""
        out = {}
        for chunk, qs in chunks([path_key(p)[0] for p in paths]):
            for path, raw, sha in self.db.execute(
                f"SELECT path, path_bytes, sha256 FROM photos WHERE status = 'indexed' AND sha256 IS NOT NULL "
                f"AND path IN ({qs})", chunk,
            ):
                out[stored_path(path, raw)] = sha
        return out

    def restamp_photos(self, stamps: Iterable[tuple[str, float]], run_id: int) -> int:
        """Files whose modification time changed but whose content did not (a backup restored,
        a sync tool, a `touch`): the new time is recorded; the photo keeps its faces, their ids
        and every decision on them."""
        count = 0
        with self.db.atomic():
            for path, mtime in stamps:
                count += self.db.execute("UPDATE photos SET mtime = ?, run_id = ? WHERE path = ? AND status = 'indexed'",
                                         [mtime, run_id, path_key(path)[0]]).rowcount
        return count

    def mark_missing(self, paths: Iterable[str], run_id: int) -> int:
        count = 0
        with self.db.atomic():
            for path in paths:
                key, _ = path_key(path)
                cur = self.db.execute(
                    "UPDATE photos SET status = 'missing', run_id = ? WHERE path = ? AND status != 'missing'",
                    [run_id, key],
                )
                count += cur.rowcount
        return count

    def move_photo(self, photo_id: int, new_path: str, size: int, mtime: float, run_id: int) -> None:
        """A file found at a new path with the content of a missing photo: keep its faces."""
        key, raw = path_key(new_path)
        with self.db.atomic():
            self.db.execute("DELETE FROM photos WHERE path = ? AND id != ?", [key, photo_id])
            self.db.execute(
                "UPDATE photos SET path = ?, path_bytes = ?, size = ?, mtime = ?, run_id = ?, "
                "status = CASE WHEN error IS NULL THEN 'indexed' ELSE 'failed' END WHERE id = ?",
                [key, raw, size, mtime, run_id, photo_id],
            )

    def write_results(self, results: Iterable[PhotoResult], run_id: int) -> tuple[int, int, int]:
        """Store photos and their faces, each photo atomically with its faces, all in one transaction.

        A photo already stored at the same path (a changed file, or a retry) is replaced,
        keeping its id. Returns (indexed, failed, faces).
        """
        indexed = failed = faces = 0
        stamp = now_iso()
        with self.db.atomic():
            for res in results:
                key, raw = path_key(res.path)
                row = {
                    "path": key, "path_bytes": raw, "size": res.size, "mtime": res.mtime, "sha256": res.sha256,
                    "width": res.width, "height": res.height, "taken_at": res.taken_at, "status": res.status,
                    "error": res.error, "face_count": len(res.faces), "run_id": run_id, "indexed_at": stamp,
                    "kind": res.kind, "duration": res.duration, "fps": res.fps,
                }
                existing = self.db.execute("SELECT id FROM photos WHERE path = ?", [key]).fetchone()
                before: list = []
                if existing:
                    photo_id = existing[0]
                    # faces a user drew stay (their box is the user's decision); detected ones are
                    # redone, and where one lies where an old one lay it keeps that one's person
                    before = self._placed_faces(photo_id)
                    self.db.execute("DELETE FROM faces WHERE photo_id = ? AND source IS NULL", [photo_id])
                    row["face_count"] += self._one("SELECT count(*) FROM faces WHERE photo_id = ?", [photo_id])
                    self.db["photos"].update(photo_id, row)
                else:
                    photo_id = self.db["photos"].insert(row).last_pk
                if res.faces:
                    self.db["faces"].insert_all(
                        {
                            "photo_id": photo_id, "face_index": i,
                            "x1": f.detection.x1, "y1": f.detection.y1, "x2": f.detection.x2, "y2": f.detection.y2,
                            "score": f.detection.score,
                            "landmarks": json.dumps([[round(x, 2), round(y, 2)] for x, y in f.detection.landmarks]),
                            "embedding": to_blob(f.embedding), "model": f.model,
                            "sharpness": None if f.sharpness is None else round(f.sharpness, 2),
                            "t_start": f.track and f.track.t_start, "t_end": f.track and f.track.t_end,
                            "t": f.track and f.track.t,
                        }
                        for i, f in enumerate(res.faces)
                    )
                    if before:
                        self._carry_over(photo_id, before)
                    if any(f.track or f.attributes or f.descriptor is not None for f in res.faces):
                        ids = dict(self.db.execute(  # rows that need the new face ids
                            "SELECT face_index, id FROM faces WHERE photo_id = ?", [photo_id]).fetchall())
                        self._insert_track_faces(ids, res.faces)
                        self._insert_attributes(
                            [(ids[i], f.attributes) for i, f in enumerate(res.faces) if f.attributes], stamp)
                        self.write_descriptors([(ids[i], f.descriptor) for i, f in enumerate(res.faces)
                                                if f.descriptor is not None], DLIB_MODEL)
                faces += len(res.faces)
                if res.status == "indexed":
                    indexed += 1
                else:
                    failed += 1
        return indexed, failed, faces

    def _placed_faces(self, photo_id: int) -> list[tuple]:
        """A photo's detected faces that are in a person, were rejected from one or named by the
        photo's tags, with what to keep of each: (box, state, rejected person ids, tag name)."""
        rows = self.db.execute(
            "SELECT f.id, f.x1, f.y1, f.x2, f.y2, f.person_id, f.assigned_by, f.assign_distance, f.clustered, t.name "
            "FROM faces f LEFT JOIN tag_names t ON t.face_id = f.id WHERE f.photo_id = ? AND f.source IS NULL "
            "AND f.t_start IS NULL", [photo_id]).fetchall()
        rejected: dict[int, list[int]] = {}
        for fid, pid in self.db.execute("SELECT r.face_id, r.person_id FROM rejections r JOIN faces f "
                                        "ON f.id = r.face_id WHERE f.photo_id = ?", [photo_id]):
            rejected.setdefault(fid, []).append(pid)
        return [(r[1:5], r[5:9], rejected.get(r[0], []), r[9]) for r in rows
                if r[5] is not None or r[6] is not None or r[0] in rejected or r[9] is not None]

    def _carry_over(self, photo_id: int, before: list[tuple]) -> None:
        """A re-indexed photo's new faces take the person, rejections and tag name of the old
        face that lay in the same place (intersection over union at least config.SAME_FACE_IOU):
        a file another app changed (its metadata, say) keeps the user's decisions."""
        new = self.db.execute("SELECT id, x1, y1, x2, y2 FROM faces WHERE photo_id = ? AND source IS NULL "
                              "AND t_start IS NULL", [photo_id]).fetchall()
        pairs = sorted(((box_iou(n[1:], old[0]), n[0], i) for n in new for i, old in enumerate(before)), reverse=True)
        taken_new, taken_old, stamp = set(), set(), now_iso()
        for overlap, fid, i in pairs:
            if overlap < SAME_FACE_IOU or fid in taken_new or i in taken_old:
                continue
            taken_new.add(fid)
            taken_old.add(i)
            _, (person, by, distance, clustered), rejected, tag = before[i]
            self.db.execute("UPDATE faces SET person_id = ?, assigned_by = ?, assign_distance = ?, clustered = ? "
                            "WHERE id = ?", [person, by, distance, clustered, fid])
            self.db.conn.executemany("INSERT OR IGNORE INTO rejections (face_id, person_id, created_at) "
                                     "VALUES (?, ?, ?)", [(fid, p, stamp) for p in rejected])
            if tag is not None:
                self.db.execute("INSERT OR REPLACE INTO tag_names (face_id, name, read_at) VALUES (?, ?, ?)",
                                [fid, tag, stamp])

    def _insert_track_faces(self, ids: dict[int, int], faces) -> None:
        """Representative faces of each face track; ``ids`` maps face_index to face id."""
        self.db["track_faces"].insert_all(
            {"face_id": ids[i], "rank": r, "t": t, "x1": d.x1, "y1": d.y1, "x2": d.x2, "y2": d.y2,
             "score": d.score, "embedding": to_blob(e)}
            for i, f in enumerate(faces) if f.track for r, (t, d, e) in enumerate(f.track.representatives))

    # --- face attributes -----------------------------------------------------------------
    def _insert_attributes(self, rows: Iterable[tuple[int, Attributes]], stamp: str) -> None:
        self.db["face_attributes"].insert_all(({
            "face_id": fid, "model": a.model, "age": a.age, "age_sd": a.age_sd, "gender": a.gender,
            "gender_confidence": round(a.gender_confidence, 4), "emotion": a.emotion,
            "emotion_confidence": a.emotion_confidence, "emotions": json.dumps(dict(zip(EMOTIONS, a.emotions))),
            "created_at": stamp} for fid, a in rows), replace=True)

    def write_attributes(self, rows: Iterable[tuple[int, Attributes]]) -> int:
        """Store attributes of existing faces (replacing older ones); faces deleted meanwhile are skipped."""
        rows = list(rows)
        if not rows:
            return 0
        with self.db.atomic():
            alive = set()
            for chunk, qs in chunks(f for f, _ in rows):
                alive |= {r[0] for r in self.db.execute(f"SELECT id FROM faces WHERE id IN ({qs})", chunk)}
            self._insert_attributes([(f, a) for f, a in rows if f in alive], now_iso())
        return len(alive)

    def faces_to_reembed(self, models: Sequence[str]) -> list[tuple[str, str, list[tuple[int, int | None, float | None, Detection]]]]:
        """Faces embedded by one of ``models`` (an older embedding), to be embedded again from
        their stored boxes: [(path, kind, [(row id, owner, t, box)])] per present photo or video,
        in path order. ``owner`` is None for a row of faces, and the track's face id for a
        representative face of a video track (a row of track_faces)."""
        qs = marks(models)
        out: dict[str, tuple[str, list]] = {}
        for fid, path, raw, kind, t, x1, y1, x2, y2, score in self.db.execute(
                f"SELECT f.id, p.path, p.path_bytes, p.kind, f.t, f.x1, f.y1, f.x2, f.y2, f.score FROM faces f "
                f"JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND f.model IN ({qs}) "
                f"ORDER BY p.path, f.face_index", list(models)):
            out.setdefault(stored_path(path, raw), (kind, []))[1].append((fid, None, t, Detection(x1, y1, x2, y2, score, ())))
        for rid, fid, path, raw, t, x1, y1, x2, y2, score in self.db.execute(
                f"SELECT r.id, r.face_id, p.path, p.path_bytes, r.t, r.x1, r.y1, r.x2, r.y2, r.score "
                f"FROM track_faces r JOIN faces f ON f.id = r.face_id JOIN photos p ON p.id = f.photo_id "
                f"WHERE p.status = 'indexed' AND f.model IN ({qs}) ORDER BY r.face_id, r.rank", list(models)):
            out[stored_path(path, raw)][1].append((rid, fid, t, Detection(x1, y1, x2, y2, score, ())))
        return [(path, kind, faces) for path, (kind, faces) in sorted(out.items())]

    def replace_embeddings(self, rows: Iterable, model: str) -> int:
        """Store new embeddings of existing faces, as ``model``: pipeline.Reembedded rows (row
        id, owner, vector, sharpness; owner None: a face, else a track's representative) as
        faces_to_reembed listed them. Returns the number of faces updated."""
        faces, reps = [], []
        for rid, owner, vector, sharp, *_ in rows:
            blob = to_blob(vector)
            if owner is None:
                faces.append((blob, model, None if sharp is None else round(sharp, 2), rid))
            else:
                reps.append((blob, rid))
        with self.db.atomic():
            self.db.conn.executemany("UPDATE faces SET embedding = ?, model = ?, sharpness = coalesce(?, sharpness) "
                                "WHERE id = ?", faces)
            self.db.conn.executemany("UPDATE track_faces SET embedding = ? WHERE id = ?", reps)
            # Copies made from the database (the search index) must be rebuilt, as after a deletion.
            self.db.execute("UPDATE counters SET value = value + 1 WHERE name = 'vectors_changed'")
        return len(faces)

    def faces_without_descriptors(self, model: str) -> list[tuple[str, str, list[tuple[int, int | None, float | None, Detection]]]]:
        """Faces of ``model`` that have no dlib descriptor yet, in faces_to_reembed's form: a
        photo's face with its stored box and landmarks; a video face as its track's
        representatives (owner: the face id)."""
        out: dict[str, tuple[str, list]] = {}
        missing = ("FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND f.model = ? "
                   "AND NOT EXISTS (SELECT 1 FROM face_descriptors d WHERE d.face_id = f.id)")
        for fid, path, raw, kind, x1, y1, x2, y2, score, marks in self.db.execute(
                f"SELECT f.id, p.path, p.path_bytes, p.kind, f.x1, f.y1, f.x2, f.y2, f.score, f.landmarks {missing} "
                f"AND f.t_start IS NULL ORDER BY p.path, f.face_index", [model]):
            det = Detection(x1, y1, x2, y2, score, tuple(tuple(p) for p in json.loads(marks or "[]")))
            out.setdefault(stored_path(path, raw), (kind, []))[1].append((fid, None, None, det))
        for rid, fid, path, raw, kind, t, x1, y1, x2, y2, score in self.db.execute(
                f"SELECT r.id, f.id, p.path, p.path_bytes, p.kind, r.t, r.x1, r.y1, r.x2, r.y2, r.score "
                f"FROM track_faces r JOIN faces f ON f.id = r.face_id JOIN photos p ON p.id = f.photo_id "
                f"WHERE p.status = 'indexed' AND f.model = ? "
                f"AND NOT EXISTS (SELECT 1 FROM face_descriptors d WHERE d.face_id = f.id) "
                f"ORDER BY f.id, r.rank", [model]):
            out.setdefault(stored_path(path, raw), (kind, []))[1].append((rid, fid, t, Detection(x1, y1, x2, y2, score, ())))
        return [(path, kind, faces) for path, (kind, faces) in sorted(out.items())]

    def write_descriptors(self, rows: Iterable[tuple[int, "np.ndarray"]], model: str) -> int:
        """Store dlib descriptors of existing faces ((face id, descriptor)); faces deleted
        meanwhile are skipped. Returns how many were stored."""
        rows = [(fid, model, to_blob(d)) for fid, d in rows]
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO face_descriptors (face_id, model, descriptor) "
                "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?1)", rows)
        return len(rows)

    def faces_needing_attributes(self, redo: bool = False) -> list[tuple[str, list[tuple[int, Detection]]]]:
        """[(photo path, [(face id, box)])] of present photos with faces that have no attributes
        (every face with ``redo``), in path order."""
        missing = "" if redo else "AND f.id NOT IN (SELECT face_id FROM face_attributes)"
        out: dict[str, list] = {}
        for fid, path, raw, x1, y1, x2, y2, score in self.db.execute(
                f"SELECT f.id, p.path, p.path_bytes, f.x1, f.y1, f.x2, f.y2, f.score FROM faces f "
                f"JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND p.kind = 'photo' {missing} "
                f"ORDER BY p.path, f.face_index"):
            out.setdefault(stored_path(path, raw), []).append((fid, Detection(x1, y1, x2, y2, score, ())))
        return list(out.items())

    # --- reads ---------------------------------------------------------------------------
    def counts(self) -> dict:
        q = self.db.execute
        by_status = dict(q("SELECT status, count(*) FROM photos GROUP BY status").fetchall())
        return {
            "photos": sum(by_status.values()),
            "indexed": by_status.get("indexed", 0),
            "failed": by_status.get("failed", 0),
            "missing": by_status.get("missing", 0),
            "faces": q("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed'").fetchone()[0],
            "faces_without_descriptor": q("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE "
                                          "p.status = 'indexed' AND f.id NOT IN (SELECT face_id FROM face_descriptors)"
                                          ).fetchone()[0],
        }

    def people_counts(self) -> dict:
        """People by kind, and the faces of present photos that belong to nobody (unknown) or
        that a user ignored."""
        named, clusters, hidden = self.db.execute(
            "SELECT coalesce(sum(name IS NOT NULL AND hidden = 0), 0), coalesce(sum(name IS NULL AND hidden = 0), 0), "
            "coalesce(sum(hidden), 0) FROM people").fetchone()
        unknown, ignored = self.db.execute(
            "SELECT coalesce(sum(coalesce(assigned_by, '') != 'user'), 0), coalesce(sum(assigned_by = 'user'), 0) "
            "FROM present_faces WHERE person_id IS NULL").fetchone()
        return {"named_people": named, "unnamed_clusters": clusters, "hidden_people": hidden,
                "unknown_faces": unknown, "ignored_faces": ignored}

    def iter_faces(self, model: str | None = None) -> Iterator[dict]:
        """Faces of present photos, with their photo path and embedding as a numpy vector."""
        sql = (
            "SELECT f.id, f.photo_id, p.path, f.face_index, f.x1, f.y1, f.x2, f.y2, f.score, f.landmarks, "
            "f.embedding, f.model FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed'"
        )
        args = []
        if model:
            sql += " AND f.model = ?"
            args.append(model)
        for row in self.db.execute(sql + " ORDER BY p.path, f.face_index", args):
            d = dict(zip(
                ("id", "photo_id", "path", "face_index", "x1", "y1", "x2", "y2", "score", "landmarks",
                 "embedding", "model"), row))
            d["landmarks"] = json.loads(d["landmarks"])
            d["embedding"] = from_blob(d["embedding"])
            yield d

    def runs(self) -> list[dict]:
        return list(self.db["index_runs"].rows_where(order_by="id"))

    def photo_file(self, photo_id: int) -> tuple[str, float] | None:
        """(path, mtime) of an indexed photo."""
        if not valid_id(photo_id):
            return None
        row = self.db.execute("SELECT path, path_bytes, mtime FROM photos WHERE id = ? AND status = 'indexed'",
                              [int(photo_id)]).fetchone()
        return (stored_path(row[0], row[1]), row[2] or 0) if row else None

    def face_file(self, face_id: int) -> tuple[str, float, tuple, float | None] | None:
        """(photo path, photo mtime, box, time in a video) of a face of an indexed photo."""
        if not valid_id(face_id):
            return None
        row = self.db.execute(
            "SELECT path, path_bytes, photo_mtime, x1, y1, x2, y2, t FROM present_faces WHERE id = ?",
            [int(face_id)]).fetchone()
        return (stored_path(row[0], row[1]), row[2] or 0, row[3:7], row[7]) if row else None

    # --- faces added by hand ----------------------------------------------------------------
    def indexed_photo(self, path: str) -> dict | None:
        """An indexed photo or video by its path: id, path, width, height, kind."""
        key, _ = path_key(os.path.abspath(path))
        row = self.db.execute("SELECT id, path, path_bytes, width, height, kind FROM photos "
                              "WHERE path = ? AND status = 'indexed'", [key]).fetchone()
        return None if row is None else {"id": row[0], "path": stored_path(row[1], row[2]), "width": row[3],
                                         "height": row[4], "kind": row[5]}

    def add_manual_face(self, photo_id: int, det: Detection, embedding, model: str, sharpness: float | None,
                        descriptor=None) -> int:
        """Store a face drawn by a user (source 'manual'), with dlib's descriptor when given; its id."""
        index = max(1000, self._one("SELECT coalesce(max(face_index), 0) + 1 FROM faces WHERE photo_id = ?",
                                    [photo_id]))
        fid = self.db["faces"].insert({
            "photo_id": photo_id, "face_index": index, "x1": det.x1, "y1": det.y1, "x2": det.x2, "y2": det.y2,
            "score": det.score, "landmarks": "[]", "embedding": to_blob(embedding), "model": model,
            "sharpness": None if sharpness is None else round(sharpness, 2), "source": "manual"}).last_pk
        if descriptor is not None:
            self.write_descriptors([(fid, descriptor)], DLIB_MODEL)
        self._count_faces(photo_id)
        return fid

    def face_row(self, face_id: int) -> dict | None:
        """Every column of a face (what undoing its deletion puts back); the embedding as hex."""
        cur = self.db.execute("SELECT * FROM faces WHERE id = ?", [face_id])
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip((c[0] for c in cur.description), row))
        out["embedding"] = out["embedding"].hex()
        return out

    def delete_face(self, face_id: int) -> None:
        photo = self._one("SELECT photo_id FROM faces WHERE id = ?", [face_id])
        self.db.execute("DELETE FROM faces WHERE id = ?", [face_id])
        self._count_faces(photo)

    def insert_face_row(self, row: dict) -> None:
        self.db["faces"].insert({**row, "embedding": bytes.fromhex(row["embedding"])})
        self._count_faces(row["photo_id"])

    def _count_faces(self, photo_id: int) -> None:
        self.db.execute("UPDATE photos SET face_count = (SELECT count(*) FROM faces WHERE photo_id = ?) WHERE id = ?",
                        [photo_id, photo_id])

    def failed_photos(self, limit: int = 100) -> list[dict]:
        """Photos the index could not read, with the reason, most recent first."""
        rows = self.db.execute("SELECT id, path, error FROM photos WHERE status = 'failed' ORDER BY id DESC LIMIT ?",
                               [limit]).fetchall()
        return [{"photo_id": r[0], "path": r[1], "error": r[2]} for r in rows]

    def photo_paths(self) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, path FROM photos").fetchall())

    def photo_faces_with_size(self, model: str) -> list[tuple]:
        """(path, width, height, x1, y1, x2, y2, embedding or None) for every indexed photo and
        each of its faces of ``model`` (one row with no face for a photo without)."""
        rows = self.db.execute(
            "SELECT p.path, p.width, p.height, f.x1, f.y1, f.x2, f.y2, f.embedding FROM photos p "
            "LEFT JOIN faces f ON f.photo_id = p.id AND f.model = ? WHERE p.status = 'indexed'", [model]).fetchall()
        return [(*r[:7], None if r[7] is None else from_blob(r[7])) for r in rows]

    def has_faces(self) -> bool:
        return self.db.execute("SELECT 1 FROM faces LIMIT 1").fetchone() is not None

    def count_faces_of_models(self, models: Sequence[str]) -> int:
        return self._one(f"SELECT count(*) FROM faces WHERE model IN ({marks(models)})", models)

