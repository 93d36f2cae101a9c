"""People, end to end on real photos: cluster, name, re-cluster, reject, gallery, search, verify, undo."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import PHOTOS, compose_group, variant_photo
from photoface import api
from photoface.cli import main
from photoface.errors import InputError


def rel(folder: Path, path: str) -> str:
    return str(Path(path).relative_to(folder))


def person_photos(db: str, folder: Path) -> dict[int, list[str]]:
    conn = sqlite3.connect(db)
    out: dict[int, list[str]] = {}
    for pid, path in conn.execute(
            "SELECT f.person_id, p.path FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id IS NOT NULL"):
        out.setdefault(pid, []).append(rel(folder, path))
    conn.close()
    return out


def find_person(db: str, folder: Path, photo: str, among: set[str]) -> int:
    """The person whose photos overlap ``among`` the most and include ``photo``."""
    best = max(((len(set(p) & among), pid) for pid, p in person_photos(db, folder).items() if photo in p))
    return best[1]


def dump(db: str) -> list:
    conn = sqlite3.connect(db)
    out = [conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("people", "faces", "rejections")]
    conn.close()
    return out


def test_cluster_finds_each_person_and_never_twice_in_a_photo(lib):
    folder, db, truth = lib
    out = api.cluster(db)
    assert out["mode"] == "full" and out["new_people"] >= 3
    groups = person_photos(db, folder)
    # one photo never shows one person twice
    for pid, photos in groups.items():
        assert len(photos) == len(set(photos)), (pid, photos)
    # each person is one cluster, and clusters are pure
    for who, photos in truth.items():
        anchor = sorted(p for p in photos if not p.startswith("events"))[0]
        pid = find_person(db, folder, anchor, photos)
        found = set(groups[pid])
        solo = {p for p in photos if p != "events/group.jpg" and p != "events/twice.jpg"}
        assert solo <= found, (who, found)
        assert found <= photos, (who, found - photos)
    # the photo with Obama twice: at most one of its faces is in Obama's cluster
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    assert groups[obama].count("events/twice.jpg") == 1


def test_recluster_after_new_photos_keeps_names_and_ids(lib, tmp_path):
    folder, db, truth = lib
    api.cluster(db)
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    biden = find_person(db, folder, "biden/biden.jpg", truth["biden"])
    api.name(db, obama, "Barack Obama")
    api.name(db, biden, "Joe Biden")
    # new photos arrive: they join the named people without re-clustering the library
    variant_photo("obama2.jpg", folder / "new" / "obama2_small.jpg", scale=0.7, crop=0.05)
    variant_photo("biden.jpg", folder / "new" / "biden_crop.jpg", crop=0.12)
    try:
        api.index(str(folder), db, scheduler="sync")
        out = api.cluster(db, full=False)
        assert out["mode"] == "incremental" and out["assigned"] >= 2
        groups = person_photos(db, folder)
        assert "new/obama2_small.jpg" in groups[obama]
        assert "new/biden_crop.jpg" in groups[biden]
        # a full re-cluster keeps ids and names (a library this small gets one by default)
        assert api.cluster(db)["mode"] == "full"
        named = {p.name: p.id for p in api.people(db)}
        assert named["Barack Obama"] == obama and named["Joe Biden"] == biden
        groups = person_photos(db, folder)
        assert {p for p in truth["obama"] if p.startswith("obama/")} <= set(groups[obama])
        assert {p for p in truth["biden"] if p.startswith("biden/")} <= set(groups[biden])
    finally:
        shutil.rmtree(folder / "new")


def test_rejected_face_never_returns(lib):
    folder, db, truth = lib
    api.cluster(db)
    collins = find_person(db, folder, "collins/astronaut.jpg", truth["collins"])
    face = next(f for f in api.person_faces(db, collins).face_list if f["path"].endswith("astronaut_mirror.jpg"))
    api.reject(db, [face["face_id"]])
    for full in (False, True, False):
        api.cluster(db, full=full)
        ids = [f["face_id"] for f in api.person_faces(db, collins).face_list]
        assert face["face_id"] not in ids
    assert any(e.action == "reject" for e in api.history(db))


def test_merge_move_split_hide_and_undo(lib):
    folder, db, truth = lib
    api.cluster(db)
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    biden = find_person(db, folder, "biden/biden.jpg", truth["biden"])
    before = dump(db)
    out = api.merge(db, obama, biden)
    # the group photo shows both: Biden's face there cannot join Obama and is left unassigned
    assert out["left_unassigned"] == 1
    assert api.people(db) and all(p.id != biden for p in api.people(db))
    api.undo(db)
    assert dump(db) == before
    # split two faces off, then name them, then undo both
    faces = [f["face_id"] for f in api.person_faces(db, obama).face_list][:2]
    new = api.split(db, obama, faces)["person"]
    api.name(db, new, "Someone Else")
    assert {f["face_id"] for f in api.person_faces(db, "Someone Else").face_list} == set(faces)
    api.undo(db)
    api.undo(db)
    assert dump(db) == before
    # moving a face into a person who already has a face of that photo is refused, nothing changes
    group_biden = next(f for f in api.person_faces(db, biden).face_list if f["path"].endswith("group.jpg"))
    with pytest.raises(InputError, match="same photo"):
        api.move(db, [group_biden["face_id"]], obama)
    assert dump(db) == before
    api.hide(db, biden)
    assert all(p.id != biden for p in api.people(db))
    assert any(p.id == biden for p in api.people(db, include_hidden=True))
    with pytest.raises(InputError, match="later changes"):
        api.undo(db, 1)


def test_gallery_labels_the_right_clusters(lib, tmp_path):
    folder, db, truth = lib
    api.cluster(db)
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    biden = find_person(db, folder, "biden/biden.jpg", truth["biden"])
    collins = find_person(db, folder, "collins/astronaut.jpg", truth["collins"])
    api.name(db, collins, "Eileen Collins")  # a name the user gave is never replaced
    gallery = tmp_path / "known"
    variant_photo("obama3.jpg", gallery / "Barack Obama" / "a.jpg", mirror=True, scale=0.8)
    variant_photo("biden.jpg", gallery / "Joe Biden" / "a.jpg", mirror=True, crop=0.1, scale=0.7)
    variant_photo("obama.jpg", gallery / "Eileen Collins" / "wrong.jpg")  # a bad gallery must not rename her
    (gallery / "Cat").mkdir()
    shutil.copy(PHOTOS / "chelsea_cat.jpg", gallery / "Cat" / "cat.jpg")
    compose_group(["astronaut.jpg", "biden.jpg"]).save(gallery / "Cat" / "two.jpg")
    out = api.label_gallery(db, str(gallery))
    named = {m.person: m.name for m in out["named"]}
    # two gallery entries hold Obama's face: a close call, listed for review, not guessed
    assert obama not in named
    review = {r.person: {r.name, r.runner_up} for r in out["review"]}
    assert review[obama] == {"Barack Obama", "Eileen Collins"}
    assert named[biden] == "Joe Biden"
    assert collins not in named
    reasons = {Path(s["path"]).name: s["why"] for s in out["skipped"]}
    assert reasons["cat.jpg"] == "no face found" and "2 faces" in reasons["two.jpg"]
    existing = {g["name"]: g["existing_person"] for g in out["gallery_people"]}
    assert existing["Eileen Collins"] == collins and existing["Joe Biden"] is None
    people = {p.id: p for p in api.people(db)}
    assert people[collins].name == "Eileen Collins" and people[collins].name_source == "user"
    assert people[biden].name == "Joe Biden" and people[biden].name_source == "gallery"


def test_search_by_people_returns_exactly_the_photos(lib):
    folder, db, truth = lib
    api.cluster(db)
    for who, name in (("obama", "Obama"), ("biden", "Biden"), ("collins", "Collins")):
        anchor = sorted(p for p in truth[who] if not p.startswith("events"))[0]
        api.name(db, find_person(db, folder, anchor, truth[who]), name)

    def paths(*args, **kw):
        return {rel(folder, r["path"]) for r in api.search(db, *args, **kw)}

    assert paths(["Obama"]) == truth["obama"]
    assert paths(["Obama", "Biden"]) == truth["obama"] & truth["biden"] == {"events/group.jpg"}
    assert paths(["Biden"], none_of=["Obama"]) == truth["biden"] - truth["obama"]
    assert paths(any_of=["Biden", "Collins"]) == truth["biden"] | truth["collins"]
    # only: every face is one of them; twice.jpg's second Obama face is unknown (the photo rule)
    assert paths(["Obama"], only=True) == truth["obama"] - {"events/group.jpg", "events/twice.jpg"}
    assert paths(["Collins"], after="2019-01-01", before="2019-12-31") == {"events/group.jpg"}
    assert paths(["Collins"], after="2020-01-01") == set()
    with pytest.raises(InputError, match="date"):
        api.search(db, ["Obama"], after="last year")


def test_search_by_face_and_verify(lib):
    folder, db, truth = lib
    api.cluster(db)
    hits = api.search_face(db, str(PHOTOS / "obama2.jpg"), limit=10)
    assert hits and rel(folder, hits[0]["path"]) in ("obama/obama2.jpg", "events/group.jpg")
    assert hits[0]["distance"] < 0.2
    assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)
    assert {rel(folder, h["path"]) for h in hits} <= truth["obama"]
    same = api.verify(str(PHOTOS / "obama.jpg"), str(PHOTOS / "obama3.jpg"))
    other = api.verify(str(PHOTOS / "obama.jpg"), str(PHOTOS / "biden.jpg"))
    assert same["same_person"] and not other["same_person"] and same["distance"] < other["distance"]
    group = folder / "events" / "group.jpg"
    all_pairs = api.verify(str(PHOTOS / "biden.jpg"), str(group), all_pairs=True)
    assert len(all_pairs["pairs"]) == 3 and sum(p["same_person"] for p in all_pairs["pairs"]) == 1
    # the command's exit status says it, as cmp and diff do: 0 same, 1 different, 2 an error
    assert main(["verify", str(PHOTOS / "obama.jpg"), str(PHOTOS / "obama3.jpg")]) == 0
    assert main(["verify", str(PHOTOS / "obama.jpg"), str(PHOTOS / "biden.jpg")]) == 1
    loose = str(round(other["distance"] + 0.01, 3))  # a threshold from `photoface calibrate`, say
    assert main(["verify", str(PHOTOS / "obama.jpg"), str(PHOTOS / "biden.jpg"), "--threshold", loose]) == 0
    assert main(["verify", str(PHOTOS / "obama.jpg"), str(PHOTOS / "chelsea_cat.jpg")]) == 2


def test_classifier_names_a_split_off_cluster_and_not_strangers(lib):
    folder, db, truth = lib
    api.cluster(db)
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    biden = find_person(db, folder, "biden/biden.jpg", truth["biden"])
    collins = find_person(db, folder, "collins/astronaut.jpg", truth["collins"])
    api.name(db, obama, "Barack Obama")
    api.name(db, biden, "Joe Biden")
    faces = [f["face_id"] for f in api.person_faces(db, obama).face_list]
    piece = api.split(db, obama, faces[:1])["person"]
    api.split(db, biden, [api.person_faces(db, biden).face_list[0]["face_id"]], "Joe Junior")
    trained = api.train_classifier(db)
    assert trained["people"] == 2
    assert trained["left_out"] == [{"name": "Joe Junior", "why": "only 1 face (2 needed)"}]  # said, not dropped
    out = api.label_classifier(db)
    named = {m.person: m.name for m in out["named"]}
    assert named.get(piece) == "Barack Obama", out
    assert collins not in named  # a stranger to the classifier stays unnamed


def test_bad_input_is_one_line_and_changes_nothing(lib, tmp_path, capsys):
    folder, db, truth = lib
    api.cluster(db)
    before = dump(db)
    for argv, words in [
        (["name", "99999", "X"], "no person or cluster with id 99999"),
        (["name", "Nobody Here", "X"], "no person named"),
        (["merge", "1", "--into", "1"], "with itself"),
        (["merge", "1", "2"], "merge SOURCE... --into TARGET"),
        (["move", "99999", "--to", "1"], "no face with id 99999"),
        (["reject", "99999"], "no face with id"),
        (["search", "Nobody"], "no person named"),
        (["search", "--face", str(PHOTOS / "chelsea_cat.jpg")], "no face found"),
        (["label", "--gallery", str(tmp_path / "missing")], "gallery folder not found"),
        (["undo", "12345"], "no change with id 12345"),
    ]:
        assert main([*argv, "--db", db]) != 0, argv
        err = capsys.readouterr().err
        assert err.startswith("photoface: error:") and words in err and err.count("\n") == 1, (argv, err)
    assert dump(db) == before
    empty = tmp_path / "empty.db"
    (tmp_path / "nothing").mkdir()
    shutil.copy(PHOTOS / "chelsea_cat.jpg", tmp_path / "nothing" / "cat.jpg")
    api.index(str(tmp_path / "nothing"), str(empty), scheduler="sync")
    assert main(["cluster", "--db", str(empty)]) == 1
    assert "no faces yet" in capsys.readouterr().err


def test_gallery_photo_ignores_unclear_faces_around_the_portrait():
    """A gallery portrait with a doubtful detection in its background (score under the
    clustering gate, or small, or blurred) still counts; two clear faces do not."""
    from photoface.gallery import clear_faces
    from photoface.types import Detection, Face

    def face(x, size, score, sharpness=100.0):
        return Face(Detection(x, 0, x + size, size, score, ((0, 0),) * 5), np.zeros(512, np.float32), "m", sharpness)

    portrait = face(0, 200, 0.999)
    assert clear_faces([portrait]) == [portrait]
    assert clear_faces([portrait, face(300, 36, 0.83)]) == [portrait]  # doubtful and small
    assert clear_faces([portrait, face(300, 120, 0.99, sharpness=3.0)]) == [portrait]  # blurred
    assert len(clear_faces([portrait, face(300, 120, 0.99)])) == 2


def test_gallery_photo_with_a_clearly_largest_face_is_used_with_a_note(tmp_path):
    """Two clear faces: the largest is the person when it is clearly larger (a portrait with
    someone beside), noted; two faces of about the same size leave the photo out, said why."""
    from types import SimpleNamespace

    from photoface.gallery import GALLERY_MAIN_FACE_RATIO, build_gallery
    from photoface.types import Detection, Face

    def face(x, size, value):
        return Face(Detection(x, 0, x + size, size, 0.999, ((0, 0),) * 5), np.full(512, value, np.float32), "m", 100.0)

    (tmp_path / "Alice Martin").mkdir()
    photos = {"portrait.jpg": [face(0, 200, 1.0), face(300, 100, 2.0)],
              "pair.jpg": [face(0, 200, 3.0), face(300, round(200 / GALLERY_MAIN_FACE_RATIO) + 5, 4.0)]}
    for name in photos:
        (tmp_path / "Alice Martin" / name).write_bytes(b"")
    results = [SimpleNamespace(path=str(tmp_path / "Alice Martin" / n), status="indexed", faces=f, error=None)
               for n, f in photos.items()]
    g = build_gallery(str(tmp_path), lambda paths: results)
    assert [p.name for p in g.people] == ["Alice Martin"]
    assert g.people[0].embeddings.shape == (1, 512) and g.people[0].embeddings[0, 0] == 1.0  # the larger face
    assert [(p.rsplit("/", 1)[1], w) for p, w in g.notes] == [("portrait.jpg", "2 faces: the largest taken for Alice Martin")]
    assert [(p.rsplit("/", 1)[1], w) for p, w in g.skipped] == [
        ("pair.jpg", "2 faces of about the same size: crop it to Alice Martin alone")]


def test_a_cluster_run_that_changes_nothing_leaves_nothing_to_undo(lib, capsys):
    folder, db, truth = lib
    first = api.cluster(db)
    assert first["event_id"] is not None
    events = len(api.history(db))
    for _ in range(3):
        again = api.cluster(db)
        assert again["event_id"] is None and again["assigned"] == again["new_people"] == 0
    assert len(api.history(db)) == events
    assert main(["cluster", "--db", db]) == 0 and "nothing changed" in capsys.readouterr().out
    assert api.undo(db)["undone"] == first["event_id"]  # undo reaches the run that did something


def test_file_names_cannot_steer_the_terminal(tmp_path, capsys):
    folder = tmp_path / "lib"
    folder.mkdir()
    tricky = "obama\x1b[31m red\nfake line.jpg"
    shutil.copy(PHOTOS / "obama.jpg", folder / tricky)
    shutil.copy(PHOTOS / "obama3.jpg", folder / "obama3.jpg")
    db = str(tmp_path / "t.db")
    api.index(str(folder), db, scheduler="sync")
    api.cluster(db)
    capsys.readouterr()
    assert main(["people", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert len(out.splitlines()) == 2  # the header and one person: a newline in a name splits nothing
    assert main(["people", "1", "--db", db]) == 0  # every face, with its photo's path
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31m red\\x0afake line.jpg" in out and len(out.splitlines()) == 3


def test_naming_never_merges_or_takes_a_misspelling_without_asking(lib, capsys):
    """Naming a cluster with another person's name, or with a near miss of it, changes nothing
    until the user says so (--merge, --new); `merge` says its direction."""
    from photoface.errors import NameConflict

    folder, db, truth = lib
    api.cluster(db)
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    biden = find_person(db, folder, "biden/biden.jpg", truth["biden"])
    collins = find_person(db, folder, "collins/astronaut.jpg", truth["collins"])
    api.name(db, obama, "Barack Obama")
    before = dump(db)
    with pytest.raises(NameConflict, match=rf"person {obama} is already named 'Barack Obama'") as taken:
        api.name(db, biden, "barack obama")
    assert taken.value.taken and taken.value.people == [(obama, "Barack Obama")]
    with pytest.raises(NameConflict, match="did you mean 'Barack Obama'") as near:
        api.name(db, biden, "Barak Obama")
    assert not near.value.taken
    face = api.person_faces(db, collins).face_list[0]["face_id"]
    for argv, words in [
        (["name", str(biden), "Barack Obama"], "--merge"),
        (["name", str(biden), "Barak  Obama"], f"did you mean 'Barack Obama' (person {obama})?"),
        (["move", str(face), "--to", "Barak Obama"], "did you mean 'Barack Obama'"),
        (["people", "Barak Obama"], "did you mean 'Barack Obama'"),
        (["merge", str(biden), str(obama)], f"e.g. merge {obama} --into {biden}"),
    ]:
        assert main([*argv, "--db", db]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("photoface: error:") and words in err and err.count("\n") == 1, (argv, err)
    assert dump(db) == before
    # said so: a different person of a similar name, then a merge by name, then one by --into
    assert main(["name", str(biden), "Barak Obama", "--new", "--db", db]) == 0
    assert api.person_faces(db, biden).name == "Barak Obama"
    assert main(["name", str(biden), "Barack Obama", "--merge", "--db", db]) == 0
    assert "merged" in capsys.readouterr().out
    assert all(p.id != biden for p in api.people(db))
    api.name(db, collins, "Eileen")
    api.name(db, collins, "Eileen Collins")
    capsys.readouterr()
    assert main(["history", "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"renamed person {collins} 'Eileen' to 'Eileen Collins'" in out and f"named cluster {collins} 'Eileen'" in out
    assert main(["merge", str(collins), "--into", str(obama), "--db", db]) == 0
    assert f"into person {obama}" in capsys.readouterr().out
    history = [e.summary for e in api.history(db)]
    assert f"renamed {biden} 'Barak Obama' to 'Barack Obama'" not in history  # a merge, logged as one
    assert f"named cluster {biden} 'Barak Obama'" in history
    assert not Path(db + ".lock").exists()  # the run lock exists only while a command holds it


def test_unknown_faces_are_listed_in_groups_and_can_be_named_or_ignored(lib, capsys):
    folder, db, truth = lib
    api.cluster(db)
    obama = find_person(db, folder, "obama/obama.jpg", truth["obama"])
    # make unknown faces: three of Obama's leave him ("not this person" for this test's sake)
    faces = [f["face_id"] for f in api.person_faces(db, obama).face_list if "obama/" in f["path"]][:3]
    api.reject(db, faces)
    page = api.unknown_faces(db)
    unknown = api.status(db)["unknown_faces"]
    assert page["total"] == unknown >= 3 and set(faces) <= {f["face_id"] for f in page["faces"]}
    group = {f["group"] for f in page["faces"] if f["face_id"] in faces}
    assert len(group) == 1  # three photos of one man sit together
    groups = [f["group"] for f in page["faces"]]
    assert groups == sorted(groups)  # a group's faces sit together, groups numbered in the order shown
    sizes = [groups.count(g) for g in sorted(set(groups))]
    assert sizes == sorted(sizes, reverse=True)  # the largest group first
    assert main(["faces", "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"{unknown} unknown faces in {page['groups']} groups" in out and all(str(f) in out for f in faces)
    # ignore two: they leave the list, no clustering run places them, undo brings them back
    assert main(["ignore", str(faces[0]), str(faces[1]), "--db", db]) == 0
    assert {f["face_id"] for f in api.unknown_faces(db, ignored=True)["faces"]} == set(faces[:2])
    assert not set(faces[:2]) & {f["face_id"] for f in api.unknown_faces(db)["faces"]}
    api.cluster(db, full=True)
    states = {f["face_id"] for f in api.unknown_faces(db, ignored=True)["faces"]}
    assert states == set(faces[:2])
    assert api.status(db)["unknown_faces"] == len(api.unknown_faces(db)["faces"])
    api.undo(db)  # the clustering run
    api.undo(db)  # the ignore
    assert not api.unknown_faces(db, ignored=True)["faces"]
    # a new person, named, from unknown faces
    assert main(["new-person", *map(str, faces), "--name", "Obama Too", "--db", db]) == 0
    assert {f["face_id"] for f in api.person_faces(db, "Obama Too").face_list} == set(faces)
    assert main(["ignore", str(faces[2]), "--db", db]) == 0  # a face of a person: it leaves them
    assert main(["ignore", str(faces[2]), "--restore", "--db", db]) == 0
    assert faces[2] in {f["face_id"] for f in api.unknown_faces(db)["faces"]}


def test_a_face_the_detector_missed_is_added_by_hand_and_counts_like_any_face(lib, capsys):
    """`add-face`: cropped and embedded exactly as a detected face (same box, same vector),
    pinned to its person, found by search, kept by clustering and by re-indexing a changed
    file; `delete-face` and `undo` take it back out and put it back whole."""
    from photoface.config import Settings
    from photoface.pipeline import PipelineSpec, embed_box

    folder, db, truth = lib
    api.cluster(db)
    detected = api.person_faces(db, find_person(db, folder, "obama/obama.jpg", truth["obama"])).face_list[0]
    conn = sqlite3.connect(db)
    stored = np.frombuffer(conn.execute("SELECT embedding FROM faces WHERE id = ?", [detected["face_id"]]).fetchone()[0],
                           np.float32)
    _, vector, _, _ = embed_box(detected["path"], detected["box"], PipelineSpec.from_settings(Settings()))
    assert np.abs(vector - stored).max() < 1e-5  # the same crop and embedding as detection gives
    cat = str(folder / "chelsea_cat.jpg")  # no face found there: a cat
    before = dump(db)
    for argv, words in [(["add-face", cat, "--box", "10,10,5,5"], "must lie inside"),
                        (["add-face", detected["path"], "--box", ",".join(map(str, detected["box"]))], "already there"),
                        (["add-face", cat, "--box", "1,1,9,9"], "too small"),
                        (["add-face", str(PHOTOS / "obama.jpg"), "--box", "1,1,90,90"], "not an indexed photo")]:
        assert main([*argv, "--db", db]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("photoface: error:") and words in err and err.count("\n") == 1, (argv, err)
    assert dump(db) == before
    assert main(["add-face", cat, "--box", "130,40,330,260", "--name", "Chelsea", "--db", db]) == 0
    fid = int(capsys.readouterr().out.split()[2])
    source, count = conn.execute("SELECT f.source, p.face_count FROM faces f JOIN photos p ON p.id = f.photo_id "
                                 "WHERE f.id = ?", [fid]).fetchone()
    assert source == "manual" and count == 1
    assert [r["path"] for r in api.search(db, ["Chelsea"])] == [cat]
    api.cluster(db, full=True)
    assert [f["face_id"] for f in api.person_faces(db, "Chelsea").face_list] == [fid]
    # the file changes (edited in another app): detected faces are redone, the drawn one stays
    from PIL import Image

    Image.open(cat).save(cat, quality=70)
    api.index(str(folder), db, scheduler="sync")
    assert [f["face_id"] for f in api.person_faces(db, "Chelsea").face_list] == [fid]
    assert main(["delete-face", str(detected["face_id"]), "--db", db]) == 1  # detected: ignore it instead
    row = conn.execute("SELECT * FROM faces WHERE id = ?", [fid]).fetchone()
    assert main(["delete-face", str(fid), "--db", db]) == 0
    assert conn.execute("SELECT face_count FROM photos WHERE path = ?", [cat]).fetchone()[0] == 0
    api.undo(db)
    assert conn.execute("SELECT * FROM faces WHERE id = ?", [fid]).fetchone() == row  # back whole
    assert [r["path"] for r in api.search(db, ["Chelsea"])] == [cat]
