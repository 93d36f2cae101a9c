"""The SQLite library file: schema, migrations, and every read and write (through sqlite-utils)."""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone

import numpy as np
import sqlite_utils

from . import __version__
from .errors import DatabaseError
from .types import Attributes, Detection, PhotoResult

# Each migration runs once, in order, in one transaction; never edit a released one.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema", """
CREATE TABLE index_runs (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
    photos_seen INTEGER NOT NULL DEFAULT 0,
    photos_new INTEGER NOT NULL DEFAULT 0,
    photos_changed INTEGER NOT NULL DEFAULT 0,
    photos_unchanged INTEGER NOT NULL DEFAULT 0,
    photos_moved INTEGER NOT NULL DEFAULT 0,
    photos_missing INTEGER NOT NULL DEFAULT 0,
    photos_indexed INTEGER NOT NULL DEFAULT 0,
    photos_failed INTEGER NOT NULL DEFAULT 0,
    faces_found INTEGER NOT NULL DEFAULT 0,
    settings TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    version TEXT
);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    path_bytes BLOB,
    size INTEGER,
    mtime REAL,
    sha256 TEXT,
    width INTEGER,
    height INTEGER,
    taken_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'failed', 'missing')),
    error TEXT,
    face_count INTEGER NOT NULL DEFAULT 0,
    run_id INTEGER REFERENCES index_runs(id),
    indexed_at TEXT
);
CREATE INDEX idx_photos_sha256 ON photos(sha256);
CREATE INDEX idx_photos_status ON photos(status);
CREATE INDEX idx_photos_taken_at ON photos(taken_at);
CREATE INDEX idx_photos_run_id ON photos(run_id);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    face_index INTEGER NOT NULL,
    x1 REAL NOT NULL,
    y1 REAL NOT NULL,
    x2 REAL NOT NULL,
    y2 REAL NOT NULL,
    score REAL NOT NULL,
    landmarks TEXT NOT NULL,
    embedding BLOB NOT NULL,
    model TEXT NOT NULL,
    UNIQUE (photo_id, model, face_index)
);
CREATE INDEX idx_faces_photo_id ON faces(photo_id);
CREATE INDEX idx_faces_model ON faces(model);
"""),
    (2, "people", """
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT,
    name_source TEXT CHECK (name_source IN ('user', 'gallery', 'classifier')),
    name_confidence REAL,
    hidden INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_people_name ON people(name COLLATE NOCASE);
ALTER TABLE faces ADD COLUMN person_id INTEGER REFERENCES people(id) ON DELETE SET NULL;
ALTER TABLE faces ADD COLUMN assigned_by TEXT;
ALTER TABLE faces ADD COLUMN assign_distance REAL;
ALTER TABLE faces ADD COLUMN clustered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE faces ADD COLUMN sharpness REAL;
CREATE INDEX idx_faces_person_id ON faces(person_id);
CREATE TABLE rejections (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (face_id, person_id)
);
CREATE INDEX idx_rejections_person_id ON rejections(person_id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user TEXT,
    action TEXT NOT NULL,
    summary TEXT NOT NULL,
    details TEXT,
    undo BLOB,
    undone_at TEXT
);
"""),
    (3, "change counters", """
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('faces_deleted', 0);
CREATE TRIGGER faces_deleted AFTER DELETE ON faces BEGIN UPDATE counters SET value = value + 1 WHERE name = 'faces_deleted'; END;
CREATE INDEX idx_faces_unclustered ON faces(model) WHERE clustered = 0;
CREATE INDEX idx_faces_model_person ON faces(model, person_id);
"""),
    (4, "face attributes", """
CREATE TABLE face_attributes (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    age REAL NOT NULL,
    age_sd REAL NOT NULL,
    gender TEXT NOT NULL CHECK (gender IN ('female', 'male')),
    gender_confidence REAL NOT NULL,
    emotion TEXT NOT NULL,
    emotion_confidence REAL NOT NULL,
    emotions TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_face_attributes_emotion ON face_attributes(emotion);
CREATE INDEX idx_face_attributes_gender_age ON face_attributes(gender, age);
"""),
    (5, "videos and face tracks", """
ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo';
ALTER TABLE photos ADD COLUMN duration REAL;
ALTER TABLE photos ADD COLUMN fps REAL;
ALTER TABLE faces ADD COLUMN t_start REAL;
ALTER TABLE faces ADD COLUMN t_end REAL;
ALTER TABLE faces ADD COLUMN t REAL;
CREATE TABLE track_faces (
    id INTEGER PRIMARY KEY,
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    t REAL NOT NULL,
    x1 REAL NOT NULL,
    y1 REAL NOT NULL,
    x2 REAL NOT NULL,
    y2 REAL NOT NULL,
    score REAL NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX idx_track_faces_face_id ON track_faces(face_id);
"""),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def path_key(path: str) -> tuple[str, bytes | None]:
    """A file path as stored: text (valid UTF-8) plus the raw bytes when the name is not UTF-8."""
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        return raw.decode("utf-8", "backslashreplace"), raw


def stored_path(path: str, raw: bytes | None) -> str:
    """A path as read back from the photos table (the inverse of path_key)."""
    return os.fsdecode(raw) if raw is not None else path


def ensure_db_folder(path: str) -> None:
    """Raise a DatabaseError unless the folder that will hold the database file exists."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DatabaseError(f"cannot create the database {path}: folder {folder} does not exist")


def embedding_to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_to_embedding(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


class Store:
    """One photoface database. Only the client process holds one; workers never write."""

    def __init__(self, path: str, create: bool = True):
        self.path = path
        if not create and not os.path.exists(path):
            raise DatabaseError(f"no photoface database at {path}: run `photoface index FOLDER --db {path}` first")
        ensure_db_folder(path)
        try:
            conn = sqlite3.connect(path, timeout=30)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA busy_timeout = 30000")
            if self.db.journal_mode != "wal":
                self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"cannot open the database {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    # --- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        if "schema_migrations" not in self.db.table_names():
            self.db["schema_migrations"].create(
                {"version": int, "name": str, "applied_at": str}, pk="version"
            )
        done = {row["version"] for row in self.db["schema_migrations"].rows}
        newest = max(done, default=0)
        if newest > SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.path} has schema version {newest}, newer than this photoface ({SCHEMA_VERSION}): upgrade photoface"
            )
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            with self.db.atomic():
                for statement in filter(str.strip, sql.split(";\n")):  # one statement per line end
                    self.db.execute(statement)
                self.db["schema_migrations"].insert({"version": version, "name": name, "applied_at": now_iso()})
                self.db.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

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

    def update_run(self, run_id: int, **fields) -> None:
        with self.db.atomic():
            self.db["index_runs"].update(run_id, fields)

    def finish_run(self, run_id: int, status: str, counts: dict, error: str | None = None) -> None:
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
        sizes = list(set(sizes))
        for start in range(0, len(sizes), 500):
            chunk = sizes[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for pid, path, size, sha in self.db.execute(
                f"SELECT id, path, size, sha256 FROM photos WHERE status = 'missing' AND sha256 IS NOT NULL "
                f"AND size IN ({marks})", chunk,
            ):
                out.setdefault(size, []).append((pid, path, sha))
        return out

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
                if existing:
                    photo_id = existing[0]
                    self.db.execute("DELETE FROM faces WHERE photo_id = ?", [photo_id])
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
                            "embedding": embedding_to_blob(f.embedding), "model": f.model,
                            "sharpness": None if f.sharpness is None else round(f.sharpness, 2),
                            "t_start": f.track and f.track.t_start, "t_end": f.track and f.track.t_end,
                            "t": f.track and f.track.t,
                        }
                        for i, f in enumerate(res.faces)
                    )
                    if any(f.track or f.attributes for f in res.faces):  # rows that need the new face ids
                        ids = dict(self.db.execute(
                            "SELECT face_index, id FROM faces WHERE photo_id = ?", [photo_id]).fetchall())
                        self._insert_track_faces(ids, res.faces)
                        self._insert_attributes(
                            [(ids[i], f.attributes) for i, f in enumerate(res.faces) if f.attributes], stamp)
                faces += len(res.faces)
                if res.status == "indexed":
                    indexed += 1
                else:
                    failed += 1
        return indexed, failed, faces

    def _insert_track_faces(self, ids: dict[int, int], faces) -> None:
        """Representative faces of each face track; ``ids`` maps face_index to face id."""
        self.db["track_faces"].insert_all(
            {"face_id": ids[i], "rank": r, "t": t, "x1": d.x1, "y1": d.y1, "x2": d.x2, "y2": d.y2,
             "score": d.score, "embedding": embedding_to_blob(e)}
            for i, f in enumerate(faces) if f.track for r, (t, d, e) in enumerate(f.track.representatives))

    # --- face attributes -----------------------------------------------------------------
    def _insert_attributes(self, rows: Iterable[tuple[int, Attributes]], stamp: str) -> None:
        from .models.emotion import EMOTIONS

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
            for start in range(0, len(rows), 500):
                chunk = [f for f, _ in rows[start:start + 500]]
                marks = ",".join("?" * len(chunk))
                alive |= {r[0] for r in self.db.execute(f"SELECT id FROM faces WHERE id IN ({marks})", chunk)}
            self._insert_attributes([(f, a) for f, a in rows if f in alive], now_iso())
        return len(alive)

    def faces_to_reembed(self, models: Sequence[str]) -> list[tuple[str, str, list[tuple[int, int | None, float | None, Detection]]]]:
        """Faces embedded by one of ``models`` (an older embedding), to be embedded again from
        their stored boxes: [(path, kind, [(row id, owner, t, box)])] per present photo or video,
        in path order. ``owner`` is None for a row of faces, and the track's face id for a
        representative face of a video track (a row of track_faces)."""
        marks = ",".join("?" * len(models))
        out: dict[str, tuple[str, list]] = {}
        for fid, path, raw, kind, t, x1, y1, x2, y2, score in self.db.execute(
                f"SELECT f.id, p.path, p.path_bytes, p.kind, f.t, f.x1, f.y1, f.x2, f.y2, f.score FROM faces f "
                f"JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND f.model IN ({marks}) "
                f"ORDER BY p.path, f.face_index", list(models)):
            out.setdefault(stored_path(path, raw), (kind, []))[1].append((fid, None, t, Detection(x1, y1, x2, y2, score, ())))
        for rid, fid, path, raw, t, x1, y1, x2, y2, score in self.db.execute(
                f"SELECT r.id, r.face_id, p.path, p.path_bytes, r.t, r.x1, r.y1, r.x2, r.y2, r.score "
                f"FROM track_faces r JOIN faces f ON f.id = r.face_id JOIN photos p ON p.id = f.photo_id "
                f"WHERE p.status = 'indexed' AND f.model IN ({marks}) ORDER BY r.face_id, r.rank", list(models)):
            out[stored_path(path, raw)][1].append((rid, fid, t, Detection(x1, y1, x2, y2, score, ())))
        return [(path, kind, faces) for path, (kind, faces) in sorted(out.items())]

    def replace_embeddings(self, rows: Iterable[tuple[int, int | None, np.ndarray, float | None]], model: str) -> int:
        """Store new embeddings of existing faces, as ``model``: rows of (row id, owner, vector,
        sharpness) as faces_to_reembed lists them (owner None: a face; else a track's
        representative). Returns the number of faces updated."""
        faces, reps = [], []
        for rid, owner, vector, sharp in rows:
            blob = embedding_to_blob(vector)
            if owner is None:
                faces.append((blob, model, None if sharp is None else round(sharp, 2), rid))
            else:
                reps.append((blob, rid))
        with self.db.atomic():
            self.db.conn.executemany("UPDATE faces SET embedding = ?, model = ?, sharpness = coalesce(?, sharpness) "
                                "WHERE id = ?", faces)
            self.db.conn.executemany("UPDATE track_faces SET embedding = ? WHERE id = ?", reps)
            # Copies made from the database (the search index) must be rebuilt, as after a deletion.
            self.db.execute("UPDATE counters SET value = value + 1 WHERE name = 'faces_deleted'")
        return len(faces)

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

    # --- reads --------------------------------------------------------------------------
    def counts(self) -> dict:
        q = self.db.execute
        by_status = dict(q("SELECT status, count(*) FROM photos GROUP BY status").fetchall())
        return {
            "photos": sum(by_status.values()),
            "indexed": by_status.get("indexed", 0),
            "failed": by_status.get("failed", 0),
            "missing": by_status.get("missing", 0),
            "faces": q("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed'").fetchone()[0],
        }

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
            d["embedding"] = blob_to_embedding(d["embedding"])
            yield d

    def runs(self) -> list[dict]:
        return list(self.db["index_runs"].rows_where(order_by="id"))

    # --- people -------------------------------------------------------------------------
    FACE_STATE = ("id", "person_id", "assigned_by", "assign_distance", "clustered")
    PERSON_COLUMNS = ("id", "name", "name_source", "name_confidence", "hidden", "created_at", "updated_at")

    def face_table(self, model: str, ids: Iterable[int] | None = None) -> dict[str, np.ndarray]:
        """Faces of present photos as column arrays, in id order (``X``: n x d float32 embeddings).

        ``photo_id`` groups the faces that can never be one person (the faces of one photo);
        a face track of a video is its own group (minus its face id), since a person can
        appear in a video several times.

        ``person_id`` is -1 for unassigned faces; ``size`` is the shorter side of the box in
        photo pixels; ``sharpness`` is NaN where it was not measured. Rows are read in chunks
        into preallocated arrays, so a million faces cost their embeddings' memory once.
        """
        where = "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND f.model = ?"
        if ids is not None:
            self._wanted(ids)
            where += " AND f.id IN (SELECT id FROM wanted_ids)"
        n = self.db.execute(f"SELECT count(*) {where}", [model]).fetchone()[0]
        first = self.db.execute(f"SELECT length(f.embedding) {where} LIMIT 1", [model]).fetchone()
        dim = first[0] // 4 if first else 512
        out = {
            "id": np.empty(n, np.int64), "photo_id": np.empty(n, np.int64), "person_id": np.empty(n, np.int64),
            "assigned_by": np.empty(n, object), "clustered": np.empty(n, bool), "score": np.empty(n, np.float32),
            "size": np.empty(n, np.float32), "sharpness": np.empty(n, np.float32),
            "assign_distance": np.empty(n, np.float64), "X": np.empty((n, dim), np.float32),
        }
        names = list(out)
        cursor = self.db.execute(
            "SELECT f.id, CASE WHEN f.t_start IS NULL THEN f.photo_id ELSE -f.id END, coalesce(f.person_id, -1), coalesce(f.assigned_by, ''), f.clustered, f.score, "
            "min(f.x2 - f.x1, f.y2 - f.y1), coalesce(f.sharpness, 'nan'), coalesce(f.assign_distance, 'nan'), "
            f"f.embedding {where} ORDER BY f.id", [model])
        start = 0
        while start < n and (rows := cursor.fetchmany(min(20_000, n - start))):  # rows added meanwhile wait
            end = start + len(rows)
            cols = list(zip(*rows))
            for name, col in zip(names[:-1], cols[:-1]):
                out[name][start:end] = col
            out["X"][start:end] = np.frombuffer(b"".join(cols[-1]), dtype="<f4").reshape(len(rows), dim)
            start = end
        return {k: v[:start] for k, v in out.items()} if start < n else out

    def create_person(self, name: str | None = None, name_source: str | None = None,
                      confidence: float | None = None) -> int:
        stamp = now_iso()
        return self.db["people"].insert({
            "name": name, "name_source": name_source if name else None, "name_confidence": confidence,
            "hidden": 0, "created_at": stamp, "updated_at": stamp,
        }).last_pk

    def update_person(self, person_id: int, **fields) -> None:
        self.db["people"].update(person_id, {**fields, "updated_at": now_iso()})

    def person(self, person_id: int) -> dict | None:
        row = self.db.execute(
            f"SELECT {', '.join(self.PERSON_COLUMNS)} FROM people WHERE id = ?", [person_id]).fetchone()
        return dict(zip(self.PERSON_COLUMNS, row)) if row else None

    def people_by_name(self, name: str) -> list[dict]:
        rows = self.db.execute(
            f"SELECT {', '.join(self.PERSON_COLUMNS)} FROM people WHERE name = ? COLLATE NOCASE ORDER BY id", [name])
        return [dict(zip(self.PERSON_COLUMNS, r)) for r in rows]

    def people(self, include_hidden: bool = False, examples: int = 3, limit: int | None = None,
               offset: int = 0, unnamed_first: bool = False) -> list[dict]:
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
        out = []
        for pid, name, source, conf, hidden, nfaces, nphotos in rows:
            ex = self.db.execute(
                "SELECT f.id, p.path FROM faces f JOIN photos p ON p.id = f.photo_id "
                "WHERE f.person_id = ? AND p.status = 'indexed' ORDER BY f.score DESC, f.id LIMIT ?",
                [pid, examples]).fetchall() if examples else []
            out.append({"id": pid, "name": name, "name_source": source, "name_confidence": conf,
                        "hidden": bool(hidden), "faces": nfaces, "photos": nphotos,
                        "examples": [{"face_id": f, "path": p} for f, p in ex]})
        return out

    def people_count(self, include_hidden: bool = False) -> int:
        return self.db.execute("SELECT count(*) FROM people" + ("" if include_hidden else " WHERE hidden = 0")).fetchone()[0]

    def face(self, face_id: int) -> dict | None:
        row = self.db.execute(
            "SELECT f.id, f.photo_id, p.path, f.person_id, f.assigned_by, f.x1, f.y1, f.x2, f.y2, f.score, f.t_start "
            "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id = ?", [face_id]).fetchone()
        keys = ("id", "photo_id", "path", "person_id", "assigned_by", "x1", "y1", "x2", "y2", "score", "t_start")
        return dict(zip(keys, row)) if row else None

    def face_ids_of(self, person_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM faces WHERE person_id = ? ORDER BY id", [person_id])]

    def face_states(self, face_ids: Iterable[int]) -> list[list]:
        out = []
        ids = list(face_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            out += [list(r) for r in self.db.execute(
                f"SELECT {', '.join(self.FACE_STATE)} FROM faces WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
        return out

    def set_faces(self, rows: Iterable[tuple]) -> None:
        """Write (face_id, person_id, assigned_by, assign_distance, clustered) tuples."""
        self.db.conn.executemany(
            "UPDATE faces SET person_id = ?, assigned_by = ?, assign_distance = ?, clustered = ? WHERE id = ?",
            ((p, by, d, c, i) for i, p, by, d, c in rows))

    def rejections(self) -> set[tuple[int, int]]:
        return {(f, p) for f, p in self.db.execute("SELECT face_id, person_id FROM rejections")}

    def photo_faces_by_person(self, photo_ids: Iterable[int]) -> dict[int, set[int]]:
        """{photo_id: {person ids with a face in that photo}}."""
        out: dict[int, set[int]] = {}
        ids = list(set(photo_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for photo, person in self.db.execute(
                f"SELECT photo_id, person_id FROM faces WHERE person_id IS NOT NULL "
                f"AND photo_id IN ({','.join('?' * len(chunk))})", chunk):
                out.setdefault(photo, set()).add(person)
        return out

    # --- the change log -----------------------------------------------------------------
    def record_event(self, action: str, summary: str, details: dict, undo: bytes | None) -> int:
        import getpass

        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment
            user = None
        return self.db["events"].insert({
            "at": now_iso(), "user": user, "action": action, "summary": summary,
            "details": json.dumps(details, sort_keys=True, default=str), "undo": undo, "undone_at": None,
        }).last_pk

    def events(self, limit: int = 50) -> list[dict]:
        rows = self.db.execute(
            "SELECT id, at, user, action, summary, details, undone_at, undo IS NOT NULL FROM events "
            "ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        keys = ("id", "at", "user", "action", "summary", "details", "undone_at", "undoable")
        return [dict(zip(keys, r)) | {"details": json.loads(r[5] or "{}"), "undoable": bool(r[7])} for r in rows]

    def event_undo(self, event_id: int) -> tuple[bytes | None, str | None]:
        row = self.db.execute("SELECT undo, undone_at FROM events WHERE id = ?", [event_id]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def faces_changed(self, model: str) -> tuple[int, int]:
        """(highest face id of ``model``, faces ever deleted): both only grow while faces are
        only added, so a copy made from the database is current while they are unchanged."""
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM faces WHERE model = ?", [model]).fetchone()[0]
        deleted = self.db.execute("SELECT value FROM counters WHERE name = 'faces_deleted'").fetchone()[0]
        return top, deleted

    def unclustered_face_ids(self, model: str) -> list[int]:
        """Faces no clustering run has looked at yet (new, or let go by the user), not placed by hand."""
        return [r[0] for r in self.db.execute(
            "SELECT id FROM faces INDEXED BY idx_faces_unclustered WHERE model = ? AND clustered = 0 AND person_id IS NULL "
            "AND coalesce(assigned_by, '') != 'user'", [model])]

    def with_photo_mates(self, face_ids: Iterable[int], model: str) -> list[int]:
        """The given faces and every other face of ``model`` in their photos."""
        self._wanted(face_ids)
        return [r[0] for r in self.db.execute(
            "SELECT id FROM faces WHERE photo_id IN (SELECT f.photo_id FROM wanted_ids w JOIN faces f ON f.id = w.id) "
            "AND +model = ?", [model])]

    def face_counts(self, model: str) -> tuple[int, int]:
        """(faces of present photos, those of them that belong to nobody)."""
        def one(sql: str) -> tuple:
            return self.db.execute(sql, [model]).fetchone()

        # counted from indexes (a join over every face costs a second at a million faces)
        faces, = one("SELECT count(*) FROM faces WHERE model = ?")
        unknown, = one("SELECT count(*) FROM faces WHERE model = ? AND person_id IS NULL")
        gone, gone_unknown = one(
            "SELECT count(*), count(*) - count(f.person_id) FROM photos p CROSS JOIN faces f ON f.photo_id = p.id "
            "WHERE p.status IN ('failed', 'missing') AND f.model = ?")
        return faces - gone, unknown - gone_unknown

    def has_people(self, model: str) -> bool:
        return self.db.execute(
            "SELECT 1 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id IS NOT NULL "
            "AND p.status = 'indexed' AND f.model = ? LIMIT 1", [model]).fetchone() is not None

    def _wanted(self, ids: Iterable[int]) -> None:
        """Fill the temporary table ``wanted_ids`` that queries join against."""
        with self.db.atomic():  # never leave a transaction open behind the caller's back
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_ids (id INTEGER PRIMARY KEY)")
            self.db.execute("DELETE FROM wanted_ids")
            self.db.conn.executemany("INSERT OR IGNORE INTO wanted_ids VALUES (?)", ((int(i),) for i in ids))

    def face_vectors(self, model: str, after_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, embeddings) of every face of ``model`` with an id above ``after_id``."""
        rows = self.db.execute(
            "SELECT id, embedding FROM faces WHERE model = ? AND id > ? ORDER BY id", [model, after_id]).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 512), np.float32)
        ids, blobs = zip(*rows)
        X = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), len(blobs[0]) // 4)
        return np.array(ids, dtype=np.int64), X
