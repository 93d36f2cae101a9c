"""Videos: sampled, faces linked into tracks with time ranges, clustered and searched like
photos, and annotated copies; on videos the tests make from the committed photos."""
from __future__ import annotations

import json
import shutil
import sqlite3

import cv2
import numpy as np
import pytest

from conftest import PHOTOS, make_video
from photoface import api
from photoface.cli import main
from photoface.config import Settings

FPS = 10.0
# (photo, seconds): Obama 0-3 s, Biden 3-5 s, an empty grey card 5-6 s, Eileen Collins 6-8 s
SEGMENTS = [("obama.jpg", 3.0), ("biden.jpg", 2.0), (None, 1.0), ("astronaut.jpg", 2.0)]
EVERY = 0.5


@pytest.fixture(scope="module")
def video_library(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    lib = root / "lib"
    (lib / "clips").mkdir(parents=True)
    frames = make_video(lib / "clips" / "clip.mp4", SEGMENTS, FPS)
    for name in ("obama2.jpg", "obama3.jpg"):
        shutil.copy(PHOTOS / name, lib / name)
    good = (lib / "clips" / "clip.mp4").read_bytes()
    (lib / "clips" / "truncated.mp4").write_bytes(good[:4000])
    (lib / "clips" / "notes.avi").write_text("not a video\n")
    db = root / "template.db"
    summary = api.index(str(lib), str(db), scheduler="sync", settings=Settings(video_every_s=EVERY))
    return lib, db, frames, summary


@pytest.fixture
def vlib(video_library, tmp_path):
    lib, template, frames, summary = video_library
    db = tmp_path / "v.db"
    src, dst = sqlite3.connect(template), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    return lib, str(db), frames


def _tracks(db: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT f.id, f.t_start, f.t_end, f.t, (SELECT count(*) FROM track_faces t WHERE t.face_id = f.id) "
        "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.kind = 'video' ORDER BY f.t_start").fetchall()
    conn.close()
    return rows


def test_video_faces_become_tracks_with_time_ranges(video_library):
    lib, db, frames, summary = video_library
    assert frames == 80
    conn = sqlite3.connect(db)
    kind, status, duration, fps, width, height, count = conn.execute(
        "SELECT kind, status, duration, fps, width, height, face_count FROM photos WHERE path LIKE '%clip.mp4'").fetchone()
    assert (kind, status, fps, width, height) == ("video", "indexed", FPS, 640, 360)
    assert duration == pytest.approx(8.0, abs=0.15)
    tracks = _tracks(str(db))
    # one track per appearance: three people, each seen on several samples, not one face per sample
    assert count == len(tracks) == 3
    expected = [(0.0, 3.0), (3.0, 5.0), (6.0, 8.0)]
    for (fid, start, end, t, reps), (lo, hi) in zip(tracks, expected):
        assert start == pytest.approx(lo, abs=0.01)  # seen from its first frame (a sample or a cut)
        assert hi - EVERY - 0.01 <= end < hi  # last seen on the last sample before it left
        assert start <= t <= end
        assert 1 <= reps <= 3
    # bad videos are recorded with a reason and skipped; nothing else is lost
    failed = dict(conn.execute("SELECT path, error FROM photos WHERE status = 'failed'").fetchall())
    assert {p.rsplit("/", 1)[1] for p in failed} == {"truncated.mp4", "notes.avi"}
    assert all("not a readable video" in e for e in failed.values())
    assert summary.photos_indexed == 3 and summary.photos_failed == 2 and summary.faces_found == 5


def test_tracks_cluster_name_and_search_with_time_ranges(vlib, capsys):
    lib, db, _ = vlib
    api.cluster(db)
    conn = sqlite3.connect(db)
    obama_track = _tracks(db)[0][0]
    person = conn.execute("SELECT person_id FROM faces WHERE id = ?", [obama_track]).fetchone()[0]
    assert person is not None, "the video's Obama track joins the photos of him"
    photos = {r[0].rsplit("/", 1)[1] for r in conn.execute(
        "SELECT p.path FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id = ?", [person])}
    assert photos == {"clip.mp4", "obama2.jpg", "obama3.jpg"}
    api.name(db, person, "Barack Obama")
    rows = api.search(db, ["Barack Obama"])
    video = next(r for r in rows if r["path"].endswith("clip.mp4"))
    assert video["kind"] == "video"
    assert [(a["start"], a["name"]) for a in video["appearances"]] == [(0.0, "Barack Obama")]
    assert 2.4 <= video["appearances"][0]["end"] < 3.0
    assert main(["search", "Barack Obama", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "clip.mp4  [0:00.0-0:02.5 Barack Obama]" in out


def test_annotate_writes_the_same_video_with_names(vlib, tmp_path):
    lib, db, frames = vlib
    api.cluster(db)
    person = sqlite3.connect(db).execute("SELECT person_id FROM faces WHERE id = ?", [_tracks(db)[0][0]]).fetchone()[0]
    api.name(db, person, "Barack Obama")
    out, labels = tmp_path / "tagged.mp4", tmp_path / "labels.jsonl"
    r = api.annotate(str(lib / "clips" / "clip.mp4"), str(out), db=db, every=5, labels=str(labels))
    assert r["frames"] == frames and r["fps"] == FPS and (r["width"], r["height"]) == (640, 360)
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    written = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        written.append(frame)
    cap.release()
    assert len(written) == frames
    assert written[0].shape == (360, 640, 3)
    per_frame = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [p["frame"] for p in per_frame] == list(range(frames))
    names = [[f["name"] for f in p["faces"]] for p in per_frame]
    assert all(n == ["Barack Obama"] for n in names[0:30])  # 0-3 s
    assert all(n == ["unknown"] for n in names[30:50])  # Biden: in the library but unnamed
    assert all(n == [] for n in names[50:60])  # the grey card: the cut drops the last shot's box
    assert all(n == ["unknown"] for n in names[60:80])
    # the box is drawn: the frame's pixels on the box edge are the label colour (green, BGR)
    box = per_frame[12]["faces"][0]["box"]
    x1, y1, y2 = round(box[0]), round(box[1]), round(box[3])
    edge = written[12][(y1 + y2) // 2, max(0, x1 - 1):x1 + 2].astype(int)
    assert (np.abs(edge - [60, 200, 60]).sum(axis=1) < 90).any(), edge
    cap = cv2.VideoCapture(str(lib / "clips" / "clip.mp4"))
    for _ in range(13):
        ok, original = cap.read()
    cap.release()
    assert np.abs(original.astype(int) - written[12].astype(int)).max() > 100


def test_annotate_refuses_bad_arguments(vlib, tmp_path, capsys):
    lib, db, _ = vlib
    clip = str(lib / "clips" / "clip.mp4")
    assert main(["annotate", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")]) != 0
    assert "video not found" in capsys.readouterr().err
    assert main(["annotate", clip, "-o", clip]) != 0
    assert "new file" in capsys.readouterr().err
    assert main(["annotate", str(lib / "clips" / "truncated.mp4"), "-o", str(tmp_path / "o.mp4")]) != 0
    assert "not a readable video" in capsys.readouterr().err
    assert main(["annotate", clip, "-o", str(tmp_path / "missing" / "o.mp4")]) != 0
    assert capsys.readouterr().err.startswith("photoface: error:")


def test_sampling_interval_from_the_command_line(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    make_video(folder / "short.avi", [("obama.jpg", 2.0)], FPS, fourcc="MJPG")
    db = str(tmp_path / "v.db")
    assert main(["index", str(folder), "--db", db, "--video-every", "0.3", "--scene-cut", "0", "--no-progress"]) == 0
    start, end, samples = sqlite3.connect(db).execute(
        "SELECT f.t_start, f.t_end, (SELECT count(*) FROM track_faces t WHERE t.face_id = f.id) FROM faces f").fetchone()
    assert (start, end) == (0.0, 1.8)  # samples at 0, 0.3, ..., 1.8 s (3 frames apart): one track
    assert samples == 3
    assert main(["index", str(folder), "--db", db, "--video-every", "0"]) != 0


def test_reindex_skips_an_unchanged_video(vlib):
    lib, db, _ = vlib
    before = _tracks(db)
    summary = api.index(str(lib), db, scheduler="sync")
    assert summary.photos_indexed == 0 and summary.photos_unchanged == 5  # failed files are not retried
    assert _tracks(db) == before


def test_face_track_thumbnails_come_from_their_frame(vlib):
    from PIL import Image
    import io

    lib, db, _ = vlib
    for fid, start, end, t, _ in _tracks(db):
        img = Image.open(io.BytesIO(api.face_image(db, fid)))
        assert img.size[0] == img.size[1] > 0
    photo_id = sqlite3.connect(db).execute("SELECT id FROM photos WHERE kind = 'video'").fetchone()[0]
    assert Image.open(io.BytesIO(api.photo_image(db, photo_id))).size == (640, 360)
    # the Obama track's thumbnail is a face, not the grey card: it has detail
    obama = np.asarray(Image.open(io.BytesIO(api.face_image(db, _tracks(db)[0][0]))).convert("L"), float)
    assert obama.std() > 20


def test_older_embeddings_of_tracks_are_redone_from_their_frames(vlib):
    from photoface.config import FACENET_MODEL, LEGACY_FACENET_MODELS

    lib, db, _ = vlib
    conn = sqlite3.connect(db)
    before = {fid: np.frombuffer(e, "<f4").copy() for fid, e in conn.execute(
        "SELECT f.id, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.kind = 'video'")}
    reps_before = {rid: np.frombuffer(e, "<f4").copy() for rid, e in conn.execute("SELECT id, embedding FROM track_faces")}
    noise = np.ones(512, "<f4") / np.sqrt(512)
    conn.execute("UPDATE faces SET model = ?, embedding = ?", [LEGACY_FACENET_MODELS[0], noise.tobytes()])
    conn.execute("UPDATE track_faces SET embedding = ?", [noise.tobytes()])
    conn.commit()
    s = api.index(str(lib), db, scheduler="sync", settings=Settings(video_every_s=EVERY))
    assert s.reembedded["failed"] == 0 and s.reembedded["reembedded"] == s.reembedded["faces"]
    for fid, e, model in conn.execute("SELECT f.id, f.embedding, f.model FROM faces f WHERE f.id IN (%s)"
                                      % ",".join(map(str, before))):
        assert model == FACENET_MODEL
        # a track is now the mean of its (up to 3) representatives, not of every sample: close, not equal
        assert np.linalg.norm(np.frombuffer(e, "<f4") - before[fid]) < 0.3
    for rid, e in conn.execute("SELECT id, embedding FROM track_faces"):
        assert np.linalg.norm(np.frombuffer(e, "<f4") - reps_before[rid]) < 1e-3  # the same frame and box
    conn.close()
    api.cluster(db)
    assert api.search(db, [api.people(db)[0].id])  # the track joined a person again


def test_video_page_shows_each_track_at_its_own_frame_and_times(vlib):
    """A video's page and its search results show each face track on the frame its box was
    taken from, with when it is on screen; never every box on the first frame."""
    import io

    from PIL import Image

    from photoface.web import create_app

    lib, db, _ = vlib
    api.cluster(db)
    tracks = _tracks(db)
    conn = sqlite3.connect(db)
    video = conn.execute("SELECT id FROM photos WHERE kind = 'video'").fetchone()[0]
    obama = conn.execute("SELECT person_id FROM faces WHERE id = ?", [tracks[0][0]]).fetchone()[0]
    api.name(db, obama, "Barack Obama")
    client = create_app(db).test_client()
    page = client.get(f"/photo/{video}").get_data(as_text=True)
    assert f"/img/photo/{video}.jpg" not in page  # no boxes from different times on one frame
    frames = []
    for fid, start, end, t, _ in tracks:
        assert f'id="track-{fid}"' in page and f"/img/frame/{fid}.jpg" in page
        assert f"on screen {int(start // 60)}:{start % 60:04.1f}–{int(end // 60)}:{end % 60:04.1f}" in page
        resp = client.get(f"/img/frame/{fid}.jpg")
        assert resp.status_code == 200
        frames.append(np.asarray(Image.open(io.BytesIO(resp.data)).convert("L"), float))
    assert frames[0].shape == (360, 640)
    # each frame is its own moment: Obama's, Biden's and Collins's frames differ
    assert min(np.abs(a - b).mean() for i, a in enumerate(frames) for b in frames[i + 1:]) > 10
    results = client.get("/search?people=Barack+Obama").get_data(as_text=True)
    assert f"/img/frame/{tracks[0][0]}.jpg" in results and f"#track-{tracks[0][0]}" in results
    assert "video: 0:00.0–0:02.5" in results
    still = conn.execute("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.kind = 'photo'").fetchone()
    assert client.get(f"/img/frame/{still[0]}.jpg").status_code == 404  # a photo's face has no frame
