"""Opening a library file: the connection, its pragmas, migrations, and the helpers every
part of the store shares (time stamps, stored paths, id lists)."""
from __future__ import annotations

import operator
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone

import sqlite_utils

from ..errors import DatabaseError
from .schema import MIGRATIONS, SCHEMA_VERSION

#: Ids per "IN (?, ...)" list: well under SQLite's limit on bound parameters.
CHUNK = 500


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
    if not str(path).strip():
        raise DatabaseError("no database file given: --db needs a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DatabaseError(f"cannot create the database {path}: folder {folder} does not exist")


#: Tables every photoface library has had since its first schema.
_OWN_TABLES = {"schema_migrations", "photos", "faces", "index_runs"}


def _read_only_uri(path: str, immutable: bool = False) -> str:
    from urllib.parse import quote

    return f"file:{quote(os.path.abspath(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def _holds_data(path: str) -> bool:
    """Whether ``path`` is a file with something in it, which must then be an SQLite file (a
    DatabaseError otherwise: a photo or a document given as --db is never opened by SQLite)."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            return False
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False  # the open that follows reports it
    if head != b"SQLite format 3\x00":
        raise DatabaseError(f"not a photoface database: {path} is not an SQLite file; give --db a new file name")
    return True


def _check_tables(path: str, conn: sqlite3.Connection) -> None:
    """A DatabaseError (``conn`` closed) unless the SQLite file open on ``conn`` is a photoface
    library or has no table yet; reads only."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not (tables <= {"schema_migrations"} or _OWN_TABLES <= tables):  # (the first lies before migration 1)
        conn.close()
        shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
        raise DatabaseError(f"not a photoface database: {path} has the tables {shown}; "
                            "give --db a new file name")


def check_library_file(path: str) -> None:
    """A DatabaseError, before anything is written or created beside it, unless ``path`` is
    new, empty, or a photoface library: a photo, a document or another program's SQLite
    file (a digiKam or Lightroom catalogue) given as --db by mistake is never changed."""
    if not _holds_data(path):
        return
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
        try:
            _check_tables(path, conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot open the database {path}: {exc}") from None


def chunks(ids: Iterable, size: int = CHUNK) -> Iterator[tuple[list, str]]:
    """(chunk, "?,?,...") pairs over ``ids``: the pieces of a long IN list."""
    ids = list(ids)
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        yield chunk, marks(chunk)


#: SQLite's integers: an id outside this range names nothing (and SQLite would refuse it).
MAX_ID = 2**63 - 1


def valid_id(value) -> bool:
    try:
        return -MAX_ID - 1 <= operator.index(value) <= MAX_ID
    except TypeError:
        return False


def marks(values: Sequence) -> str:
    return ",".join("?" * len(values))


class Base:
    """The connection and the schema; the rest of Store (library, people, vectors, queries)
    builds on ``self.db``."""

    def __init__(self, path: str, create: bool = True):
        self.path = path
        if not create and not os.path.exists(path):
            raise DatabaseError(f"no photoface database at {path}: run `photoface index FOLDER --db {path}` first")
        ensure_db_folder(path)
        holds_data = _holds_data(path)
        folder = os.path.dirname(os.path.abspath(path))
        self.read_only = os.path.exists(path) and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK))
        try:
            if self.read_only:
                self._open_read_only(path, folder)
            else:
                conn = sqlite3.connect(path, timeout=30)
                if holds_data:
                    _check_tables(path, conn)  # before anything is written to it
                self.db = sqlite_utils.Database(conn)
                self.db.execute("PRAGMA foreign_keys = ON")
                self.db.execute("PRAGMA busy_timeout = 30000")
                if self.db.journal_mode != "wal":
                    self.db.enable_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"cannot open the database {path}: {exc}") from None

    def _open_read_only(self, path: str, folder: str) -> None:
        """A library this user may read but not write (a read-only file or folder): opened for
        reading; a command that changes it says so (db.lock). In a folder nobody can write,
        nothing can change it under us either, so SQLite may read it as immutable (a WAL
        library there has no -shm file to share)."""
        conn = sqlite3.connect(_read_only_uri(path, immutable=not os.access(folder, os.W_OK)), uri=True, timeout=30)
        _check_tables(path, conn)
        self.db = sqlite_utils.Database(conn)
        done = {r[0] for r in self.db.execute("SELECT version FROM schema_migrations")}
        if max(done, default=0) < SCHEMA_VERSION:
            raise DatabaseError(f"{path} was written by an older photoface and cannot be upgraded here (it is "
                                "read-only): open it once where it can be written")

    def close(self) -> None:
        self.db.close()

    def atomic(self):
        """One transaction (nested calls join the outer one)."""
        return self.db.atomic()

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
        pending = [m for m in MIGRATIONS if m[0] not in done]
        if not pending:
            return
        # A migration may rebuild a table others refer to (SQLite changes a CHECK only so):
        # with foreign keys on, dropping the old table would empty those references.
        self.db.execute("PRAGMA foreign_keys = OFF")
        dangling = len(self.db.execute("PRAGMA foreign_key_check").fetchall())
        try:
            for version, name, sql in pending:
                with self.db.atomic():
                    for statement in filter(str.strip, sql.split(";\n")):  # one statement per line end
                        self.db.execute(statement)
                    broken = len(self.db.execute("PRAGMA foreign_key_check").fetchall()) - dangling
                    if broken > 0:
                        raise DatabaseError(f"upgrading {self.path} to schema {version} would break {broken} "
                                            "reference(s): it was left as it was")
                    self.db["schema_migrations"].insert({"version": version, "name": name, "applied_at": now_iso()})
                    self.db.execute(f"PRAGMA user_version = {version}")
        finally:
            self.db.execute("PRAGMA foreign_keys = ON")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _wanted(self, ids: Iterable[int]) -> None:
        """Fill the temporary table ``wanted_ids`` that queries join against."""
        with self.db.atomic():  # never leave a transaction open behind the caller's back
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_ids (id INTEGER PRIMARY KEY)")
            self.db.execute("DELETE FROM wanted_ids")
            self.db.conn.executemany("INSERT OR IGNORE INTO wanted_ids VALUES (?)", ((int(i),) for i in ids))

    def _one(self, sql: str, args=()):
        """The first column of the first row (None when there is no row)."""
        row = self.db.execute(sql, list(args)).fetchone()
        return row[0] if row else None
