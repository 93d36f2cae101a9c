"""The database: schema, migrations, foreign keys, WAL, and what Datasette-style tools see."""
import sqlite3

import numpy as np
import pytest
import sqlite_utils

from photoface.errors import DatabaseError
from photoface.db import MIGRATIONS, SCHEMA_VERSION, Store
from photoface.types import Detection, Face, PhotoResult


def result(path, n_faces=1):
    det = Detection(1, 2, 30, 40, 0.99, ((5, 6),) * 5)
    faces = [Face(det, np.full(512, 1 / np.sqrt(512), np.float32), "m") for _ in range(n_faces)]
    return PhotoResult(path, 10, 1.0, "ab" * 32, 100, 80, None, faces=faces)


def test_schema_foreign_keys_indexes_and_wal(tmp_path):
    db_path = tmp_path / "s.db"
    Store(str(db_path)).close()
    db = sqlite_utils.Database(db_path)
    assert {"photos", "faces", "index_runs", "schema_migrations"} <= set(db.table_names())
    assert db.journal_mode == "wal"
    fks = {(fk.column, fk.other_table) for fk in db["faces"].foreign_keys}
    assert ("photo_id", "photos") in fks
    assert ("run_id", "index_runs") in {(fk.column, fk.other_table) for fk in db["photos"].foreign_keys}
    assert {"idx_faces_photo_id", "idx_photos_sha256"} <= {i.name for i in db["faces"].indexes + db["photos"].indexes}
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r["version"] for r in db["schema_migrations"].rows] == [v for v, _, _ in MIGRATIONS]


def test_reopening_does_not_migrate_again_and_newer_schema_is_refused(tmp_path):
    path = str(tmp_path / "s.db")
    Store(path).close()
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    conn.commit()
    with pytest.raises(DatabaseError, match="newer than this photoface"):
        Store(path)


def test_write_replaces_a_photo_and_its_faces_atomically(tmp_path):
    store = Store(str(tmp_path / "s.db"))
    run = store.start_run(str(tmp_path), {})
    assert store.write_results([result("/a.jpg", 2), result("/b.jpg", 1)], run) == (2, 0, 3)
    assert store.write_results([result("/a.jpg", 1)], run) == (1, 0, 1)  # re-indexed after a change
    conn = store.db.conn
    assert conn.execute("SELECT count(*) FROM photos").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM faces").fetchone()[0] == 2
    emb = next(store.iter_faces())["embedding"]
    assert emb.dtype == np.float32 and emb.shape == (512,)
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        conn.execute("INSERT INTO faces (photo_id, face_index, x1, y1, x2, y2, score, landmarks, embedding, model) "
                     "VALUES (999, 0, 0, 0, 1, 1, 1, '[]', x'00', 'm')")
    conn.execute("DELETE FROM photos WHERE path = '/a.jpg'")  # faces go with their photo
    assert conn.execute("SELECT count(*) FROM faces").fetchone()[0] == 1


def test_failed_write_leaves_nothing_half_done(tmp_path):
    store = Store(str(tmp_path / "s.db"))
    run = store.start_run(str(tmp_path), {})
    bad = result("/bad.jpg")
    bad.status = "bogus"  # violates the CHECK constraint after /ok.jpg was written in the same batch
    with pytest.raises(sqlite3.IntegrityError):
        store.write_results([result("/ok.jpg"), bad], run)
    assert store.db.execute("SELECT count(*) FROM photos").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 0


def test_an_interrupted_run_is_recorded_even_when_ctrl_c_left_a_write_open(tmp_path):
    """Ctrl-C between a write's BEGIN and the block that rolls it back leaves a transaction
    open; the run's end is still recorded, and the half-done write is not."""
    store = Store(str(tmp_path / "s.db"))
    run = store.start_run(str(tmp_path), {})
    assert store.write_results([result("/a.jpg")], run) == (1, 0, 1)
    store.db.conn.execute("BEGIN")  # where the interrupt struck
    store.db.conn.execute("INSERT INTO index_runs (root, started_at, status) VALUES ('/x', 'now', 'running')")
    store.finish_run(run, "interrupted", {"photos_indexed": 1}, "stopped by the user")
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT id, status, photos_indexed FROM index_runs").fetchall() == [(run, "interrupted", 1)]
        assert conn.execute("SELECT count(*) FROM photos").fetchone()[0] == 1


def test_schema_keeps_names_unique_vocabularies_closed_and_counts_vector_changes(tmp_path):
    path = str(tmp_path / "s.db")
    conn = sqlite3.connect(path)  # a library written before names were unique: two people named alike
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for version, name, sql in MIGRATIONS[:5]:
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", [version, name])
    conn.executemany("INSERT INTO people (name, name_source, created_at, updated_at) VALUES (?, 'user', 'x', 'x')",
                     [("Ann Lee",), ("ann lee",), ("Bo",)])
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert [p.name for p in (store.person(i) for i in (1, 2, 3))] == ["Ann Lee", "ann lee (2)", "Bo"]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store.update_person(3, name="ANN LEE")
    run = store.start_run(str(tmp_path), {})
    store.write_results([result("/a.jpg", 2)], run)
    with pytest.raises(sqlite3.IntegrityError, match="assigned_by"):
        store.set_faces([(1, 1, "somebody", None, 1)])
    store.set_faces([(1, 1, "user", None, 1)])
    assert store.face_states([1])[0].assigned_by == "user"
    top, changed = store.faces_changed("m")
    store.replace_embeddings([(1, None, np.zeros(512, np.float32), None, None)], "m")
    assert store.faces_changed("m") == (top, changed + 1)  # the search index must be rebuilt
    store.db.execute("DELETE FROM photos")
    assert store.faces_changed("m")[1] == changed + 3  # and after deletions
    # the view of faces of present photos
    assert store.db.execute("SELECT count(*) FROM present_faces").fetchone()[0] == 0


def test_a_file_that_is_not_a_photoface_library_is_never_changed(tmp_path, capsys):
    import hashlib
    import shutil

    from conftest import PHOTOS
    from photoface.cli import main

    other = tmp_path / "catalogue.db"  # another program's SQLite file (a digiKam catalogue, say)
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE Images (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    photo = tmp_path / "victim.jpg"
    shutil.copy(PHOTOS / "obama.jpg", photo)
    folder = tmp_path / "photos"
    folder.mkdir()
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (other, photo)}
    for args, words in ((["status", "--db", str(other)], "has the tables Images"),
                        (["index", str(folder), "--db", str(other)], "has the tables Images"),
                        (["index", str(folder), "--db", str(photo)], "is not an SQLite file"),
                        (["name", "1", "X", "--db", str(photo)], "is not an SQLite file")):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "not a photoface database" in err and words in err, (args, err)
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (other, photo)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalogue.db", "photos", "victim.jpg"]  # no lock files
    empty = tmp_path / "empty.db"
    empty.touch()
    Store(str(empty)).close()  # an empty file, as `touch` leaves it, becomes a library
    Store(str(empty)).close()


def test_upgrading_a_library_that_rebuilds_people_keeps_every_reference(tmp_path, monkeypatch):
    """Schema 10 rebuilds the people table (a new name source): faces keep their people,
    rejections theirs, and foreign keys are on again afterwards."""
    from photoface.db import base

    path = str(tmp_path / "s.db")
    with monkeypatch.context() as m:  # a library written by the photoface of schema 9
        m.setattr(base, "MIGRATIONS", [mig for mig in MIGRATIONS if mig[0] <= 9])
        m.setattr(base, "SCHEMA_VERSION", 9)
        old = Store(path)
        old.write_results([result("/a.jpg", 2)], old.start_run(str(tmp_path), {}))
        with old.atomic():
            pid = old.create_person("Ann", "user")
            old.set_faces([(1, pid, "user", None, 1)])
            old.add_rejection(2, pid)
        assert old.schema_version == 9
        old.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.face_states([1])[0].person_id == pid and (2, pid) in store.rejections()
    bo = store.create_person("Bo", "tags")  # the new name source
    assert store.person(bo).name_source == "tags"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        store.create_person("Cy", "rumour")
