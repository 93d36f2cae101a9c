"""Face tags other photo apps read and write: MWG regions (digiKam, Lightroom, Immich,
PhotoPrism, LibrePhotos), Microsoft People Tagging regions (Windows Photo Gallery, Picasa)
and IPTC PersonInImage names, in XMP sidecars (PHOTO.jpg.xmp, PHOTO.xmp) and embedded.

ExifTool does the reading and writing (Debian's libimage-exiftool-perl): it reads and
writes XMP in every format photoface indexes, writes a file beside the original and
renames it over (never re-encoding the image), and keeps every field it is not asked to
change. It runs once per batch of files, not once per file.

Boxes: photoface keeps boxes in the photo's pixels as shown (EXIF orientation applied);
MWG areas are normalized centre and size in the stored image's frame, Microsoft rectangles
normalized top-left and size in the same frame. to_stored / to_shown convert.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from .errors import InputError

#: Sidecar names, as other apps make them: PHOTO.jpg.xmp (digiKam, darktable, Immich) or
#: PHOTO.xmp (Lightroom, exiftool's default). A photo's existing sidecar is always used.
SIDECAR_STYLES = ("photo.jpg.xmp", "photo.xmp")
#: Files per ExifTool call.
BATCH = 200


@dataclass(frozen=True)
class TagRegion:
    """A named face region as another app wrote it, in the photo's pixels as shown."""

    name: str
    box: tuple[float, float, float, float]
    kind: str  # "mwg" or "microsoft"
    where: str  # the file it was read from


def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        raise InputError("reading and writing face tags needs ExifTool: install it (Debian/Ubuntu: "
                         "apt-get install libimage-exiftool-perl; macOS: brew install exiftool)")
    return path


def sidecars(photo: str) -> list[str]:
    """The photo's existing XMP sidecars, PHOTO.jpg.xmp first."""
    base = os.path.splitext(photo)[0]
    return [p for p in (photo + ".xmp", base + ".xmp", base + ".XMP") if os.path.isfile(p)]


def sidecar_for(photo: str, style: str = SIDECAR_STYLES[0]) -> str:
    """Where photoface writes a photo's tags: its existing sidecar, else a new one named by ``style``."""
    found = sidecars(photo)
    if found:
        return found[0]
    return photo + ".xmp" if style == "photo.jpg.xmp" else os.path.splitext(photo)[0] + ".xmp"


# --- orientation ---------------------------------------------------------------------------
def _shown_point(u: float, v: float, orientation: int) -> tuple[float, float]:
    """A normalized point of the stored image, where it appears once EXIF orientation is applied."""
    return {1: (u, v), 2: (1 - u, v), 3: (1 - u, 1 - v), 4: (u, 1 - v), 5: (v, u), 6: (1 - v, u),
            7: (1 - v, 1 - u), 8: (v, 1 - u)}.get(orientation, (u, v))


_INVERSE = {6: 8, 8: 6}


def _map_box(box, orientation: int, inverse: bool) -> tuple[float, float, float, float]:
    o = _INVERSE.get(orientation, orientation) if inverse else orientation
    (a, b), (c, d) = _shown_point(box[0], box[1], o), _shown_point(box[2], box[3], o)
    return min(a, c), min(b, d), max(a, c), max(b, d)


def to_shown(norm_box, orientation: int) -> tuple[float, float, float, float]:
    """A normalized x1, y1, x2, y2 box of the stored image -> normalized in the image as shown."""
    return _map_box(norm_box, orientation, inverse=False)


def to_stored(norm_box, orientation: int) -> tuple[float, float, float, float]:
    """A normalized box of the image as shown -> normalized in the stored image (MWG's frame)."""
    return _map_box(norm_box, orientation, inverse=True)


# --- reading -------------------------------------------------------------------------------
def _run(args: list[str]) -> list[dict]:
    proc = subprocess.run([exiftool(), "-j", "-struct", "-n", "-G1", "-q", "-q", *args], capture_output=True)
    out = proc.stdout.decode("utf-8", "surrogateescape")  # file names as Python spells them (os.fsdecode)
    try:
        return json.loads(out) if out.strip() else []
    except ValueError:
        return []


def read_metadata(paths: list[str], stop=None) -> dict[str, dict]:
    """{file: its tags (MWG and Microsoft regions, PersonInImage, orientation)} for the files
    that exist; files ExifTool cannot read are left out. ``stop`` (a threading.Event), once
    set, ends the reading after the current batch of files."""
    wanted = ["-XMP-mwg-rs:RegionInfo", "-XMP-MP:RegionInfoMP", "-XMP-iptcExt:PersonInImage",
              "-XMP-dc:Subject", "-IFD0:Orientation", "-File:ImageWidth", "-File:ImageHeight", "-ExifTool:Error"]
    out = {}
    files = [p for p in paths if os.path.isfile(p)]
    for start in range(0, len(files), BATCH):
        if stop is not None and stop.is_set():
            break
        batch = files[start:start + BATCH]
        rows = _run([*wanted, *batch])
        if len(rows) == len(batch):  # one row per file, in order: also for names that are not UTF-8,
            out.update(zip(batch, rows))  # which ExifTool's JSON cannot spell
        else:
            out.update((row["SourceFile"], row) for row in rows)
    for path, row in out.items():
        if path.lower().endswith(".xmp") and "ExifTool:Error" not in row and not _looks_like_xmp(path):
            row["ExifTool:Error"] = "not an XMP sidecar"  # ExifTool reads any text as an empty one
    return out


def tag_files(photo: str, side: list[str] | None = None) -> list[str]:
    """The files ExifTool reads for a photo's face tags: its sidecars (``side`` when the
    caller listed them already), and the photo itself when it has one (for its orientation)
    or may carry tags (may_hold_tags)."""
    side = sidecars(photo) if side is None else side
    return [*side, *([photo] if side or may_hold_tags(photo) else [])]


def read_ahead(photos: list[str], stop=None) -> dict[str, tuple[str, dict]]:
    """read_metadata of the tag files of ``photos``, each with its signature when read:
    {file: (signature, tags)}. A caller uses an entry only while the file's signature is
    unchanged (prefetched). ``stop``: as read_metadata's."""
    found: set[str] = set()
    for photo in photos:
        if stop is not None and stop.is_set():
            return {}
        found.update(tag_files(photo))
    files = sorted(found)
    before = {f: signature([f]) for f in files}
    return {f: (before[f], row) for f, row in read_metadata(files, stop).items()}


def prefetched(files: list[str], ahead: dict[str, tuple[str, dict]] | None) -> tuple[dict[str, dict], list[str]]:
    """The tags of ``files`` read ahead and still current, and the files to read now."""
    have, missing = {}, []
    for f in files:
        got = (ahead or {}).get(f)
        if got is not None and got[0] == signature([f]):
            have[f] = got[1]
        else:
            missing.append(f)
    return have, missing


#: Words one of the face tags photoface reads leaves in a photo's XMP.
_TAG_WORDS = (b"RegionInfo", b"PersonInImage", b"mwg-rs", b"microsoft.com/photo")


def may_hold_tags(path: str) -> bool:
    """Whether a photo may carry face tags, so that ExifTool must read it: a JPEG whose
    metadata segments (read up to the image data, big ones skipped) name none of them cannot;
    any other format may (its XMP can be anywhere)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\xff\xd8":
                return True
            while True:
                head = fh.read(4)
                if len(head) < 4 or head[0] != 0xFF:
                    return False
                marker, length = head[1], int.from_bytes(head[2:4], "big")
                if marker == 0xDA or length < 2:  # the image data: no metadata after it
                    return False
                if marker == 0xE1:  # APP1: EXIF or XMP
                    segment = fh.read(length - 2)
                    if any(w in segment for w in _TAG_WORDS):
                        return True
                else:
                    fh.seek(length - 2, os.SEEK_CUR)
    except OSError:
        return True  # let ExifTool say what is wrong with it


def _looks_like_xmp(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    return b"xmpmeta" in head or b"rdf:RDF" in head or b"x:xapmeta" in head


def unreadable(meta: dict) -> str | None:
    """Why ExifTool could not read one file's tags, or None."""
    return meta.get("ExifTool:Error")


def person_names(meta: dict) -> list[str]:
    """The photo-level person names (IPTC PersonInImage) in one file's tags."""
    return [n for n in (" ".join(str(v).split()) for v in as_list(meta.get("XMP-iptcExt:PersonInImage"))) if n]


def signature(files: list[str]) -> str:
    """What a photo's tag files are now (names, sizes, modification times): reading them
    again is needed only when this changes."""
    parts = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        parts.append(os.fsencode(os.path.basename(f)) + f":{st.st_size}:{st.st_mtime_ns}|".encode())
    return hashlib.sha1(b"".join(parts)).hexdigest()


def as_list(value) -> list:
    """A tag's value as a list (ExifTool gives one value bare)."""
    return value if isinstance(value, list) else [] if value is None else [value]


def orientation_of(meta: dict) -> int:
    """A photo's EXIF orientation (1-8) from its own tags (a sidecar's regions are in the
    stored frame of the photo it belongs to)."""
    try:
        value = int(meta.get("IFD0:Orientation") or 1)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def regions_of(meta: dict, shown_w: int, shown_h: int, where: str, orientation: int) -> list[TagRegion]:
    """The named face regions in one file's tags, in pixels of the photo as shown (``shown_w``
    x ``shown_h``; ``orientation``: the photo's). Regions of other types (pets, focus),
    unnamed, empty or outside the image are left out."""
    out = []
    mwg = meta.get("XMP-mwg-rs:RegionInfo") or {}
    for r in as_list(mwg.get("RegionList") if isinstance(mwg, dict) else None):
        box = mwg_box(r, shown_w, shown_h, orientation)
        if box:
            out.append(TagRegion(" ".join(str(r["Name"]).split()), box, "mwg", where))
    mp = meta.get("XMP-MP:RegionInfoMP") or {}
    for r in as_list(mp.get("Regions") if isinstance(mp, dict) else None):
        box = mp_box(r, shown_w, shown_h, orientation)
        if box:
            out.append(TagRegion(" ".join(str(r["PersonDisplayName"]).split()), box, "microsoft", where))
    return out


def mp_box(region, shown_w: int, shown_h: int, orientation: int) -> tuple[float, float, float, float] | None:
    """A named Microsoft People Tagging region's box in pixels of the photo as shown (its
    Rectangle: normalized left, top, width, height in the stored image); None when unnamed,
    malformed, empty or outside the image."""
    if not isinstance(region, dict) or not str(region.get("PersonDisplayName", "")).strip():
        return None
    try:
        x, y, w, h = (float(v) for v in str(region["Rectangle"]).split(","))
    except (KeyError, ValueError):
        return None
    return _pixels(to_shown((x, y, x + w, y + h), orientation), shown_w, shown_h)


def mwg_box(region, shown_w: int, shown_h: int, orientation: int) -> tuple[float, float, float, float] | None:
    """A named MWG face region's box in pixels of the photo as shown; None for regions of
    other types (pets, focus), unnamed, malformed, empty or outside the image."""
    if not isinstance(region, dict) or region.get("Type", "Face") != "Face" or not str(region.get("Name", "")).strip():
        return None
    area = region.get("Area") if isinstance(region.get("Area"), dict) else {}
    try:
        x, y, w, h = (float(area[k]) for k in ("X", "Y", "W", "H"))
    except (KeyError, TypeError, ValueError):
        return None
    return _pixels(to_shown((x - w / 2, y - h / 2, x + w / 2, y + h / 2), orientation), shown_w, shown_h)


def _pixels(norm, w: int, h: int) -> tuple[float, float, float, float] | None:
    """A normalized box in pixels, clipped to the image; None when empty or outside it."""
    x1, y1 = max(norm[0], 0.0) * w, max(norm[1], 0.0) * h
    x2, y2 = min(norm[2], 1.0) * w, min(norm[3], 1.0) * h
    return (x1, y1, x2, y2) if x2 - x1 >= 1 and y2 - y1 >= 1 else None




# --- writing -------------------------------------------------------------------------------
def mwg_region(name: str, shown_box, shown_w: int, shown_h: int, orientation: int) -> dict:
    """One MWG face region for ``shown_box`` (pixels of the photo as shown)."""
    x1, y1, x2, y2 = to_stored((shown_box[0] / shown_w, shown_box[1] / shown_h, shown_box[2] / shown_w,
                                shown_box[3] / shown_h), orientation)
    return {"Area": {"X": round((x1 + x2) / 2, 6), "Y": round((y1 + y2) / 2, 6), "W": round(x2 - x1, 6),
                     "H": round(y2 - y1, 6), "Unit": "normalized"}, "Name": name, "Type": "Face"}


def mp_region(name: str, shown_box, shown_w: int, shown_h: int, orientation: int) -> dict:
    """One Microsoft People Tagging region (Windows Photo Gallery, Picasa) for ``shown_box``."""
    x1, y1, x2, y2 = to_stored((shown_box[0] / shown_w, shown_box[1] / shown_h, shown_box[2] / shown_w,
                                shown_box[3] / shown_h), orientation)
    return {"Rectangle": ", ".join(f"{v:.6f}" for v in (x1, y1, x2 - x1, y2 - y1)), "PersonDisplayName": name}


def file_state(path: str) -> tuple[int, int] | None:
    """A file's size and modification time, to tell whether another app changed it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def write_tags(entries: list[dict]) -> list[tuple[str, str]]:
    """Write ExifTool JSON entries ({"SourceFile": file, tag: value}) in batches; the files
    ExifTool refused, with why. A sidecar that does not exist yet is created. A file that
    changed since it was planned ("seen") or cannot be written is left as it is and listed."""
    failed, ready = [], []
    for e in entries:  # "seen": the file as planned; changed since: not written
        why = _cannot_write(e["SourceFile"])
        if why is None and "seen" in e and file_state(e["SourceFile"]) != (tuple(e["seen"]) if e["seen"] else None):
            why = "changed by another app while photoface was writing: run again"
        if why:
            failed.append((e["SourceFile"], why))
        else:
            ready.append({k: v for k, v in e.items() if k != "seen"})
    plain = [e for e in ready if _utf8(e["SourceFile"])]
    batches = [plain[i:i + BATCH] for i in range(0, len(plain), BATCH)]
    batches += [[e] for e in ready if not _utf8(e["SourceFile"])]  # alone, as "*": JSON cannot spell them
    for batch in batches:
        failed += _write_batch(batch)
    return failed


def _utf8(path: str) -> bool:
    try:
        os.fsencode(path).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _write_batch(batch: list[dict]) -> list[tuple[str, str]]:
    alone = len(batch) == 1 and not _utf8(batch[0]["SourceFile"])
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump([{**e, "SourceFile": "*"} for e in batch] if alone else batch, fh)
    try:
        proc = subprocess.run([exiftool(), "-q", "-struct", "-overwrite_original", "-P", f"-json={fh.name}",
                               *[e["SourceFile"] for e in batch]], capture_output=True)
    finally:
        os.unlink(fh.name)
    failed = []
    if proc.returncode != 0:
        errors = proc.stderr.decode("utf-8", "replace").strip()
        for line in errors.splitlines():
            why, _, path = line.partition(" - ")
            if path and any(e["SourceFile"] == path.strip() for e in batch):
                failed.append((path.strip(), why.replace("Error: ", "").strip()))
        if not failed:
            failed = [(e["SourceFile"], errors or "ExifTool failed") for e in batch]
    done = {p for p, _ in failed}
    return failed + [(e["SourceFile"], "ExifTool wrote nothing") for e in batch
                     if e["SourceFile"] not in done and not os.path.isfile(e["SourceFile"])]


def _cannot_write(path: str) -> str | None:
    """Why ``path`` cannot be written (created or replaced: ExifTool writes a new file beside
    it and renames it over), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.path.isfile(path):
        return "not a regular file"
    if not os.path.isdir(folder):
        return "its folder does not exist"
    if not os.access(folder, os.W_OK):
        return "its folder is read-only"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the file is read-only"
    return None
