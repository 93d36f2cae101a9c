"""Learning from the user's names: `photoface calibrate --from-names` on a real library, the
values it stores used by cluster, verify, search and label (and overridable per command),
and the precision/recall on the user's own names in `status` and on the status page."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import numpy as np

from conftest import PHOTOS
from photoface import api, learn
from photoface.cli import main
from photoface.config import FACENET_MODEL, ClusterSettings
from photoface.db import open_store
from photoface.web import create_app


def name_people(db: str, folder, truth: dict) -> dict[str, int]:
    """Name each true person's cluster after them, as a user would; {name: person id}."""
    api.cluster(db)
    ids = {}
    with sqlite3.connect(db) as conn:
        for who, photos in truth.items():
            rows = conn.execute("SELECT f.person_id, p.path FROM faces f JOIN photos p ON p.id = f.photo_id "
                                "WHERE f.person_id IS NOT NULL").fetchall()
            counts = {}
            for pid, path in rows:
                if str(path).replace(str(folder) + "/", "") in photos:
                    counts[pid] = counts.get(pid, 0) + 1
            ids[who] = max(counts, key=counts.get)
    for who, pid in ids.items():
        api.name(db, pid, who.title(), as_new=True)
    return ids


def store_calibration(db: str, values: dict, same_person: float | None = None) -> None:
    """A calibration whose clustering values apply, as `calibrate --from-names` stores one."""
    report = {"cluster": learn.Calibration(people=3, labeled_faces=30, values=values,
                                           default={"precision": 0.9, "recall": 0.9, "f1": 0.9},
                                           fitted={"precision": 0.95, "recall": 0.95, "f1": 0.95},
                                           applies=True, reason="test").to_dict(),
              "thresholds": {"same_pairs": 10, "different_pairs": 1000,
                             **({"same_person_distance": same_person} if same_person else {})},
              "defaults": {}}
    with open_store(db) as store:
        store.save_calibration(FACENET_MODEL, report)


def test_too_few_names_are_measured_but_change_nothing(lib, capsys):
    folder, db, truth = lib
    api.cluster(db)
    before = api.cluster(db, full=True)
    out = api.calibrate_from_names(db)
    assert not out["cluster"]["applies"] and "at least 4 named people" in out["cluster"]["reason"]
    assert api.status(db)["calibration"]["applies"] is False
    assert api.cluster(db, full=True)["unknown"] == before["unknown"]
    assert main(["status", "--db", db]) == 0
    assert "calibration" in capsys.readouterr().out


def test_calibration_from_named_people_is_stored_and_shown(lib, capsys):
    folder, db, truth = lib
    name_people(db, folder, truth)
    assert main(["calibrate", "--from-names", "--db", db, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    c = out["cluster"]
    # 3 people, 12 faces: measured, stored, but below the 20 faces a fit needs
    assert c["people"] == 3 and c["labeled_faces"] == 12
    assert c["values"] == {} and not c["applies"] and "20 faces" in c["reason"]
    assert out["thresholds"]["same_pairs"] > 0 and out["thresholds"]["different_pairs"] > 0
    cal = api.status(db)["calibration"]
    assert cal["people"] == 3 and cal["faces"] == 12 and cal["f1"] is None
    app = create_app(db)
    page = app.test_client().get("/status").get_data(as_text=True)
    assert "Calibration on your own names" in page and "20 faces" in page
    # a calibration that applies: the precision and recall on the user's names are shown
    store_calibration(db, {"attach_distance": 0.7})
    cal = api.status(db)["calibration"]
    assert (cal["precision"], cal["recall"], cal["f1"], cal["values"]) == (0.95, 0.95, 0.95, {"attach_distance": 0.7})
    page = app.test_client().get("/status").get_data(as_text=True)
    assert "fitted values applied" in page and "0.950" in page and "attach distance 0.7" in page
    capsys.readouterr()
    assert main(["status", "--db", db]) == 0
    assert "precision 0.950, recall 0.950, F1 0.950" in capsys.readouterr().out
    # names decide nothing twice: a user's names survive a calibrated full run
    api.cluster(db, full=True)
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT name FROM people WHERE name IS NOT NULL")} == \
            {"Obama", "Biden", "Collins"}


def copy(db: str, to) -> str:
    with sqlite3.connect(db) as src, sqlite3.connect(to) as dst:
        src.backup(dst)
    return str(to)


def test_cluster_uses_the_stored_values_unless_told_otherwise(lib, tmp_path):
    folder, db, truth = lib
    # a calibration that keeps no long link and attaches nothing: the library's people fall apart
    tight = {"link_distance": 0.01, "attach_distance": 0.01}
    store_calibration(db, tight)
    defaults, given, explicit = (copy(db, tmp_path / f"{n}.db") for n in ("defaults", "given", "explicit"))
    shipped = api.cluster(defaults, calibrated=False)
    assert shipped["people"] >= 3 and not shipped["calibrated"]
    calibrated = api.cluster(db)
    assert calibrated["calibrated"] and calibrated["unknown"] > shipped["unknown"]
    expected = api.cluster(explicit, settings=replace(ClusterSettings(), **tight))
    assert (calibrated["people"], calibrated["unknown"]) == (expected["people"], expected["unknown"])
    # a per-run override wins over the stored value
    out = api.cluster(given, overrides=["link_distance=0", "attach_distance=0.8"])
    assert (out["people"], out["unknown"]) == (shipped["people"], shipped["unknown"])
    assert main(["cluster", "--defaults", "--db", db]) == 0


def test_verify_search_and_label_use_the_calibrated_distances(lib, capsys):
    folder, db, truth = lib
    api.cluster(db)
    a, b = str(PHOTOS / "obama.jpg"), str(PHOTOS / "obama2.jpg")
    assert main(["verify", a, b]) == 0  # the shipped 1.15: the same person
    store_calibration(db, {}, same_person=0.05)
    assert api.threshold(db, "same_person_distance") == 0.05
    assert api.threshold(db, "naming_distance") == api.threshold(None, "naming_distance")
    capsys.readouterr()
    assert main(["verify", a, b, "--db", db]) == 1  # this library's 0.05: different people
    assert main(["verify", a, b, "--db", db, "--threshold", "1.15"]) == 0  # given: it wins
    capsys.readouterr()
    assert main(["search", "--face", a, "--db", db, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert all(h["distance"] <= 0.05 for h in hits)


def test_learning_scores_strangers_that_join_a_named_person_against_it():
    labels = np.array([0, 0, 0, 1, 1, -1, -1])
    together = np.array([0, 0, 0, 1, 1, 2, 3])
    swept = np.array([0, 0, 0, 1, 1, 0, 0])  # two undecided faces join person 0
    assert learn.score(labels, together, labels >= 0)["f1"] == 1.0
    worse = learn.score(labels, swept, labels >= 0)
    assert worse["precision"] < 1.0 and worse["recall"] == 1.0
    # the strangers are scored too, as a BCubed over the library would: person 0's three
    # faces 3/5 each, person 1's two 1 each, each stranger 1/5 (only itself in a cluster of
    # five); counting the named faces alone (0.76) hid most of what sweeping strangers in
    # costs (docs/people.md, "Learning from the user's names")
    assert worse["precision"] == 0.6


def test_a_calibration_that_does_not_apply_leaves_the_defaults():
    base = ClusterSettings()
    cal = learn.Calibration(people=2, labeled_faces=30, values={"attach_distance": 0.7},
                            applies=False)
    assert learn.apply(base, cal) == base
    assert learn.apply(base, replace(cal, applies=True)).attach_distance == 0.7


def test_thresholds_from_a_labeled_folder_are_stored_and_keep_the_clustering_calibration(lib, tmp_path,
                                                                                        monkeypatch, capsys):
    folder, db, truth = lib
    store_calibration(db, {"attach_distance": 0.7})
    cache = str(tmp_path / "cache")
    # a few labeled photos hold too few pairs of different people to measure a rate
    assert main(["calibrate", "--labeled", str(folder), "--save", "--db", db, "--cache", cache, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["saved"] == {}
    assert api.threshold(db, "same_person_distance") == api.threshold(None, "same_person_distance")
    monkeypatch.setattr(learn, "PAIRS_PER_RATE", 1e-6)  # as if the folder were large
    out = api.calibrate(str(folder), cache=cache, save_to=db)
    assert api.threshold(db, "same_person_distance") == out["saved"]["same_person_distance"] == next(
        lv["threshold"] for lv in out["levels"] if lv["target_fmr"] == 1e-2)
    with open_store(db) as store:
        cal = store.latest_calibration(FACENET_MODEL)
    assert cal["cluster"]["applies"] and cal["cluster"]["values"] == {"attach_distance": 0.7}
