"""The database's schema: every migration, in order. Each runs once, in one transaction;
never edit a released one, add the next."""
from __future__ import annotations

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
    (6, "present faces, unique names, vocabularies", """
CREATE VIEW present_faces AS SELECT f.*, p.path, p.path_bytes, p.kind, p.taken_at, p.mtime AS photo_mtime
    FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed';
UPDATE people SET name = name || ' (' || id || ')' WHERE name IS NOT NULL AND EXISTS (
    SELECT 1 FROM people q WHERE q.name = people.name COLLATE NOCASE AND q.id < people.id);
CREATE UNIQUE INDEX idx_people_name_unique ON people(name COLLATE NOCASE) WHERE name IS NOT NULL;
CREATE TRIGGER faces_assigned_by_insert BEFORE INSERT ON faces
    WHEN NEW.assigned_by IS NOT NULL AND NEW.assigned_by NOT IN ('user', 'cluster', 'assign')
    BEGIN SELECT RAISE(ABORT, 'faces.assigned_by must be user, cluster or assign'); END;
CREATE TRIGGER faces_assigned_by_update BEFORE UPDATE OF assigned_by ON faces
    WHEN NEW.assigned_by IS NOT NULL AND NEW.assigned_by NOT IN ('user', 'cluster', 'assign')
    BEGIN SELECT RAISE(ABORT, 'faces.assigned_by must be user, cluster or assign'); END;
UPDATE counters SET name = 'vectors_changed' WHERE name = 'faces_deleted';
DROP TRIGGER faces_deleted;
CREATE TRIGGER vectors_changed_on_delete AFTER DELETE ON faces
    BEGIN UPDATE counters SET value = value + 1 WHERE name = 'vectors_changed'; END
"""),
    (7, "changes waiting for a run to end", """
CREATE TABLE pending_changes (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('name', 'merge', 'move', 'split', 'reject', 'hide', 'undo')),
    args TEXT NOT NULL,
    applied_at TEXT,
    error TEXT
);
CREATE INDEX idx_pending_changes_waiting ON pending_changes(id) WHERE applied_at IS NULL
"""),
    (8, "new people and ignored faces may wait for a run too", """
CREATE TABLE pending_changes_8 (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('name', 'merge', 'move', 'split', 'reject', 'hide', 'undo',
                                           'new_person', 'ignore')),
    args TEXT NOT NULL,
    applied_at TEXT,
    error TEXT
);
INSERT INTO pending_changes_8 SELECT id, at, action, args, applied_at, error FROM pending_changes;
DROP TABLE pending_changes;
ALTER TABLE pending_changes_8 RENAME TO pending_changes;
CREATE INDEX idx_pending_changes_waiting ON pending_changes(id) WHERE applied_at IS NULL
"""),
    (9, "faces added by hand", """
ALTER TABLE faces ADD COLUMN source TEXT CHECK (source IS NULL OR source = 'manual')
"""),
    (10, "names read from the photos' face tags", """
CREATE TABLE people_10 (
    id INTEGER PRIMARY KEY,
    name TEXT,
    name_source TEXT CHECK (name_source IN ('user', 'gallery', 'classifier', 'tags')),
    name_confidence REAL,
    hidden INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO people_10 SELECT id, name, name_source, name_confidence, hidden, created_at, updated_at FROM people;
DROP TABLE people;
ALTER TABLE people_10 RENAME TO people;
CREATE INDEX idx_people_name ON people(name COLLATE NOCASE);
CREATE UNIQUE INDEX idx_people_name_unique ON people(name COLLATE NOCASE) WHERE name IS NOT NULL;
ALTER TABLE photos ADD COLUMN tags_signature TEXT;
CREATE TABLE tag_names (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    read_at TEXT NOT NULL
)
"""),
    (11, "calibrations learned from the user's names", """
CREATE TABLE calibrations (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    model TEXT NOT NULL,
    report TEXT NOT NULL,
    cluster_applies INTEGER NOT NULL,
    same_person_distance REAL,
    naming_distance REAL
);
CREATE INDEX idx_calibrations_model ON calibrations(model, id)
"""),
    (12, "a second descriptor of each face, for clustering", """
CREATE TABLE face_descriptors (
    face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    descriptor BLOB NOT NULL
)
"""),
    (13, "an index of the faces the user ignored, for counting the unknown ones", """
CREATE INDEX idx_faces_ignored ON faces(model) WHERE person_id IS NULL AND assigned_by = 'user'
"""),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
