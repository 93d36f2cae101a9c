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
    named = {(os.path.basename(f[1]), f[6]) for f in faces(db) if f[6]}
    assert {(os.path.basename(f[1]), f[6]) for f in faces(fresh) if f[6]} == named


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
