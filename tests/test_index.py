"""photoface index end to end, with the real MTCNN and FaceNet on real photos (in-process scheduler)."""
import hashlib
import os
import shutil
import sqlite3

import numpy as np
import pytest

from photoface import api, parallel
from photoface.config import SAME_PERSON_DISTANCE, Settings
from photoface.db import Store
from photoface.errors import DeviceError, InputError

from conftest import GROUP, MANIFEST, PHOTOS, make_bad_files

SETTINGS = Settings(device="cpu")


def index(folder, db, **kw):
    return api.index(str(folder), str(db), scheduler="sync", settings=kw.pop("settings", SETTINGS), **kw)


@pytest.fixture(scope="module")
def indexed(library, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "library.db"
    summary = index(library, db)
    return library, db, summary


def faces_by_photo(db):
    store = Store(str(db))
    out = {}
    for f in store.iter_faces():
        out.setdefault(f["path"], []).append(f)
    store.close()
    return out


def test_every_face_in_the_library_is_found(indexed, library_faces):
    library, db, summary = indexed
    assert summary.photos_failed == 0 and summary.errors == []
    assert summary.photos_indexed == summary.photos_seen == len(MANIFEST) + 3
    assert summary.faces_found == library_faces
    found = {os.path.relpath(p, library): len(fs) for p, fs in faces_by_photo(db).items()}
    for name, info in MANIFEST.items():
        assert found.get(f"photos/{name}", 0) == info["faces"] + info.get("false_detections", 0), name
    assert found["events/2019/group.jpg"] == 3
    assert found["events/rotated_exif.jpg"] == 1
    assert found["big/huge_group.jpg"] == 3


def test_same_person_closer_than_different_people(indexed):
    library, db, _ = indexed
    faces = faces_by_photo(db)
    emb, who = [], []
    for name, info in MANIFEST.items():
        # the photo's real faces: its most confident ones (not the known false detections)
        found = sorted(faces.get(str(library / "photos" / name), []), key=lambda f: -f["score"])
        for f in found[:info["faces"]]:
            emb.append(f["embedding"])
            who.append(info["person"])
    emb = np.stack(emb)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    same = np.array([[a == b for b in who] for a in who])
    off_diag = ~np.eye(len(who), dtype=bool)
    worst_same = dist[same & off_diag].max()
    best_diff = dist[~same].min()
    assert worst_same < SAME_PERSON_DISTANCE < best_diff, (worst_same, best_diff)


def test_group_photo_faces_match_their_people(indexed):
    """Faces composed into one photo are matched to the source photos' faces, left to right."""
    library, db, _ = indexed
    faces = faces_by_photo(db)
    group = sorted(faces[str(library / "events/2019/group.jpg")], key=lambda f: f["x1"])
    for face, name in zip(group, GROUP):
        source = faces[str(library / "photos" / name)][0]["embedding"]
        assert np.linalg.norm(face["embedding"] - source) < 0.6


def test_boxes_are_in_original_pixels(indexed):
    """A 4x upscaled copy, decoded at reduced size, stores boxes 4x those of the small photo."""
    library, db, _ = indexed
    faces = faces_by_photo(db)
    small = sorted(faces[str(library / "events/2019/group.jpg")], key=lambda f: f["x1"])
    big = sorted(faces[str(library / "big/huge_group.jpg")], key=lambda f: f["x1"])
    for s, b in zip(small, big):
        for key in ("x1", "y1", "x2", "y2"):
            assert b[key] == pytest.approx(4 * s[key], abs=0.08 * 4 * (s["x2"] - s["x1"]))
        marks_s, marks_b = np.array(s["landmarks"]), np.array(b["landmarks"])
        assert np.abs(marks_b - 4 * marks_s).max() < 0.1 * 4 * (s["x2"] - s["x1"])


def test_exif_rotated_photo_matches_upright(indexed):
    library, db, _ = indexed
    faces = faces_by_photo(db)
    rotated = faces[str(library / "events/rotated_exif.jpg")][0]
    upright = faces[str(library / "photos/obama2.jpg")][0]
    # the same face in the same place (JPEG re-encoding moves MTCNN's box by a few % of
    # the face; a wrongly applied orientation would move it by hundreds of pixels)
    size = upright["x2"] - upright["x1"]
    assert abs(rotated["x1"] - upright["x1"]) < 0.1 * size and abs(rotated["y1"] - upright["y1"]) < 0.1 * size
    assert np.linalg.norm(rotated["embedding"] - upright["embedding"]) < 0.3
    conn = sqlite3.connect(db)
    w, h = conn.execute("SELECT width, height FROM photos WHERE path LIKE '%rotated_exif.jpg'").fetchone()
    taken = conn.execute("SELECT taken_at FROM photos WHERE path LIKE '%/2019/group.jpg'").fetchone()[0]
    assert (w, h) == (626, 1200) and taken == "2019-07-04T18:30:00"


def test_landmarks_inside_their_box(indexed):
    _, db, _ = indexed
    for faces in faces_by_photo(db).values():
        for f in faces:
            left_eye, right_eye, nose, mouth_l, mouth_r = f["landmarks"]
            w = f["x2"] - f["x1"]
            for x, y in f["landmarks"]:
                assert f["x1"] - 0.1 * w <= x <= f["x2"] + 0.1 * w and f["y1"] - 0.1 * w <= y <= f["y2"] + 0.1 * w
            assert left_eye[1] < mouth_l[1] and right_eye[1] < mouth_r[1]  # eyes above the mouth


def test_second_run_reports_nothing_new(indexed):
    library, db, first = indexed
    again = index(library, db)
    assert (again.photos_new, again.photos_changed, again.photos_indexed, again.photos_failed) == (0, 0, 0, 0)
    assert again.photos_unchanged == first.photos_seen
    assert Store(str(db)).counts()["faces"] == first.faces_found


def test_incremental_new_changed_moved_deleted(library, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(library / "photos", lib)
    db = tmp_path / "inc.db"
    first = index(lib, db)
    before = {f["path"]: f["id"] for fs in faces_by_photo(db).values() for f in fs}

    shutil.copy(library / "events/2019/group.jpg", lib / "new_group.jpg")  # new
    (lib / "sub").mkdir()
    os.rename(lib / "biden.jpg", lib / "sub" / "renamed_biden.jpg")  # moved + renamed
    os.remove(lib / "obama3.jpg")  # deleted
    shutil.copy(library / "photos/astronaut.jpg", lib / "obama.jpg")  # changed content, same name
    second = index(lib, db)
    assert second.photos_new == 1 and second.photos_moved == 1 and second.photos_missing == 1
    assert second.photos_changed == 1 and second.photos_indexed == 2
    assert second.faces_found == 3 + 1

    conn = sqlite3.connect(db)
    status = dict(conn.execute("SELECT path, status FROM photos").fetchall())
    assert status[str(lib / "obama3.jpg")] == "missing"
    assert status[str(lib / "sub" / "renamed_biden.jpg")] == "indexed"
    assert str(lib / "biden.jpg") not in status
    # the moved photo kept its face rows (same ids): nothing was recomputed
    moved_ids = [f["id"] for f in faces_by_photo(db)[str(lib / "sub" / "renamed_biden.jpg")]]
    assert moved_ids == [before[str(lib / "biden.jpg")]]
    counts = Store(str(db)).counts()
    assert counts["photos"] == first.photos_seen + 1 and counts["missing"] == 1

    os.rename(lib / "sub" / "renamed_biden.jpg", lib / "biden.jpg")  # and back again
    third = index(lib, db)
    assert (third.photos_moved, third.photos_indexed) == (1, 0)


def test_a_file_whose_time_changed_but_not_its_content_keeps_its_faces(library, tmp_path):
    """A new modification time alone (a backup restored, a sync tool, `touch`) is not a
    change: the photo is not detected again, its faces keep their ids and their person, and
    the new time is recorded; a change of content at the same size is indexed again."""
    from photoface.db import open_store

    lib = tmp_path / "lib"
    shutil.copytree(library / "photos", lib)
    db = tmp_path / "touch.db"
    first = index(lib, db)
    api.cluster(str(db))
    before = {f["path"]: f["id"] for fs in faces_by_photo(db).values() for f in fs}
    with sqlite3.connect(db) as con:
        people = dict(con.execute("SELECT id, person_id FROM faces").fetchall())
    touched = lib / "obama.jpg"
    os.utime(touched, (1_600_000_000, 1_600_000_000))
    second = index(lib, db)
    assert (second.photos_changed, second.photos_indexed, second.photos_unchanged) == (0, 0, first.photos_seen)
    assert {f["path"]: f["id"] for fs in faces_by_photo(db).values() for f in fs} == before
    with sqlite3.connect(db) as con:
        assert dict(con.execute("SELECT id, person_id FROM faces").fetchall()) == people
        (mtime,) = con.execute("SELECT mtime FROM photos WHERE path = ?", [str(touched)]).fetchone()
    assert mtime == os.stat(touched).st_mtime
    assert index(lib, db).photos_unchanged == first.photos_seen

    data = bytearray(touched.read_bytes())  # the same size, one byte of the picture changed
    data[len(data) // 2] ^= 0x01
    touched.write_bytes(bytes(data))
    third = index(lib, db)
    assert (third.photos_changed, third.photos_indexed) == (1, 1)
    with open_store(str(db)) as store:
        assert store.indexed_sha256([str(touched)])[str(touched)] == hashlib.sha256(bytes(data)).hexdigest()


def test_bad_files_are_recorded_and_skipped(tmp_path):
    folder = tmp_path / "bad"
    expected = make_bad_files(folder)
    shutil.copy(os.path.join(os.path.dirname(__file__), "data/photos/astronaut.jpg"), folder / "good.jpg")
    odd = os.fsdecode(b"caf\xe9 \xff photo.jpg")  # a Latin-1 name: not valid UTF-8
    shutil.copy(folder / "good.jpg", os.path.join(folder, odd))
    (folder / "unicode ünïcødé 😀.jpg").write_bytes((folder / "good.jpg").read_bytes())
    summary = index(folder, tmp_path / "bad.db")
    assert summary.photos_seen == len(expected) + 3
    assert summary.photos_failed == len(expected) and summary.photos_indexed == 3
    assert summary.faces_found == 3
    conn = sqlite3.connect(tmp_path / "bad.db")
    rows = {os.path.basename(p): (s, e) for p, s, e in conn.execute("SELECT path, status, error FROM photos")}
    for name, words in expected.items():
        assert rows[name][0] == "failed" and words in rows[name][1], (name, rows[name])
    raw = conn.execute("SELECT path, path_bytes FROM photos WHERE path_bytes IS NOT NULL").fetchall()
    assert len(raw) == 1 and os.fsdecode(raw[0][1]) == os.path.join(str(folder), odd)
    assert "readme.txt" not in rows


def test_file_vanishing_mid_run_is_recorded(pipeline_spec, tmp_path):
    from photoface.pipeline import index_files
    from photoface.types import WorkItem

    results = index_files([WorkItem(str(tmp_path / "gone.jpg"), 10, 0.0)], pipeline_spec)
    assert results[0].status == "failed" and "vanished" in results[0].error


def test_read_ahead_keeps_each_photo_with_its_own_faces(pipeline_spec, tmp_path):
    """A partition's next photo is read and decoded while the current one is detected: the
    results stay in the partition's order, each with its own size, hash and faces, a
    failed file (corrupt, vanished) among them, and each photo's faces equal those found
    when it is indexed alone."""
    import hashlib

    from photoface.pipeline import detect_files
    from photoface.types import WorkItem

    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    names = ["obama.jpg", "corrupt.jpg", "astronaut.jpg", "gone.jpg", "chelsea_cat.jpg", "biden.jpg"]
    paths = [str(PHOTOS / n) if (PHOTOS / n).exists() else str(tmp_path / n) for n in names]
    items = [WorkItem(p, 0, 0.0) for p in paths]
    together = detect_files(items, pipeline_spec)
    assert [os.path.basename(r.path) for r in together.results] == names
    assert [r.status for r in together.results] == ["indexed", "failed", "indexed", "failed", "indexed", "indexed"]
    assert "vanished" in together.results[3].error
    for i, (path, result) in enumerate(zip(paths, together.results)):
        if result.status != "indexed":
            continue
        assert result.sha256 == hashlib.sha256(open(path, "rb").read()).hexdigest()
        alone = detect_files([WorkItem(path, 0, 0.0)], pipeline_spec)
        mine = [d for d, owner in zip(together.detections, together.owners) if owner == i]
        assert mine == alone.detections, names[i]
    assert sum(o == 0 for o in together.owners) == 1 and sum(o == 4 for o in together.owners) == 0  # the cat


def test_faces_embedded_behind_detection_stay_with_their_partition(pipeline_spec, monkeypatch):
    """In one process a partition's faces are embedded on a second thread while the next
    partition is detected: the partitions come back in order, each equal to indexing it
    alone; a model failure while embedding stops the run with that error; a run stopped
    early embeds nothing more."""
    from photoface.errors import ModelError
    from photoface.pipeline import index_files
    from photoface.types import WorkItem

    names = ["obama.jpg", "astronaut.jpg", "biden.jpg", "chelsea_cat.jpg", "obama2.jpg"]
    items = [WorkItem(str(PHOTOS / n), 0, 0.0) for n in names]
    behind = list(parallel.run(items, pipeline_spec, "sync", partition_size=2))
    assert [[os.path.basename(r.path) for r in part] for part in behind] == [names[0:2], names[2:4], names[4:]]
    for part, got in zip(parallel.partitions(items, 2), behind):
        alone = index_files(part, pipeline_spec)
        assert [len(r.faces) for r in got] == [len(r.faces) for r in alone]
        for mine, theirs in zip(got, alone):
            for a, b in zip(mine.faces, theirs.faces):
                assert a.detection == b.detection and np.array_equal(a.embedding, b.embedding)
    assert sum(len(r.faces) for part in behind for r in part) >= 4

    calls = []
    real = parallel.embed_detected

    def failing(part, spec):
        calls.append(len(part.results))
        if len(calls) == 2:
            raise ModelError("FaceNet failed")
        return real(part, spec)

    monkeypatch.setattr(parallel, "embed_detected", failing)
    with pytest.raises(ModelError, match="FaceNet failed"):
        list(parallel.run(items, pipeline_spec, "sync", partition_size=2))
    calls.clear()
    run = parallel.run(items, pipeline_spec, "sync", partition_size=1)
    first = next(run)
    run.close()
    assert [os.path.basename(r.path) for r in first] == names[:1] and len(calls) <= 2


def test_detector_leaves_cores_to_facenet_once_facenet_is_the_longer_stage(pipeline_spec, monkeypatch):
    """In one process, while FaceNet keeps up the detector keeps every core; once waiting for
    a partition's FaceNet takes longer than a share of detecting the next, the detector runs
    on half the cores for the rest of the job (not on one core), and the faces are the same
    as indexing each partition alone."""
    import time

    from photoface.pipeline import index_files
    from photoface.types import WorkItem

    names = ["obama.jpg", "astronaut.jpg", "biden.jpg", "chelsea_cat.jpg", "obama2.jpg"]
    items = [WorkItem(str(PHOTOS / n), 0, 0.0) for n in names]
    threads = []
    detect, embed = parallel.detect_files, parallel.embed_detected

    def recording(part, spec):
        threads.append(spec.detector.threads)
        time.sleep(0.3)  # detection the longer stage whatever the machine's load (FaceNet: one photo's faces)
        return detect(part, spec)

    monkeypatch.setattr(parallel, "detect_files", recording)
    list(parallel.run(items, pipeline_spec, "sync", partition_size=1))
    assert threads == [pipeline_spec.detector.threads] * len(names)  # FaceNet keeps up: nothing changes

    def slow(part, spec):
        time.sleep(2.0)  # FaceNet far slower than detecting a photo
        return embed(part, spec)

    monkeypatch.setattr(parallel, "embed_detected", slow)
    threads.clear()
    got = list(parallel.run(items, pipeline_spec, "sync", partition_size=1))
    cores = pipeline_spec.threads or parallel._cores()
    fewer = cores // 2 if cores >= 2 else pipeline_spec.detector.threads
    # the first wait (for the first partition, while the third is detected) is not judged: it
    # also prepares FaceNet; after the second, fewer threads
    assert threads[:3] == [pipeline_spec.detector.threads] * 3 and threads[3:] == [fewer] * (len(names) - 3)
    for part, mine in zip(parallel.partitions(items, 1), got):
        alone = index_files(part, pipeline_spec)
        assert [f.detection for r in mine for f in r.faces] == [f.detection for r in alone for f in r.faces]
        for a, b in zip([f for r in mine for f in r.faces], [f for r in alone for f in r.faces]):
            assert np.array_equal(a.embedding, b.embedding)


def test_gpu_that_is_not_there_is_a_clear_error(tmp_path, monkeypatch):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    from photoface.models import runtime

    monkeypatch.setattr(runtime, "_configured", None)
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(os.path.join(os.path.dirname(__file__), "data/photos/astronaut.jpg"), folder)
    with pytest.raises(DeviceError, match="no GPU"):
        index(folder, tmp_path / "gpu.db", settings=Settings(device="gpu"))
    assert not (tmp_path / "gpu.db").exists()  # refused before anything started or was written


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        api.index(str(tmp_path / "nope"), str(tmp_path / "x.db"))
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder"):
        api.index(str(tmp_path / "file.jpg"), str(tmp_path / "x.db"))
    with pytest.raises(InputError, match="scheduler"):
        api.index(str(tmp_path), str(tmp_path / "x.db"), scheduler="bogus")


def test_unreadable_file_is_recorded_and_the_rest_indexed(tmp_path, monkeypatch):
    """An unreadable photo beside a readable one. chmod cannot lock root out (CI runs as
    root), so the worker's read of that one file is refused the way the OS refuses it."""
    from photoface import pipeline

    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(os.path.join(os.path.dirname(__file__), "data/photos/astronaut.jpg"), folder / "secret.jpg")
    shutil.copy(os.path.join(os.path.dirname(__file__), "data/photos/biden.jpg"), folder / "open.jpg")
    secret = str(folder / "secret.jpg")
    if os.geteuid() != 0:
        os.chmod(secret, 0)
    else:
        real_open = open

        def os_like_open(path, *args, **kw):
            if os.fspath(path) == secret:
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, *args, **kw)

        monkeypatch.setattr(pipeline, "open", os_like_open, raising=False)
    summary = index(folder, tmp_path / "ro.db")
    assert (summary.photos_indexed, summary.photos_failed, summary.faces_found) == (1, 1, 1)
    row = sqlite3.connect(tmp_path / "ro.db").execute(
        "SELECT status, error FROM photos WHERE path = ?", [secret]).fetchone()
    assert row == ("failed", "unreadable: permission denied")


def test_auto_scheduler_runs_small_jobs_in_process_and_big_ones_on_a_cluster(tmp_path):
    # the break-even size: the time two workers save equals what starting them costs
    even = parallel.WORKER_STARTUP_S / (parallel.PHOTO_S * (1 - 1 / parallel.LOCAL_SPEEDUP))
    assert parallel.choose_scheduler("auto", int(even) - 1, cores=4) == "sync"
    assert parallel.choose_scheduler("auto", int(even) + 1, cores=4) == "local"
    # two cores: one process embedding behind detection was measured faster than two workers
    assert parallel.TWO_CORE_SPEEDUP < 1 and parallel.choose_scheduler("auto", 10**6, cores=2) == "sync"
    assert parallel.choose_scheduler("auto", int(even) + 1, cores=2, speedup=parallel.LOCAL_SPEEDUP) == "local"
    assert parallel.choose_scheduler("auto", 10**6, cores=1) == "sync"  # one core: nothing to share
    assert parallel.choose_scheduler("auto", 10**6, cores=8, speedup=0.9) == "sync"  # workers measured slower
    assert parallel.choose_scheduler("auto", 50, cores=4, startup_s=0.001) == "local"  # cheap start-up: sooner
    for asked in ("sync", "local", "tcp://example:8786"):  # a choice the user made stands
        assert parallel.choose_scheduler(asked, 1) == parallel.choose_scheduler(asked, 10**6) == asked
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(PHOTOS / "obama.jpg", folder / "a.jpg")
    small = api.index(str(folder), str(tmp_path / "a.db"), settings=SETTINGS)  # scheduler="auto"
    assert (small.scheduler, small.workers, small.photos_indexed, small.faces_found) == ("sync", 1, 1, 1)


def test_special_files_and_broken_links_are_recorded_never_opened(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    shutil.copy(PHOTOS / "obama.jpg", folder / "good.jpg")
    os.mkfifo(folder / "pipe.jpg")  # opening it would wait for a writer forever
    os.symlink("/dev/zero", folder / "zero.jpg")  # an endless file
    os.symlink(folder / "nowhere.jpg", folder / "gone.jpg")
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    os.symlink(folder / "nowhere.txt", folder / "notes.txt")  # not a photo's name: not ours to report
    db = str(tmp_path / "s.db")
    summary = api.index(str(folder), db, scheduler="sync", settings=SETTINGS)
    assert (summary.photos_seen, summary.photos_indexed, summary.photos_failed) == (5, 1, 4)
    rows = dict(sqlite3.connect(db).execute("SELECT path, error FROM photos WHERE status = 'failed'").fetchall())
    name = {os.path.basename(p): e for p, e in rows.items()}
    assert name == {"pipe.jpg": "not a regular file: a named pipe (FIFO)", "zero.jpg": "not a regular file: a device",
                    "gone.jpg": "a broken symbolic link (its target does not exist)",
                    "loop.jpg": "a symbolic link that loops"}
    assert {os.path.basename(p) for p, _ in summary.errors} == set(name)
    again = api.index(str(folder), db, scheduler="sync", settings=SETTINGS)
    assert (again.photos_unchanged, again.photos_failed, again.photos_missing) == (5, 0, 0)
    (folder / "gone.jpg").unlink()  # the broken link removed: that photo is missing, the rest unchanged
    third = api.index(str(folder), db, scheduler="sync", settings=SETTINGS)
    assert (third.photos_missing, third.photos_unchanged) == (1, 4)


def test_the_readme_layout_never_indexes_photoface_s_own_thumbnails(tmp_path):
    """`photoface index . --db ./photoface.db`, then browsing (thumbnails cut into
    photoface.db.thumbs/), then indexing again: the thumbnails are not photos."""
    from photoface.web import create_app

    folder = tmp_path / "Pictures"
    folder.mkdir()
    for name in ("obama.jpg", "obama3.jpg", "biden.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    db = str(folder / "photoface.db")
    first = api.index(str(folder), db, scheduler="sync", settings=SETTINGS)
    api.cluster(db)
    client = create_app(db).test_client()
    with sqlite3.connect(db) as conn:
        ids = conn.execute("SELECT id, photo_id FROM faces").fetchall()
    for face, photo in ids:
        assert client.get(f"/img/face/{face}.jpg").status_code == 200
        assert client.get(f"/img/photo/{photo}.jpg").status_code == 200
    assert len(list((folder / "photoface.db.thumbs").rglob("*.jpg"))) == 2 * len(ids)
    (folder / "albums.thumbs").mkdir()  # a folder of the user's that only looks like a cache: still walked
    shutil.copy(PHOTOS / "astronaut.jpg", folder / "albums.thumbs" / "astronaut.jpg")
    again = api.index(str(folder), db, scheduler="sync", settings=SETTINGS)
    assert (first.photos_seen, again.photos_seen, again.photos_indexed) == (3, 4, 1)
    with sqlite3.connect(db) as conn:
        assert not conn.execute("SELECT 1 FROM photos WHERE path LIKE '%photoface.db.thumbs%'").fetchone()


def test_a_library_stays_in_static_int8_or_out_of_it(tmp_path, monkeypatch):
    """A library indexed with --precision int8-static keeps embedding new photos in it under
    auto (its faces and the new ones comparable), and a library indexed in LiteRT's int8
    stays in that under auto even where auto would choose static int8 for a new library;
    an explicit precision of the other kind is one clear error, before anything is
    written."""
    from photoface.db import open_store

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTOS / "obama.jpg", folder)
    db = tmp_path / "static.db"
    index(folder, db, settings=Settings(embed_precision="int8-static"))
    shutil.copy(PHOTOS / "obama2.jpg", folder)
    index(folder, db)  # auto
    with open_store(str(db)) as store:
        assert store.embedding_precision() == "int8-static"
    assert api.status(str(db))["embedding_precision"] == "int8-static"
    with sqlite3.connect(db) as con:
        runs = con.execute("SELECT settings FROM index_runs ORDER BY id").fetchall()
        new = con.execute("SELECT f.embedding, f.x1, f.y1, f.x2, f.y2 FROM faces f JOIN photos p ON p.id = f.photo_id "
                          "WHERE p.path LIKE '%obama2.jpg'").fetchall()
    assert ['"precision": "int8-static"' in r[0] for r in runs] == [True, True]
    (direct,) = [f.embedding for f in api.embed_photos([str(folder / "obama2.jpg")],
                                                       Settings(embed_precision="int8-static"))[0].faces]
    assert len(new) == 1 and np.allclose(np.frombuffer(new[0][0], "<f4"), direct, atol=1e-6)
    # a query photo is embedded the library's way: the same photo finds its own face at
    # distance 0, not at the 0.04 between LiteRT's int8 and static int8
    (hit, *_) = api.search_face(str(db), str(folder / "obama2.jpg"))
    assert hit["path"].endswith("obama2.jpg") and hit["distance"] < 1e-3

    shutil.copy(PHOTOS / "biden.jpg", folder)
    with pytest.raises(InputError, match="embedded with --precision int8-static; index it with --precision auto"):
        index(folder, db, settings=Settings(embed_precision="int8"))
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM photos WHERE path LIKE '%biden.jpg'").fetchone()[0] == 0

    int8_db = tmp_path / "int8.db"
    index(folder, int8_db, settings=Settings(embed_precision="int8"))
    from photoface.models import facenet

    monkeypatch.setattr(facenet, "static_int8_faster", lambda: True)  # auto would pick static for a new library
    assert facenet.choose_precision("auto", "cpu") == "int8-static"
    shutil.copy(PHOTOS / "obama3.jpg", folder)
    index(folder, int8_db)  # auto
    with sqlite3.connect(int8_db) as con:
        runs = con.execute("SELECT settings FROM index_runs ORDER BY id").fetchall()
    assert ['"precision": "int8"' in r[0] for r in runs] == [True, True]
    with open_store(str(int8_db)) as store:
        assert store.embedding_precision() == "int8"
    shutil.copy(PHOTOS / "astronaut.jpg", folder)
    with pytest.raises(InputError, match="embedded with --precision int8; index it with --precision auto"):
        index(folder, int8_db, settings=Settings(embed_precision="int8-static"))

    # a library from before runs recorded their precision (before static int8 existed) is
    # of the other kind too
    with sqlite3.connect(int8_db) as con:
        con.execute("UPDATE index_runs SET settings = replace(settings, '\"precision\"', '\"was\"')")
    with open_store(str(int8_db)) as store:
        assert store.embedding_precision() is None
    with pytest.raises(InputError, match="embedded with a precision other than int8-static"):
        index(folder, int8_db, settings=Settings(embed_precision="int8-static"))
    index(folder, int8_db)  # auto: LiteRT's int8, like the faces already there
    with open_store(str(int8_db)) as store:
        assert store.embedding_precision() == "int8"
