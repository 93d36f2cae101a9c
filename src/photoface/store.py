"""The SQLite library file: schema, migrations, and every read and write (through sqlite-utils)."""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

import numpy as np
import sqlite_utils

from . import __version__
from .errors import DatabaseError
from .types import PhotoResult

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
                for statement in filter(str.strip, sql.split(";")):
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
            out[os.fsdecode(raw) if raw is not None else path] = (size, mtime, status)
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
                        }
                        for i, f in enumerate(res.faces)
                    )
                faces += len(res.faces)
                if res.status == "indexed":
                    indexed += 1
                else:
                    failed += 1
        return indexed, failed, faces

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
