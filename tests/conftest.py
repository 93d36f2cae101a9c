"""Shared fixtures: the committed real photos, photos composed from them, and bad files."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from photoface import api

if os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n`: one test process per core, so one thread each
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

DATA = Path(__file__).parent / "data"
PHOTOS = DATA / "photos"
MANIFEST = {k: v for k, v in json.loads((DATA / "faces.json").read_text()).items() if not k.startswith("_")}


@pytest.fixture(scope="session")
def manifest() -> dict:
    return MANIFEST


def load_rgb(name: str) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB")


def compose_group(names: list[str], height: int = 420, gap: int = 40) -> Image.Image:
    """Several real photos side by side: one image with one face from each."""
    tiles = []
    for name in names:
        im = load_rgb(name)
        tiles.append(im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS))
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) + 1), height + 2 * gap), (90, 110, 90))
    x = gap
    for tile in tiles:
        canvas.paste(tile, (x, gap))
        x += tile.width + gap
    return canvas


GROUP = ["astronaut.jpg", "biden.jpg", "obama2.jpg"]


@pytest.fixture(scope="session")
def library(tmp_path_factory) -> Path:
    """A small library: the committed photos plus composed ones, in nested folders.

    Expected faces: the manifest's, plus 3 in group.jpg, 1 in rotated_exif.jpg,
    3 in big/huge_group.jpg and 1 in formats/*.
    """
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(PHOTOS, root / "photos")
    group = compose_group(GROUP)
    (root / "events" / "2019").mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0132] = "2019:07:04 18:30:00"
    group.save(root / "events" / "2019" / "group.jpg", quality=92, exif=exif)
    # Stored rotated, displayed upright through EXIF orientation 6 (rotate 90 CW to view).
    upright = load_rgb("obama2.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(root / "events" / "rotated_exif.jpg", quality=92, exif=exif)
    (root / "big").mkdir()
    group.resize((group.width * 4, group.height * 4), Image.Resampling.BICUBIC).save(
        root / "big" / "huge_group.jpg", quality=85)
    return root


@pytest.fixture(scope="session")
def library_faces(manifest) -> int:
    return sum(v["faces"] + v.get("false_detections", 0) for v in manifest.values()) + 3 + 1 + 3


def make_bad_files(folder: Path) -> dict[str, str]:
    """Bad inputs of every kind; returns {relative name: words expected in its error}."""
    folder.mkdir(parents=True, exist_ok=True)
    good = (PHOTOS / "obama2.jpg").read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    (folder / "notes.jpg").write_text("this is a text file with an image name\n")
    (folder / "readme.txt").write_text("not an image and not named like one: ignored\n")
    # A decompression bomb: a tiny PNG that claims 30000 x 30000 pixels.
    Image.new("1", (30000, 30000)).save(folder / "bomb.png", optimize=True)
    return {
        "empty.jpg": "empty file",
        "truncated.jpg": "truncated",
        "corrupt.png": "corrupt",
        "notes.jpg": "not an image",
        "bomb.png": "too large",
    }


@pytest.fixture(scope="session")
def pipeline_spec():
    from photoface.config import Settings
    from photoface.pipeline import PipelineSpec

    return PipelineSpec.from_settings(Settings(device="cpu"))


def face_rows(db_path) -> list[tuple]:
    """(relative path, face_index, rounded box) for every face, and the embeddings, sorted."""
    import sqlite3

    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT p.path, f.face_index, f.x1, f.y1, f.x2, f.y2, f.embedding FROM faces f "
        "JOIN photos p ON p.id = f.photo_id ORDER BY p.path, f.face_index"
    ).fetchall()
    conn.close()
    return [(r[0], r[1], tuple(round(v) for v in r[2:6]), np.frombuffer(r[6], "<f4")) for r in rows]


# --- a small library of real people, indexed once per session ---------------------------
OBAMA = ["obama.jpg", "obama2.jpg", "obama3.jpg"]


def variant_photo(name: str, dest: Path, mirror=False, scale=1.0, crop=0.0) -> None:
    im = load_rgb(name)
    if crop:
        dx, dy = int(im.width * crop), int(im.height * crop)
        im = im.crop((dx, 0, im.width, im.height - dy))
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    if mirror:
        im = ImageOps.mirror(im)
    dest.parent.mkdir(parents=True, exist_ok=True)
    im.save(dest, quality=90)


def build_people_library(root: Path) -> dict[str, set[str]]:
    """Real photos of three people (and variants of them), a group photo, a photo with one
    person twice, and a cat. Returns {person: relative paths of the photos they are in}."""
    for name in OBAMA + ["chelsea_cat.jpg"]:
        (root / "obama").mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTOS / name, root / ("obama" if name in OBAMA else "") / name)
    variant_photo("biden.jpg", root / "biden" / "biden.jpg")
    variant_photo("biden.jpg", root / "biden" / "biden_mirror.jpg", mirror=True)
    variant_photo("biden.jpg", root / "biden" / "biden_small.jpg", scale=0.6, crop=0.08)
    variant_photo("astronaut.jpg", root / "collins" / "astronaut.jpg")
    variant_photo("astronaut.jpg", root / "collins" / "astronaut_mirror.jpg", mirror=True, crop=0.05)
    exif = Image.Exif()
    exif[0x0132] = "2019:07:04 18:30:00"
    (root / "events").mkdir()
    compose_group(["astronaut.jpg", "biden.jpg", "obama2.jpg"]).save(root / "events" / "group.jpg", quality=92,
                                                                     exif=exif)
    compose_group(["obama.jpg", "obama3.jpg"]).save(root / "events" / "twice.jpg", quality=92)
    return {
        "obama": {f"obama/{n}" for n in OBAMA} | {"events/group.jpg", "events/twice.jpg"},
        "biden": {"biden/biden.jpg", "biden/biden_mirror.jpg", "biden/biden_small.jpg", "events/group.jpg"},
        "collins": {"collins/astronaut.jpg", "collins/astronaut_mirror.jpg", "events/group.jpg"},
    }


@pytest.fixture(scope="session")
def indexed_people(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    truth = build_people_library(root / "lib")
    db = root / "template.db"
    api.index(str(root / "lib"), str(db), scheduler="sync")
    return root / "lib", db, truth


@pytest.fixture
def lib(indexed_people, tmp_path):
    """A fresh copy of the indexed library database for one test."""
    folder, template, truth = indexed_people
    db = tmp_path / "photoface.db"
    src = sqlite3.connect(template)
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    return folder, str(db), truth


# --- videos made from the committed photos ------------------------------------------------
def make_video(path: Path, segments: list[tuple[str | None, float]], fps: float = 10.0,
               size: tuple[int, int] = (640, 360), fourcc: str = "mp4v") -> int:
    """Write a video of ``segments``: (photo name or None for a grey card, seconds). Each
    photo is letterboxed into the frame and slowly zoomed, so frames differ like a real
    shot. Returns the number of frames written."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} video here"
    frames = 0
    for name, seconds in segments:
        n = round(seconds * fps)
        if name is None:
            base = np.full((h, w, 3), 128, np.uint8)
        else:
            im = load_rgb(name)
            scale = min(w / im.width, h / im.height)
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
            canvas = Image.new("RGB", (w, h), (30, 30, 30))
            canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
            base = np.asarray(canvas)[:, :, ::-1]
        for k in range(n):
            zoom = 1.0 + 0.04 * k / max(1, n)  # a slow push-in
            m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, zoom)
            writer.write(cv2.warpAffine(base, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
            frames += 1
    writer.release()
    return frames
