"""Age, gender and expression: the models, their storage, search filters and reports, on real photos."""
from __future__ import annotations

import json
import os
import sqlite3

import numpy as np
import pytest

from conftest import PHOTOS, load_rgb
from photoface import api
from photoface.cli import main
from photoface.config import Settings
from photoface.demographics import AttributeFilter, parse_age_range
from photoface.errors import InputError


def _attributes(db: str) -> dict[str, list[dict]]:
    """{relative path: [attributes of each face]}."""
    conn = sqlite3.connect(db)
    root = os.path.commonpath([r[0] for r in conn.execute("SELECT path FROM photos")])
    out: dict[str, list] = {}
    for path, age, gender, confidence, emotion, emotions in conn.execute(
            "SELECT p.path, a.age, a.gender, a.gender_confidence, a.emotion, a.emotions FROM face_attributes a "
            "JOIN faces f ON f.id = a.face_id JOIN photos p ON p.id = f.photo_id ORDER BY p.path, f.face_index"):
        out.setdefault(os.path.relpath(path, root), []).append(
            {"age": age, "gender": gender, "gender_confidence": confidence, "emotion": emotion,
             "p": json.loads(emotions)})
    conn.close()
    return out


@pytest.fixture
def attributed(lib):
    folder, db, truth = lib
    summary = api.attributes(db, scheduler="sync")
    assert summary["failed"] == 0 and summary["estimated"] == summary["faces"] > 0
    return folder, db, truth


def test_keras_h5_runner_matches_keras_itself():
    """photoface evaluates the 2017 Keras files with its own TensorFlow ops; where today's
    Keras can still load them, both must give the same outputs."""
    from photoface.models.runtime import tensorflow
    from photoface.models.keras_h5 import KerasH5Network
    from photoface.models.weights import AGE_GENDER_H5, EMOTION_H5, locate

    tf = tensorflow("cpu")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    for weight, channels in ((EMOTION_H5, 1), (AGE_GENDER_H5, 3)):
        path = locate(weight)
        ours = KerasH5Network(tf, path, "/CPU:0")
        x = rng.uniform(0, 255, (3, 64, 64, channels)).astype(np.float32)
        try:
            reference = keras.models.load_model(str(path), compile=False)
        except Exception as exc:  # a Keras that can no longer read the 2017 file: nothing to compare with
            pytest.skip(f"this Keras cannot load {path.name}: {exc}")
        expected = reference.predict(x, verbose=0)
        expected = expected if isinstance(expected, list) else [expected]
        got = ours(x)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-4)
            assert np.allclose(a.sum(axis=1), 1, atol=1e-4)  # softmax heads


def test_a_known_persons_gender_is_stable_and_ages_are_adult(attributed):
    folder, db, truth = attributed
    attrs = _attributes(db)
    conn = sqlite3.connect(db)
    faces = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
    assert sum(len(v) for v in attrs.values()) == faces
    # The committed photos themselves are read right, and the men in every variant too.
    # The network is not mirror-invariant, and Collins is a hard case for it
    # (models/attributes.md): her mirrored photo and her face in the group photo sit
    # between P(female) 0.3 and 0.6, where a box a pixel or two away flips the call.
    committed = {photo.name for photo in PHOTOS.glob("*.jpg")}
    for person, gender in (("obama", "male"), ("biden", "male"), ("collins", "female")):
        for path in (p for p in truth[person] if not p.startswith("events/")):
            (face,) = attrs[path]
            if gender == "male" or os.path.basename(path) in committed:
                assert face["gender"] == gender, (person, path, face)
    # every face here is an adult photographed in their 40s to 60s
    assert all(25 <= a["age"] <= 75 for fs in attrs.values() for a in fs)
    assert attrs["biden/biden.jpg"][0]["age"] > attrs["obama/obama2.jpg"][0]["age"]


def test_smiling_and_serious_photos_of_one_face_differ(attributed):
    folder, db, _ = attributed
    attrs = _attributes(db)
    broad_smile = attrs["obama/obama.jpg"][0]
    speaking = attrs["obama/obama2.jpg"][0]
    assert broad_smile["emotion"] == "happy" and broad_smile["p"]["happy"] > 0.9
    assert speaking["emotion"] != "happy" and broad_smile["p"]["happy"] - speaking["p"]["happy"] > 0.5
    # a confident expression survives mirroring and recropping (a near-neutral face may
    # flip between neutral and sad: see models/attributes.md)
    for path in ("collins/astronaut.jpg", "collins/astronaut_mirror.jpg"):
        assert attrs[path][0]["emotion"] == "happy" and attrs[path][0]["p"]["happy"] > 0.9


def test_search_by_attributes_and_people(attributed, capsys):
    folder, db, truth = attributed
    api.cluster(db)
    women = {os.path.relpath(r["path"], folder) for r in api.search(db, gender="female")}
    attrs = _attributes(db)
    assert women == {p for p, faces in attrs.items() if any(a["gender"] == "female" for a in faces)}
    assert "collins/astronaut.jpg" in women and not women & (truth["obama"] | truth["biden"]) - truth["collins"]
    smiling = {os.path.relpath(r["path"], folder) for r in api.search(db, emotion="happy")}
    assert "obama/obama.jpg" in smiling and "obama/obama2.jpg" not in smiling
    # a person named, and an expression: only photos where that person's own face shows it
    obama = sqlite3.connect(db).execute(
        "SELECT f.person_id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?",
        [str(folder / "obama" / "obama.jpg")]).fetchone()[0]
    rows = api.search(db, [obama], emotion="happy")
    assert rows and all(any(f["matched"] and f["person_id"] == obama for f in r["faces"]) for r in rows)
    assert "obama/obama2.jpg" not in {os.path.relpath(r["path"], folder) for r in rows}
    older = api.search(db, age="55-", gender="male")
    assert {os.path.relpath(r["path"], folder) for r in older} <= truth["biden"] | truth["obama"]
    for r in older:
        assert any(f.get("matched") and f["attributes"]["age"] >= 55 for f in r["faces"])
    # the same through the command line, as JSON
    capsys.readouterr()
    assert main(["search", "--gender", "female", "--db", db, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    women = api.search(db, gender="female")
    assert printed == json.loads(json.dumps(women)) and women
    assert all(any(f.get("matched") and f["attributes"]["gender"] == "female" for f in r["faces"]) for r in printed)


def test_person_summary_and_demographics_report(attributed, capsys):
    folder, db, truth = attributed
    api.cluster(db)
    report = api.demographics(db, per_person=True)
    n_faces = sqlite3.connect(db).execute("SELECT count(*) FROM faces").fetchone()[0]
    assert report["faces"]["count"] == n_faces
    assert sum(report["faces"]["age_bands"].values()) == n_faces
    assert sum(report["faces"]["gender"].values()) == n_faces
    assert sum(report["faces"]["emotion"].values()) == n_faces
    for s in report["per_person"]:
        info = api.person_faces(db, s["person_id"])
        assert info.attributes == {k: v for k, v in s.items() if k not in ("person_id", "name")}
        genders = [g for (g,) in sqlite3.connect(db).execute(
            "SELECT a.gender FROM face_attributes a JOIN faces f ON f.id = a.face_id WHERE f.person_id = ?",
            [s["person_id"]])]
        majority = max(genders.count("female"), genders.count("male")) / len(genders)
        assert s["gender_agreement"] == pytest.approx(majority, abs=1e-3)
        if "female" not in genders:  # the men's clusters: every face agrees
            assert s["gender_agreement"] == 1.0
    assert report["people"]["count"] == len(report["per_person"]) >= 3
    assert main(["report", "demographics", "--db", db, "--per-person"]) == 0
    out = capsys.readouterr().out
    assert "age band" in out and f"{n_faces} faces with estimates" in out


def test_backfill_is_incremental_and_survives_a_vanished_photo(lib, tmp_path):
    folder, db, truth = lib
    victim = folder / "biden" / "biden_small.jpg"
    saved, stat = victim.read_bytes(), victim.stat()
    victim.unlink()
    try:
        first = api.attributes(db, scheduler="sync")
    finally:
        victim.write_bytes(saved)
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert first["failed"] == 1 and "vanished" in first["errors"][0]["error"]
    assert first["estimated"] == first["faces"] - 1
    second = api.attributes(db, scheduler="sync")
    assert (second["faces"], second["estimated"], second["failed"]) == (1, 1, 0)
    assert api.attributes(db, scheduler="sync")["faces"] == 0
    # index --attributes on an unchanged library fills nothing twice
    summary = api.index(str(folder), db, scheduler="sync", settings=Settings(attributes=True))
    assert summary.photos_indexed == 0 and summary.attributes["faces"] == 0


def test_index_with_attributes_stores_them_with_each_face(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut.jpg", "obama.jpg", "chelsea_cat.jpg"):
        load_rgb(name).save(folder / name, quality=92)
    db = str(tmp_path / "p.db")
    assert main(["index", str(folder), "--db", db, "--attributes", "--no-progress", "--scheduler", "sync"]) == 0
    assert "estimated for 2 faces (2 new, 0 indexed earlier)" in capsys.readouterr().out
    attrs = _attributes(db)
    assert set(attrs) == {"astronaut.jpg", "obama.jpg"}
    assert attrs["astronaut.jpg"][0]["gender"] == "female" and attrs["obama.jpg"][0]["gender"] == "male"
    model = sqlite3.connect(db).execute("SELECT DISTINCT model FROM face_attributes").fetchall()
    assert model == [("wrn16x8-imdbwiki-agender+mini-xception-fer2013",)]


def test_attribute_filters_parse_and_refuse_bad_values(lib, capsys):
    assert parse_age_range("20-35") == (20, 35)
    assert parse_age_range("60-") == (60, None)
    assert parse_age_range("-12") == (None, 12)
    assert parse_age_range("30") == (30, 30)
    for bad in ("", "-", "x", "35-20", "20-35-40", "1000"):
        with pytest.raises(InputError):
            parse_age_range(bad)
    with pytest.raises(InputError, match="unknown emotion"):
        AttributeFilter.parse(emotion="joy")
    with pytest.raises(InputError, match="female or male"):
        AttributeFilter.parse(gender="x")
    _, db, _ = lib
    # no estimates yet: a clear one-line error, not an empty answer
    assert main(["search", "--emotion", "happy", "--db", db]) != 0
    assert "photoface attributes" in capsys.readouterr().err
    assert main(["search", "--age", "old", "--db", db]) != 0
    assert "--age wants a range" in capsys.readouterr().err
