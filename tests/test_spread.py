"""The clusterer's adaptive attachment on real photos: a person whose photos differ a lot (a
thumbnail, a partial face, years apart) has a loose cluster that takes a blurred photo of
them beyond a fixed attach distance; strangers stay out; turned off, the photo stays
unknown. And the common attach distance follows the library's size: the same blurred photo
joins in a small library and stays unknown in a large one."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from conftest import load_rgb
from photoface import api
from photoface.cluster import FaceClusterer
from photoface.decided import split_by_decisions
from photoface.config import FACENET_MODEL, ClusterSettings
from photoface.db import open_store

OBAMA = ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_thumb.jpg", "obama3_blurred.jpg"]
OTHERS = ["biden.jpg", "biden_dark.jpg", "biden_thumb.jpg", "astronaut.jpg", "astronaut_dark.jpg"]


def thumb(im: Image.Image) -> Image.Image:
    return im.resize((round(im.width * 0.25), round(im.height * 0.25)), Image.Resampling.BILINEAR)


def dark(im: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(im.point(lambda v: int(v * 0.35))).filter(ImageFilter.GaussianBlur(2))


@pytest.fixture(scope="module")
def spread_library(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("spread")
    lib = root / "lib"
    lib.mkdir()
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "biden.jpg", "astronaut.jpg"):
        load_rgb(name).save(lib / name, quality=92)
    thumb(load_rgb("obama.jpg")).save(lib / "obama_thumb.jpg", quality=60)
    thumb(load_rgb("biden.jpg")).save(lib / "biden_thumb.jpg", quality=60)
    load_rgb("obama3.jpg").filter(ImageFilter.GaussianBlur(4)).save(lib / "obama3_blurred.jpg")
    dark(load_rgb("biden.jpg")).save(lib / "biden_dark.jpg", quality=50)
    dark(load_rgb("astronaut.jpg")).save(lib / "astronaut_dark.jpg", quality=50)
    db = root / "template.db"
    api.index(str(lib), str(db), scheduler="sync")
    return lib, db


def people_by_photo(template: Path, tmp_path: Path, settings: ClusterSettings) -> dict[str, int | None]:
    db = tmp_path / "library.db"
    with sqlite3.connect(template) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    api.cluster(str(db), full=True, settings=settings)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT p.path, f.person_id FROM faces f JOIN photos p ON p.id = f.photo_id").fetchall()
    assert len(rows) == len(OBAMA) + len(OTHERS)  # one face in each photo
    return {Path(path).name: person for path, person in rows}


#: The blurred photo lies 0.84 from its nearest photo of Obama: beyond this fixed distance.
FIXED = replace(ClusterSettings(), attach_distance=0.8)


def test_a_loose_cluster_takes_a_far_photo_of_its_person_and_no_stranger(spread_library, tmp_path):
    _, template = spread_library
    person = people_by_photo(template, tmp_path, FIXED)
    obama = {person[n] for n in OBAMA}
    assert len(obama) == 1 and None not in obama, person
    assert not {person[n] for n in OTHERS} & obama, person


def test_without_the_spread_rule_the_blurred_photo_stays_unknown(spread_library, tmp_path):
    _, template = spread_library
    person = people_by_photo(template, tmp_path, replace(FIXED, spread_max_distance=FIXED.attach_distance))
    assert person["obama3_blurred.jpg"] is None, person
    assert len({person[n] for n in OBAMA if n != "obama3_blurred.jpg"}) == 1, person


def test_the_attach_distance_shrinks_as_the_library_grows(spread_library):
    """Spread rule off, shipped attach rule, the blurred photo only attached (not among the
    faces that form clusters): in this 11-face library it is within the attach distance (the
    longest link 1.0 less 0.1); the same faces counted as part of a 15,000-face library
    (link 0.85, attach 0.75) leave it unknown."""
    _, template = spread_library
    with open_store(str(template)) as store:
        table = store.face_table(FACENET_MODEL)
        paths = store.photo_paths()
    names = [Path(paths[p]).name for p in table["photo_id"]]
    clusterer = FaceClusterer.from_settings(replace(ClusterSettings(), spread_max_distance=0.0))
    eligible = [n != "obama3_blurred.jpg" for n in names]
    labels = {}
    for faces in (len(names), 15_000):
        got = clusterer.fit_predict(table["C"], groups=table["photo_id"], eligible=eligible, library_faces=faces)
        labels[faces] = dict(zip(names, got.tolist()))
        assert clusterer.attach_distance_ == pytest.approx(clusterer.link_distance_ - 0.1)
    small, large = labels[len(names)], labels[15_000]
    assert small["obama3_blurred.jpg"] == small["obama3.jpg"] >= 0, small
    assert large["obama3_blurred.jpg"] == -1 and large["obama3.jpg"] >= 0, large
    for n in OTHERS:
        assert small[n] != small["obama.jpg"], small


def _around(centre: np.ndarray, n: int, spread: float, rng) -> np.ndarray:
    X = centre + rng.normal(0, spread / np.sqrt(len(centre)), (n, len(centre)))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_a_cluster_is_split_where_the_users_decisions_tell_its_faces_apart():
    """One cluster of two look-alikes (5 faces each) and two far strangers: a named face of
    one and faces rejected from them split it along the shortest links; the strangers
    rejected too stay apart (noise); without decisions, or with one person only, nothing moves."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=64)
    b = a + rng.normal(size=64) * 0.45
    X = np.vstack([_around(a / np.linalg.norm(a), 5, 0.3, rng), _around(b / np.linalg.norm(b), 5, 0.3, rng),
                   np.eye(64, dtype=np.float32)[:2]])
    labels = np.zeros(len(X), np.int64)
    none = np.full(len(X), -1)
    assert (split_by_decisions(X, labels, none, {}, 2, 15, 1.0) == labels).all()
    person = none.copy()
    person[[0, 1]] = 7
    assert (split_by_decisions(X, labels, person, {}, 2, 15, 1.0) == labels).all()
    out = split_by_decisions(X, labels, person, {5: {7}, 6: {7}, 10: {7}, 11: {7}}, 2, 15, 1.0)
    assert (out[:5] == 0).all() and len(set(out[5:10])) == 1 and out[5] not in (0, -1)
    assert (out[10:] == -1).all()
    two = none.copy()
    two[[0, 5]] = [7, 8]  # two people in one cluster, no rejection
    out = split_by_decisions(X, labels, two, {}, 2, 15, 1.0)
    assert len(set(out[:5])) == 1 and len(set(out[5:10])) == 1 and out[0] != out[5]
