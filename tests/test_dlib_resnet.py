"""dlib's face recognition ResNet read from its file and run in ONNX Runtime
(models/dlib_resnet.py), its chips aligned by MTCNN's landmarks (align.dlib_chip), and the
descriptors stored and used by clustering.

tests/data/dlib_reference.npz holds, for four committed photos, dlib's own aligned chips
and descriptors made by dlib 20.0.1 itself (benchmarks/dlib_reference.py): the chips'
descriptors must agree to float precision, the descriptors of photoface's own chips within
what separates a person from others."""
from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from conftest import DATA
from photoface import api
from photoface.align import dlib_chip, similarity_transform
from photoface.config import DLIB_MODEL, FACENET_MODEL
from photoface.db import open_store
from photoface.decode import decode_image
from photoface.models import dlib_resnet
from photoface.models.detector import MTCNNDetector

REFERENCE = np.load(DATA / "dlib_reference.npz")


@pytest.fixture(scope="module")
def net():
    return dlib_resnet.DlibResNet(threads=1)


def test_the_network_read_from_dlibs_file_gives_dlibs_descriptors(net):
    got = net.describe(REFERENCE["chips"])
    want = REFERENCE["chip_descriptors"]
    assert got.shape == (4, 128)
    assert np.abs(got - want).max() < 1e-4
    # and the four are four different descriptors (Obama, Biden, Collins, a girl)
    d = np.linalg.norm(want[:, None] - want[None], axis=2)
    assert d[np.triu_indices(4, 1)].min() > 0.6


def test_a_batch_gives_what_faces_one_by_one_give(net):
    one = np.concatenate([net.describe(REFERENCE["chips"][i:i + 1]) for i in range(4)])
    assert np.abs(one - net.describe(REFERENCE["chips"], batch_size=3)).max() < 1e-5


def test_chips_aligned_by_mtcnns_landmarks_describe_the_same_face(net):
    """photoface's chip of each photo's face lies far nearer dlib's own descriptor of that
    face (its shape predictor, its chip) than any other person's."""
    detector = MTCNNDetector(threads=1)
    ours = []
    for path, box in zip(REFERENCE["paths"], REFERENCE["boxes"]):
        rgb = decode_image((DATA / str(path)).read_bytes()).rgb
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        face = min(detector.detect(rgb), key=lambda d: np.hypot((d.x1 + d.x2) / 2 - centre[0],
                                                                (d.y1 + d.y2) / 2 - centre[1]))
        ours.append(dlib_chip(rgb, face))
    got = net.describe(np.stack(ours))
    d = np.linalg.norm(got[:, None] - REFERENCE["photo_descriptors"][None], axis=2)
    assert np.all(np.diag(d) < 0.3), d
    assert np.all(np.diag(d) < 0.5 * np.min(d + np.eye(4) * 9, axis=1)), d


def test_similarity_transform_recovers_a_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity_transform(src, src @ rot.T + shift)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)


def test_the_centre_ships_and_fits():
    centre = dlib_resnet.load_centre()
    assert centre.shape == (128,) and 0.5 < np.linalg.norm(centre) < 1.0


@pytest.mark.slow
def test_index_stores_descriptors_clusters_on_both_and_fills_an_older_library(tmp_path):
    """Every indexed face gets its descriptor; clustering then runs on FaceNet and dlib
    fused (640 numbers a face); a library indexed without descriptors clusters on FaceNet
    alone until the next `photoface index` fills them in, changing no name."""
    photos = tmp_path / "photos"
    for who in ("Family1-Dad", "Family1-Mom", "Family1-Son"):
        shutil.copytree(DATA / "family" / who, photos / who)
    db = tmp_path / "lib.db"
    api.index(str(photos), str(db), scheduler="sync", settings=api.Settings(describe=False))
    with open_store(str(db)) as store:
        table = store.face_table(FACENET_MODEL)
        assert table["C"] is table["X"] and table["X"].shape[1] == 512
    api.cluster(str(db))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE people SET name = 'Dad' WHERE id = (SELECT person_id FROM faces f JOIN photos p "
                     "ON p.id = f.photo_id WHERE p.path LIKE '%Family1-Dad%' LIMIT 1)")
        n = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
        assert n >= 6 and conn.execute("SELECT count(*) FROM face_descriptors").fetchone()[0] == 0
    summary = api.index(str(photos), str(db), scheduler="sync")
    assert summary.described["described"] == summary.described["faces"] == n
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*), min(model), min(length(descriptor)) FROM face_descriptors").fetchone()
        assert rows == (n, DLIB_MODEL, 512)
    with open_store(str(db)) as store:
        table = store.face_table(FACENET_MODEL)
    assert table["C"].shape == (n, 640)
    assert np.allclose(np.linalg.norm(table["C"], axis=1), 1.0, atol=1e-5)
    api.cluster(str(db))
    with sqlite3.connect(db) as conn:
        people = dict(conn.execute("SELECT p.path, pe.name FROM faces f JOIN photos p ON p.id = f.photo_id "
                                   "LEFT JOIN people pe ON pe.id = f.person_id").fetchall())
    assert {name for path, name in people.items() if "Family1-Dad" in path} == {"Dad"}
    # a photo added later gets its descriptor in the main pass, not the fill-in
    shutil.copy(DATA / "family" / "Family1-Daughter" / "Family1-Daughter1.jpg", photos / "new.jpg")
    summary = api.index(str(photos), str(db), scheduler="sync")
    assert summary.described is None and summary.faces_found == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM face_descriptors").fetchone()[0] == n + 1


def test_clustering_runs_on_the_fused_vectors_not_facenets_alone():
    """A library's clusters come from ``C`` (FaceNet and dlib fused) wherever it differs
    from ``X``: here X holds four faces of two people that FaceNet alone would pair the
    other way round."""
    from photoface.config import ClusterSettings
    from photoface.organize import library_labels

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 640))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    near = lambda v: (v + rng.normal(scale=0.01, size=640)) / np.linalg.norm(v)  # noqa: E731
    fused = np.stack([near(a), near(a), near(b), near(b)]).astype(np.float32)
    facenet = fused[[0, 2, 1, 3], :512].copy()  # FaceNet alone would pair faces 0-1 with 2-3 crossed
    table = {"C": fused, "X": facenet, "photo_id": np.arange(4), "assigned_by": np.array([""] * 4, object),
             "person_id": np.full(4, -1), "score": np.ones(4, np.float32), "size": np.full(4, 100.0, np.float32),
             "sharpness": np.full(4, 100.0, np.float32)}
    labels = library_labels(table, ClusterSettings())
    assert labels[0] == labels[1] >= 0 and labels[2] == labels[3] >= 0 and labels[0] != labels[2]
