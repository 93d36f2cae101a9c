"""Walk folders and find image files, by content as well as by extension; never loops on symlinks."""
from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator

from .types import WorkItem

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .webp .tif .tiff .bmp .dib .gif .heic .heif .hif .avif".split()
)
VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .wmv".split())
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")


def is_video(path: str) -> bool:
    """A video file, by its name (videos are read through OpenCV, photos through Pillow)."""
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def sniff_image(head: bytes) -> str | None:
    """The image format named by a file's first bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 14:
        return "bmp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heif"
    return None


def _looks_like_image(path: str, name: str) -> bool:
    """Image extension (even if the content is bad: it is then recorded as failed), or image content."""
    if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as fh:
            return sniff_image(fh.read(16)) is not None
    except OSError:
        return False


def scan(root: str, known: dict[str, tuple[int, float]] | None = None, errors: list | None = None) -> Iterator[WorkItem]:
    """Yield every image and video file under ``root`` (recursively, sorted, symlinks followed once).

    ``known`` maps paths to (size, mtime) already indexed: those files are yielded without
    opening them, so an unchanged re-scan costs one stat per file. Folders that cannot be
    listed are reported in ``errors`` as (path, message) and skipped.
    """
    known = known or {}
    seen_dirs: set[tuple[int, int]] = set()
    stack = [os.path.abspath(root)]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            _report(errors, folder, f"cannot open folder: {exc.strerror or exc}")
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            continue  # a symlink loop or a second link to a folder already walked
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            _report(errors, folder, f"cannot list folder: {exc.strerror or exc}")
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files and folders, including .thumbnails, .git, our own lock file
            try:
                st = entry.stat()  # follows symlinks
            except OSError as exc:
                problem = _unreachable(entry, exc)
                if problem:
                    yield problem
                continue
            if stat.S_ISDIR(st.st_mode):
                if not _is_thumbnail_cache(entry):
                    subdirs.append(entry.path)
            elif stat.S_ISREG(st.st_mode):
                prior = known.get(entry.path)
                if prior is not None and prior == (st.st_size, st.st_mtime):
                    yield WorkItem(entry.path, st.st_size, st.st_mtime)
                elif _looks_like_image(entry.path, entry.name):
                    yield WorkItem(entry.path, st.st_size, st.st_mtime)
            else:  # a FIFO, a device (a link to /dev/zero), a socket: reading it could block or never end
                kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                        else "a device")
                yield WorkItem(entry.path, 0, st.st_mtime, f"not a regular file: {kind}")
        stack.extend(reversed(subdirs))


def _is_thumbnail_cache(entry: os.DirEntry) -> bool:
    """photoface's own thumbnails beside a library (LIBRARY.thumbs next to the file LIBRARY),
    wherever a library sits: they are copies of faces already indexed, never photos."""
    return entry.name.endswith(".thumbs") and os.path.isfile(entry.path[: -len(".thumbs")])


def _unreachable(entry: os.DirEntry, exc: OSError) -> WorkItem | None:
    """A file name that leads nowhere (a broken or looping symbolic link) with an image or
    video name: recorded as failed, so the user learns of it. Other names are not photos."""
    if os.path.splitext(entry.name)[1].lower() not in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
        return None
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return None  # vanished since the listing
    if exc.errno == errno.ELOOP:
        why = "a symbolic link that loops"
    elif entry.is_symlink():
        why = "a broken symbolic link (its target does not exist)"
    else:
        why = f"cannot be opened: {exc.strerror or exc}"
    return WorkItem(entry.path, 0, st.st_mtime, why)


def _report(errors: list | None, path: str, message: str) -> None:
    log.warning("%s: %s", path, message)
    if errors is not None:
        errors.append((path, message))
