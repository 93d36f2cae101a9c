"""The user's decisions about people as the CLI and the web make them: each a change of
label.py under the library's run lock, logged and undoable; while an index or cluster run
holds the library, saved and applied when it ends (``queue_if_busy``). photoface.api
re-exports every function here."""
from __future__ import annotations

from . import label
from .config import Settings
from .db import RunLock, open_store
from .errors import LibraryBusy
from .types import ChangeEvent


def _curate(db: str, fn, *args, queue_if_busy: bool = False) -> dict:
    """A change to people (label.<fn>): under the library's run lock, in the change log.
    While another run holds the lock, the change is refused (LibraryBusy), or with
    ``queue_if_busy`` saved and applied when the library is free: {"queued": id}."""
    try:
        lock = RunLock(db).acquire()
    except LibraryBusy:
        if not queue_if_busy:
            raise
        with open_store(db) as store:
            return {"queued": store.queue_change(fn.__name__, [list(a) if isinstance(a, tuple) else a for a in args])}
    try:
        with open_store(db) as store:
            label.apply_waiting(store)
            return fn(store, *args)
    finally:
        lock.release()


def apply_waiting(db: str) -> int:
    """Apply the changes queued while the library was busy, if it is free now; how many were applied."""
    with open_store(db) as store:
        if not store.has_waiting_changes():
            return 0
    try:
        lock = RunLock(db).acquire()
    except LibraryBusy:
        return 0
    try:
        with open_store(db) as store:
            return len(label.apply_waiting(store))
    finally:
        lock.release()


# --- changes -----------------------------------------------------------------------------
# Each change below takes ``queue_if_busy``: while an index or cluster run holds the library,
# save the change and apply it when the run ends (returns {"queued": id}) instead of refusing.
def name(db: str, person, new_name: str, *, confirm_merge: bool = False, as_new: bool = False,
         queue_if_busy: bool = False) -> dict:
    """Name or rename a person or cluster (by id or current name); label.name says when a
    name another person has (or a near miss of one) needs ``confirm_merge`` (``as_new``)."""
    return _curate(db, label.name, person, new_name, confirm_merge, as_new, queue_if_busy=queue_if_busy)


def check_name(db: str, person, new_name: str, existing_ok: bool = False) -> None:
    """errors.NameConflict if naming ``person`` (None: faces) ``new_name`` would merge them into
    someone (``existing_ok``: adding faces to them is fine) or is a near miss of a name."""
    from .label import check_new_name, resolve_person

    name = " ".join(str(new_name).split())
    with open_store(db) as store:
        if existing_ok and (name.isdigit() or store.people_by_name(name)):
            return
        pid = None if person is None else resolve_person(store, person).id
        check_new_name(store, pid, name)


def merge(db: str, target, source, *, queue_if_busy: bool = False) -> dict:
    """Merge person ``source`` into ``target``."""
    return _curate(db, label.merge, target, source, queue_if_busy=queue_if_busy)


def move(db: str, face_ids, to, *, as_new: bool = False, queue_if_busy: bool = False) -> dict:
    """Move faces to a person (id or name; a new name, not a near miss, creates the person)."""
    return _curate(db, label.move, face_ids, to, as_new, queue_if_busy=queue_if_busy)


def new_person(db: str, face_ids, new_name: str | None = None, *, as_new: bool = False,
               queue_if_busy: bool = False) -> dict:
    """A new person (named or not) made of these faces."""
    return _curate(db, label.new_person, face_ids, new_name, as_new, queue_if_busy=queue_if_busy)


def ignore(db: str, face_ids, ignored: bool = True, *, queue_if_busy: bool = False) -> dict:
    """Not a person of interest: never clustered again (label.ignore; ``ignored=False`` undoes)."""
    return _curate(db, label.ignore, face_ids, ignored, queue_if_busy=queue_if_busy)


def split(db: str, person, face_ids, new_name: str | None = None, *, queue_if_busy: bool = False) -> dict:
    """Split faces off a person into a new person."""
    return _curate(db, label.split, person, face_ids, new_name, queue_if_busy=queue_if_busy)


def reject(db: str, face_ids, person=None, *, queue_if_busy: bool = False) -> dict:
    """"Not this person": remembered, the faces never return to that person."""
    return _curate(db, label.reject, face_ids, person, queue_if_busy=queue_if_busy)


def hide(db: str, person, hidden: bool = True, *, queue_if_busy: bool = False) -> dict:
    return _curate(db, label.hide, person, hidden, queue_if_busy=queue_if_busy)


def undo(db: str, event_id: int | None = None, *, queue_if_busy: bool = False) -> dict:
    """Undo the latest change (a curation or a clustering run)."""
    if event_id is None and queue_if_busy:  # a queued undo undoes what was latest when asked, or nothing
        with open_store(db) as store:
            latest = store.latest_undoable()
        event_id = latest[0] if latest else None
    return _curate(db, label.undo, event_id, queue_if_busy=queue_if_busy)


def history(db: str = "photoface.db", limit: int = 50) -> list[ChangeEvent]:
    """The change log, newest first: who, what, when, and whether it was undone."""
    with open_store(db) as store:
        return store.events(limit)


def add_face(db: str, photo: str, box, name: str | None = None, *, as_new: bool = False,
             settings: Settings | None = None) -> dict:
    """Add a face the detector missed: ``box`` (x1, y1, x2, y2 in the photo's pixels) on an
    indexed photo, embedded as detected faces are (label.add_face); undoable."""
    from .indexer import library_settings
    from .manual import add_face as add

    with RunLock(db), open_store(db) as store:
        return add(store, photo, box, name, as_new, library_settings(store, settings or Settings()))


def delete_face(db: str, face_id: int) -> dict:
    """Delete a face added by hand (label.delete_face); undoable."""
    return _curate(db, label.delete_face, face_id)


# --- face tags in the photos' metadata (tag_sync.py) ------------------------------------------
def tags_write(db: str, *, embed: bool = False, person=None, dry_run: bool = False,
               style: str = "photo.jpg.xmp", regions: str = "mwg") -> dict:
    """photoface's names as MWG regions (``regions`` "both": Microsoft People Tagging regions
    too), PersonInImage and keywords: into sidecars (a photo's existing one, else one named
    by ``style``), into the files with ``embed``; only ``person``'s with it. Files already
    holding them are left alone. {"files", "written", "failed"}."""
    from .tag_sync import plan_write
    from .tags import exiftool, write_tags

    exiftool()  # a clear line now if it is missing
    with open_store(db) as store:
        pid = None if person is None else label.resolve_person(store, person).id
        entries = plan_write(store, pid, embed, style, microsoft=regions == "both")
    failed = [] if dry_run else write_tags(entries)
    bad = {p for p, _ in failed}
    return {"files": [e["SourceFile"] for e in entries], "written": 0 if dry_run else len(entries) - len(bad),
            "failed": [{"path": p, "why": w} for p, w in failed], "dry_run": dry_run}


def tags_read(db: str, *, settings: Settings | None = None) -> dict:
    """Names other apps wrote into the photos (embedded and sidecars) -> photoface's faces
    (tag_sync.read_library); one undoable change."""
    from .indexer import library_settings
    from .tag_sync import read_library
    from .tags import exiftool

    exiftool()
    with RunLock(db), open_store(db) as store:
        return read_library(store, library_settings(store, settings or Settings()))
