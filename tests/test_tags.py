"""Face tags shared with other photo apps, on real photos: regions written by ExifTool the way
digiKam (MWG in a PHOTO.jpg.xmp sidecar), Lightroom (MWG embedded) and Windows Photo Gallery
(Microsoft regions embedded) write them are read onto the right faces; `tags write` output is
read back by ExifTool with each region on its face; image data never changes; a photo
stored rotated (EXIF orientation 6) round-trips. Needs ExifTool (apt-get install
libimage-exiftool-perl); skipped without it unless PHOTOFACE_REQUIRE_EXIFTOOL=1 (.ci/run)."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import threading

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import PHOTOS, compose_group, load_rgb
from photoface import api
from photoface.cli import main
from photoface.tags import to_shown, to_stored

EXIFTOOL = shutil.which("exiftool")
pytestmark = pytest.mark.skipif(
    not EXIFTOOL and os.environ.get("PHOTOFACE_REQUIRE_EXIFTOOL") != "1",
    reason="ExifTool is not installed (apt-get install libimage-exiftool-perl)")


def exif_json(path) -> dict:
    out = subprocess.run([EXIFTOOL, "-j", "-struct", "-n", "-G1", str(path)], capture_output=True, text=True)
    return json.loads(out.stdout)[0]


def write_with_exiftool(target, tags: dict) -> None:
    """Tags written the way another app would, by ExifTool itself."""
    spec = target.parent / "in.json"
    spec.write_text(json.dumps([{"SourceFile": str(target), **tags}]))
    subprocess.run([EXIFTOOL, "-q", "-struct", "-overwrite_original", f"-json={spec}", str(target)], check=True)
    spec.unlink()


def faces(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT f.id, p.path, f.x1, f.y1, f.x2, f.y2, pe.name, f.source FROM faces f "
                            "JOIN photos p ON p.id = f.photo_id LEFT JOIN people pe ON pe.id = f.person_id "
                            "ORDER BY f.id").fetchall()


def pixels(path) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


@pytest.fixture
def tagged(tmp_path):
    """Four real photos, one stored rotated (EXIF orientation 6), indexed and clustered."""
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("obama.jpg", "biden.jpg", "chelsea_cat.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    exif = Image.Exif()
    exif[0x0112] = 6
    load_rgb("obama3.jpg").transpose(Image.Transpose.ROTATE_90).save(folder / "rotated.jpg", quality=92, exif=exif)
    compose_group(["astronaut.jpg", "biden.jpg"]).save(folder / "pair.jpg", quality=92)
    db = str(tmp_path / "t.db")
    api.index(str(folder), db, scheduler="sync")
    api.cluster(db)
    return folder, db


def test_orientation_maps_boxes_both_ways():
    box = (0.1, 0.2, 0.4, 0.5)
    for o in range(1, 9):
        assert np.allclose(to_stored(to_shown(box, o), o), box), o
    assert np.allclose(to_shown((0.0, 0.0, 0.2, 0.1), 6), (0.9, 0.0, 1.0, 0.2))  # top-left goes top-right


def test_tags_write_puts_each_name_on_its_face_and_reads_back_the_same(tagged, tmp_path, capsys):
    folder, db = tagged
    for f in faces(db):
        if f[6] is None and f[1].endswith(("obama.jpg", "rotated.jpg")):
            api.move(db, [f[0]], "Barack Obama")
    biden = [f[0] for f in faces(db) if f[1].endswith("biden.jpg")]
    api.move(db, biden, "Joe Biden")
    before = {p: p.read_bytes() for p in folder.glob("*.jpg")}
    assert main(["tags", "write", "--db", db]) == 0
    assert "3 file(s) written, 0 failed" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in folder.glob("*.jpg")} == before  # sidecars only: photos untouched
    for fid, path, x1, y1, x2, y2, name, _ in faces(db):
        if name is None:
            continue
        meta = exif_json(path + ".xmp")
        region = meta["XMP-mwg-rs:RegionInfo"]
        (r,) = region["RegionList"]
        assert r["Name"] == name and r["Type"] == "Face" and meta["XMP-iptcExt:PersonInImage"] == [name]
        stored = Image.open(path).size  # the stored image, before EXIF orientation
        assert (region["AppliedToDimensions"]["W"], region["AppliedToDimensions"]["H"]) == stored
        # the region's centre, taken into the photo as shown, lies on the face
        shown_w, shown_h = pixels(path).shape[1], pixels(path).shape[0]
        o = int(exif_json(path).get("IFD0:Orientation") or 1)
        cx, cy, _, _ = to_shown((r["Area"]["X"], r["Area"]["Y"], r["Area"]["X"], r["Area"]["Y"]), o)
        assert x1 < cx * shown_w < x2 and y1 < cy * shown_h < y2, (path, o)
    assert main(["tags", "write", "--db", db]) == 0
    assert "nothing to write" in capsys.readouterr().out  # idempotent
    # a fresh library reads the sidecars back onto the same faces, the rotated photo's too
    from_sidecars = str(tmp_path / "sidecars.db")
    api.index(str(folder), from_sidecars, scheduler="sync")
    assert named(from_sidecars) == named(db) and ("rotated.jpg", "Barack Obama") in named(db)
    api.name(db, "Joe Biden", "Joseph Biden")
    assert main(["tags", "write", "--db", db]) == 0  # a rename updates what was written
    assert exif_json(folder / "biden.jpg.xmp")["XMP-iptcExt:PersonInImage"] == ["Joseph Biden"]
    assert exif_json(folder / "biden.jpg.xmp")["XMP-mwg-rs:RegionInfo"]["RegionList"][0]["Name"] == "Joseph Biden"
    # embedded into the files: pixels unchanged; a fresh library reads the same people back
    shown = {p.name: pixels(p) for p in folder.glob("*.jpg")}
    for p in folder.glob("*.xmp"):
        p.unlink()
    assert main(["tags", "write", "--embed", "--db", db]) == 0
    assert all(np.array_equal(pixels(folder / n), a) for n, a in shown.items())
    fresh = str(tmp_path / "fresh.db")
    api.index(str(folder), fresh, scheduler="sync")
    out = api.tags_read(fresh)
    assert out["conflicts"] == [] and not out["added"]
    assert named(fresh) == named(db)


def test_regions_written_by_other_apps_name_the_right_faces(tagged, capsys):
    folder, db = tagged
    obama_box = next(f[2:6] for f in faces(db) if f[1].endswith("/obama.jpg"))
    w, h = Image.open(folder / "obama.jpg").size

    def mwg(box, name, size, extra=()):
        bw, bh = size
        x1, y1, x2, y2 = box
        return {"XMP-mwg-rs:RegionInfo": {"AppliedToDimensions": {"W": bw, "H": bh, "Unit": "pixel"}, "RegionList": [
            {"Area": {"X": (x1 + x2) / 2 / bw, "Y": (y1 + y2) / 2 / bh, "W": (x2 - x1) / bw, "H": (y2 - y1) / bh,
                      "Unit": "normalized"}, "Name": name, "Type": "Face"}, *extra]}}

    # digiKam: MWG in PHOTO.jpg.xmp, the box a little larger than MTCNN's
    grown = (obama_box[0] - 10, obama_box[1] - 15, obama_box[2] + 10, obama_box[3] + 5)
    write_with_exiftool(folder / "obama.jpg.xmp", mwg(grown, "Barack Obama", (w, h), extra=[
        {"Area": {"X": 0.5, "Y": 0.5, "W": 0.1, "H": 0.1, "Unit": "normalized"}, "Name": "Focus", "Type": "Focus"}]))
    # Lightroom: MWG embedded
    biden_box = next(f[2:6] for f in faces(db) if f[1].endswith("/biden.jpg"))
    write_with_exiftool(folder / "biden.jpg", mwg(biden_box, "Joe Biden", Image.open(folder / "biden.jpg").size))
    # Windows Photo Gallery: Microsoft regions embedded (top-left, size), on the pair photo's two faces
    pair = sorted((f for f in faces(db) if f[1].endswith("/pair.jpg")), key=lambda f: f[2])
    pw, ph = Image.open(folder / "pair.jpg").size
    write_with_exiftool(folder / "pair.jpg", {"XMP-MP:RegionInfoMP": {"Regions": [
        {"Rectangle": f"{f[2] / pw},{f[3] / ph},{(f[4] - f[2]) / pw},{(f[5] - f[3]) / ph}", "PersonDisplayName": n}
        for f, n in zip(pair, ("Eileen Collins", "Joe Biden"))]}})
    # a region over no detected face: the cat, named
    cw, ch = Image.open(folder / "chelsea_cat.jpg").size
    write_with_exiftool(folder / "chelsea_cat.jpg.xmp", mwg((0.3 * cw, 0.15 * ch, 0.75 * cw, 0.6 * ch), "Chelsea",
                                                            (cw, ch)))
    assert main(["tags", "read", "--db", db]) == 0
    assert "face(s) named" in capsys.readouterr().out
    got = {(os.path.basename(f[1]), f[6], f[7]) for f in faces(db) if f[6]}
    assert {("obama.jpg", "Barack Obama", None), ("biden.jpg", "Joe Biden", None), ("pair.jpg", "Eileen Collins", None),
            ("pair.jpg", "Joe Biden", None), ("chelsea_cat.jpg", "Chelsea", "manual")} <= got
    assert not any(n == "Focus" for _, n, _ in got)  # regions of other types are not people
    # names are user decisions: clustering keeps them; a later rename in photoface wins over the tags
    api.cluster(db, full=True)
    assert ("obama.jpg", "Barack Obama", None) in {(os.path.basename(f[1]), f[6], f[7]) for f in faces(db)}
    fid = next(f[0] for f in faces(db) if f[1].endswith("/obama.jpg"))
    api.move(db, [fid], "Someone Else")
    out = api.tags_read(db)
    assert [(c["tags"], c["photoface"]) for c in out["conflicts"]] == [("Barack Obama", "Someone Else")]
    api.undo(db)  # the move
    before = faces(db)
    assert api.tags_read(db)["named"] == [] and faces(db) == before  # read twice: nothing more
    # a face ignored, or said not to be someone, in photoface stays so: the tags' name is a conflict
    eileen = next(f[0] for f in faces(db) if f[6] == "Eileen Collins")
    biden = next(f[0] for f in faces(db) if f[1].endswith("/biden.jpg"))
    api.ignore(db, [eileen])
    api.reject(db, [biden])
    out = api.tags_read(db)
    assert sorted((c["tags"], c["photoface"]) for c in out["conflicts"]) == [
        ("Eileen Collins", "(ignored)"), ("Joe Biden", "not Joe Biden")]
    assert out["named"] == [] and not any(f[6] for f in faces(db) if f[0] in (eileen, biden))


def test_bad_tags_are_skipped_never_a_crash(tagged, capsys):
    folder, db = tagged
    (folder / "obama.jpg.xmp").write_text("this is not XML")
    (folder / "biden.xmp").write_bytes(os.urandom(300))
    w, h = Image.open(folder / "chelsea_cat.jpg").size
    write_with_exiftool(folder / "chelsea_cat.jpg.xmp", {"XMP-mwg-rs:RegionInfo": {"RegionList": [
        {"Area": {"X": 3.0, "Y": 3.0, "W": 0.1, "H": 0.1, "Unit": "normalized"}, "Name": "Outside", "Type": "Face"},
        {"Area": {"X": 0.5, "Y": 0.5, "W": 0.0, "H": 0.0, "Unit": "normalized"}, "Name": "Empty", "Type": "Face"},
        {"Area": {"X": 0.5, "Y": 0.5, "W": 0.2, "H": 0.2, "Unit": "normalized"}, "Type": "Face"},
        {"Area": {"X": 0.5, "Y": 0.5, "W": 0.2, "H": 0.2, "Unit": "normalized"}, "Name": "Rex", "Type": "Pet"}]}})
    before = faces(db)
    assert main(["tags", "read", "--db", db]) == 0
    assert faces(db) == before and "0 named region(s)" in capsys.readouterr().out


def mwg_tags(box, name, size) -> dict:
    """An MWG face region for ``box`` (pixels) the way digiKam and Lightroom write one."""
    w, h = size
    x1, y1, x2, y2 = box
    return {"XMP-mwg-rs:RegionInfo": {"AppliedToDimensions": {"W": w, "H": h, "Unit": "pixel"}, "RegionList": [
        {"Area": {"X": (x1 + x2) / 2 / w, "Y": (y1 + y2) / 2 / h, "W": (x2 - x1) / w, "H": (y2 - y1) / h,
                  "Unit": "normalized"}, "Name": name, "Type": "Face"}]}}


def named(db) -> set[tuple[str, str]]:
    return {(os.path.basename(f[1]), f[6]) for f in faces(db) if f[6]}


def test_index_reads_the_tags_other_apps_wrote_and_takes_their_later_changes(tmp_path, capsys):
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("obama.jpg", "biden.jpg", "obama3.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    compose_group(["astronaut.jpg", "biden.jpg"]).save(folder / "pair.jpg", quality=92)
    db = str(tmp_path / "t.db")
    assert main(["index", str(folder), "--db", db, "--scheduler", "sync", "--no-tags"]) == 0
    assert named(db) == set() and "face tags" not in capsys.readouterr().out
    box = {os.path.basename(f[1]): f[2:6] for f in faces(db)}
    size = {p.name: Image.open(p).size for p in folder.glob("*.jpg")}
    write_with_exiftool(folder / "obama.jpg.xmp", mwg_tags(box["obama.jpg"], "Barack Obama", size["obama.jpg"]))
    write_with_exiftool(folder / "biden.jpg", mwg_tags(box["biden.jpg"], "Joe Biden", size["biden.jpg"]))
    pair = sorted((f for f in faces(db) if f[1].endswith("/pair.jpg")), key=lambda f: f[2])
    pw, ph = size["pair.jpg"]
    write_with_exiftool(folder / "pair.jpg", {"XMP-MP:RegionInfoMP": {"Regions": [
        {"Rectangle": f"{f[2] / pw},{f[3] / ph},{(f[4] - f[2]) / pw},{(f[5] - f[3]) / ph}", "PersonDisplayName": n}
        for f, n in zip(pair, ("Eileen Collins", "Joe Biden"))]}})
    write_with_exiftool(folder / "obama3.jpg.xmp", {"XMP-iptcExt:PersonInImage": ["Barack Obama"]})  # no region

    assert main(["index", str(folder), "--db", db, "--scheduler", "sync"]) == 0
    out = capsys.readouterr().out
    assert "face tags: 4 named region(s) in 4 photo(s): 5 face(s) named" in out
    assert "2 indexed" in out  # the two files another app wrote into were indexed again
    assert named(db) == {("obama.jpg", "Barack Obama"), ("obama3.jpg", "Barack Obama"), ("biden.jpg", "Joe Biden"),
                         ("pair.jpg", "Eileen Collins"), ("pair.jpg", "Joe Biden")}
    assert main(["people", "--db", db]) == 0
    assert "Joe Biden [from tags]" in capsys.readouterr().out
    from photoface.web import create_app

    with sqlite3.connect(db) as conn:
        (biden_id,) = conn.execute("SELECT id FROM people WHERE name = 'Joe Biden'").fetchone()
    page = create_app(db).test_client().get(f"/person/{biden_id}").get_data(as_text=True)
    assert "named from the photos&#39; tags" in page
    # the library's own tags are the truth `eval cluster --from-tags` scores against
    assert main(["eval", "cluster", "--from-tags", "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["faces"], report["true_people"], report["library_faces"]) == (5, 3, 5)
    assert {r["algorithm"] for r in report["results"]} >= {"photoface"} and len(report["results"]) >= 2
    assert all(0 <= r["right"] <= 1 and 0 <= r["bcubed_f1"] <= 1 for r in report["results"])

    # nothing changed: the next index reads no tags at all
    assert main(["index", str(folder), "--db", db, "--scheduler", "sync", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"]["photos"] == 0
    # renamed in digiKam: taken; renamed in photoface first: photoface's name kept, the conflict listed
    write_with_exiftool(folder / "obama.jpg.xmp", mwg_tags(box["obama.jpg"], "Barack H. Obama", size["obama.jpg"]))
    biden = next(f[0] for f in faces(db) if f[1].endswith("/biden.jpg"))
    api.move(db, [biden], "Joseph Biden", as_new=True)
    biden_box = next(f[2:6] for f in faces(db) if f[0] == biden)
    write_with_exiftool(folder / "biden.jpg", mwg_tags(biden_box, "Joe R. Biden", size["biden.jpg"]))
    # the pair's regions removed in Windows Photo Gallery: those names go too
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-MP:RegionInfoMP=", str(folder / "pair.jpg")], check=True)
    assert main(["index", str(folder), "--db", db, "--scheduler", "sync"]) == 0
    out = capsys.readouterr().out
    assert "'Joseph Biden' in photoface, 'Joe R. Biden' in the tags: photoface's kept" in out
    assert "2 unnamed" in out
    assert named(db) == {("obama.jpg", "Barack H. Obama"), ("obama3.jpg", "Barack Obama"),
                         ("biden.jpg", "Joseph Biden")}
    assert api.undo(db)  # the whole read is one change
    assert ("pair.jpg", "Joe Biden") in named(db)


def test_reindexing_a_file_another_app_changed_keeps_its_names(tagged):
    folder, db = tagged
    fid = next(f[0] for f in faces(db) if f[1].endswith("/obama.jpg"))
    api.move(db, [fid], "Barack Obama")
    api.reject(db, [next(f[0] for f in faces(db) if f[1].endswith("/biden.jpg"))], "Barack Obama")
    for name in ("obama.jpg", "biden.jpg"):  # another app edits metadata inside the files
        subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-XMP-dc:Title=edited", str(folder / name)], check=True)
    out = api.index(str(folder), db, scheduler="sync", settings=None)
    assert out.photos_changed == 2
    (new,) = [f for f in faces(db) if f[1].endswith("/obama.jpg")]
    assert new[0] != fid and new[6] == "Barack Obama"  # a new face row where the old one lay, same person
    biden = next(f[0] for f in faces(db) if f[1].endswith("/biden.jpg"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM rejections WHERE face_id = ?", [biden]).fetchone()[0] == 1


def test_tags_write_both_formats_odd_names_unwritable_and_changing_files(tagged, tmp_path, capsys):
    from photoface import tag_sync, tags
    from photoface.db import open_store

    folder, db = tagged
    odd = "Zoë O'Brien-Ñúñez <&> \"Jr\""
    obama = next(f for f in faces(db) if f[1].endswith("/obama.jpg"))
    api.move(db, [obama[0]], odd)
    api.move(db, [f[0] for f in faces(db) if f[1].endswith("/biden.jpg")], "Joe Biden")
    (folder / "biden.jpg.xmp").mkdir()  # where the sidecar would go, something that is not a file
    assert main(["tags", "write", "--format", "both", "--db", db]) == 1
    out = capsys.readouterr().out
    assert "1 file(s) written, 1 failed" in out and "failed: " in out
    meta = exif_json(folder / "obama.jpg.xmp")
    (mp,) = meta["XMP-MP:RegionInfoMP"]["Regions"]
    assert mp["PersonDisplayName"] == odd and meta["XMP-mwg-rs:RegionInfo"]["RegionList"][0]["Name"] == odd
    x, y, w, h = (float(v) for v in mp["Rectangle"].split(","))
    iw, ih = Image.open(folder / "obama.jpg").size
    assert obama[2] < (x + w / 2) * iw < obama[4] and obama[3] < (y + h / 2) * ih < obama[5]
    fresh = str(tmp_path / "fresh.db")  # a new library reads the name back once, from both kinds of region
    api.index(str(folder), fresh, scheduler="sync")
    assert named(fresh) == {("obama.jpg", odd)}
    # a file another app changes between photoface's reading and writing is left for the next run
    (folder / "biden.jpg.xmp").rmdir()
    with open_store(db) as store:
        entries = tag_sync.plan_write(store, None, False, "photo.jpg.xmp", microsoft=True)
    assert [os.path.basename(e["SourceFile"]) for e in entries] == ["biden.jpg.xmp"]
    write_with_exiftool(folder / "biden.jpg.xmp", {"XMP-dc:Title": "written meanwhile"})
    assert tags.write_tags(entries) == [(str(folder / "biden.jpg.xmp"),
                                         "changed by another app while photoface was writing: run again")]
    assert exif_json(folder / "biden.jpg.xmp")["XMP-dc:Title"] == "written meanwhile"
    assert main(["tags", "write", "--db", db]) == 0  # the next run writes it, keeping the other app's title
    meta = exif_json(folder / "biden.jpg.xmp")
    assert meta["XMP-dc:Title"] == "written meanwhile" and meta["XMP-iptcExt:PersonInImage"] == ["Joe Biden"]


def test_a_photo_whose_name_is_not_utf8_gets_its_tags_written_and_read(tmp_path, capsys):
    folder = tmp_path / "lib"
    folder.mkdir()
    photo = os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9.jpg")  # Latin-1 bytes: not UTF-8
    shutil.copy(PHOTOS / "obama.jpg", photo)
    db = str(tmp_path / "t.db")
    api.index(str(folder), db, scheduler="sync")
    api.move(db, [faces(db)[0][0]], "Barack Obama")
    assert main(["tags", "write", "--db", db]) == 0
    assert "1 file(s) written, 0 failed" in capsys.readouterr().out
    assert os.path.isfile(photo + ".xmp")
    fresh = str(tmp_path / "fresh.db")
    api.index(str(folder), fresh, scheduler="sync")
    assert [f[6] for f in faces(fresh)] == ["Barack Obama"]


def test_only_jpegs_whose_metadata_names_a_face_tag_are_read_by_exiftool(tmp_path):
    from photoface.tags import may_hold_tags

    plain = tmp_path / "plain.jpg"
    shutil.copy(PHOTOS / "obama.jpg", plain)
    assert not may_hold_tags(str(plain))
    write_with_exiftool(plain, {"XMP-dc:Title": "a title, no faces"})
    assert not may_hold_tags(str(plain))
    write_with_exiftool(plain, {"XMP-iptcExt:PersonInImage": ["Barack Obama"]})
    assert may_hold_tags(str(plain))
    mp = tmp_path / "mp.jpg"
    shutil.copy(PHOTOS / "biden.jpg", mp)
    write_with_exiftool(mp, {"XMP-MP:RegionInfoMP": {"Regions": [{"Rectangle": "0.1,0.1,0.2,0.2",
                                                                   "PersonDisplayName": "Joe Biden"}]}})
    assert may_hold_tags(str(mp))
    load_rgb("obama.jpg").save(tmp_path / "p.png")
    assert may_hold_tags(str(tmp_path / "p.png"))  # other formats: ExifTool looks
    (tmp_path / "cut.jpg").write_bytes(plain.read_bytes()[:20])
    assert not may_hold_tags(str(tmp_path / "cut.jpg"))


def test_tags_read_ahead_are_used_only_while_their_file_is_unchanged(tmp_path):
    """`index` reads the new photos' tags with ExifTool while it detects faces; a tag file
    changed after that read is read again, so a name another app wrote meanwhile is never
    lost, and an index run with the read ahead names the faces as one without it."""
    from photoface import tags

    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("obama.jpg", "biden.jpg", "chelsea_cat.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    size = Image.open(folder / "obama.jpg").size
    write_with_exiftool(folder / "obama.jpg.xmp", mwg_tags((0, 0, size[0], size[1]), "Barack Obama", size))
    photos = [str(folder / n) for n in ("obama.jpg", "biden.jpg", "chelsea_cat.jpg")]
    ahead = tags.read_ahead(photos)
    sidecar = str(folder / "obama.jpg.xmp")
    assert sidecar in ahead and "Barack Obama" in json.dumps(ahead[sidecar][1])
    files = sorted({f for p in photos for f in tags.tag_files(p)})
    have, missing = tags.prefetched(files, ahead)
    assert sidecar in have and not missing
    write_with_exiftool(folder / "obama.jpg.xmp", mwg_tags((0, 0, size[0], size[1]), "Barack H. Obama", size))
    have, missing = tags.prefetched(files, ahead)
    assert sidecar in missing and sidecar not in have
    assert "Barack H. Obama" in json.dumps(tags.read_metadata(missing)[sidecar])
    api.index(str(folder), str(tmp_path / "t.db"), scheduler="sync")
    assert named(str(tmp_path / "t.db")) == {("obama.jpg", "Barack H. Obama")}
    stopped = threading.Event()
    stopped.set()  # a run that stops early: nothing more is read
    assert tags.read_ahead(photos, stopped) == {}
