"""What a user decides about people: name, merge, move, split, reject, hide, and undo.

Every change runs in one transaction and is written to the events table with a
snapshot of what it touched, so `undo` can put back exactly what was there before.
Faces a user placed are pinned (assigned_by = 'user'): no clustering run moves them.
"""
from __future__ import annotations

import difflib
from contextlib import contextmanager

from .config import NEAR_NAME_RATIO
from .db import Store
from .errors import InputError, NameConflict
from .types import BY_USER, FROM_TAGS, FaceState, Person, StoredFace


class Change:
    """Snapshots taken before a change, turned into an undo payload."""

    def __init__(self, store: Store):
        self.store = store
        self.faces: dict[int, FaceState] = {}
        self.people: dict[int, Person | None] = {}
        self.rejections: dict[tuple[int, int], bool] = {}
        self.added_faces: list[int] = []
        self.removed_faces: list[dict] = []

    def save_faces(self, face_ids) -> None:
        ids = [int(i) for i in face_ids if int(i) not in self.faces]
        for state in self.store.face_states(ids):
            self.faces[state.id] = state

    def save_face_states(self, states) -> None:
        """Snapshots already read by the caller."""
        for state in states:
            self.faces.setdefault(int(state.id), state)

    def save_person(self, person_id: int) -> None:
        if person_id not in self.people:
            self.people[person_id] = self.store.person(person_id)

    def created_person(self, person_id: int) -> None:
        self.people.setdefault(person_id, None)

    def save_rejection(self, face_id: int, person_id: int) -> None:
        key = (int(face_id), int(person_id))
        if key not in self.rejections:
            self.rejections[key] = self.store.is_rejected(*key)

    def added_face(self, face_id: int) -> None:
        self.added_faces.append(int(face_id))

    def removing_face(self, face_id: int) -> None:
        """Before a face row is deleted: all of it, to be put back."""
        self.removed_faces.append(self.store.face_row(face_id))

    def payload(self) -> bytes:
        return self.store.snapshot_payload(self.faces.values(), self.people, self.rejections, self.added_faces,
                                           self.removed_faces)


@contextmanager
def change(store: Store, action: str, summary_fn, details: dict):
    """Run a change in one transaction and log it; ``summary_fn()`` describes it afterwards."""
    rec = Change(store)
    with store.atomic():
        yield rec
        store.record_event(action, summary_fn(), details, rec.payload())


# --- looking things up -------------------------------------------------------------------
def resolve_person(store: Store, ref) -> Person:
    """A person from an id ("12") or a name ("Alice Martin"); a clear InputError otherwise."""
    text = str(ref).strip()
    if text.isdigit():
        person = store.person(int(text))
        if person is None:
            raise InputError(f"no person or cluster with id {text} (`photoface people` lists them)")
        return person
    matches = store.people_by_name(text)
    if not matches:
        near = near_names(store, text)
        hint = f"did you mean {_listed(near)}?" if near else "`photoface people` lists them"
        raise InputError(f"no person named {text!r} ({hint})")
    if len(matches) > 1:
        ids = ", ".join(str(m.id) for m in matches)
        raise InputError(f"{len(matches)} people are named {text!r} (ids {ids}): use an id")
    return matches[0]


def resolve_faces(store: Store, face_ids) -> list[StoredFace]:
    faces = []
    for fid in face_ids:
        face = store.face(int(fid))
        if face is None:
            raise InputError(f"no face with id {fid} (`photoface people ID` lists a person's faces)")
        faces.append(face)
    if not faces:
        raise InputError("no face ids given")
    return faces


def _check_photo_rule(store: Store, faces: list[StoredFace], person_id: int) -> None:
    """Refuse to put two faces of one photo into one person (face tracks of a video are
    exempt: a person can appear in a video several times)."""
    moving = {f.id for f in faces}
    seen = {}
    for face in faces:
        if face.t_start is not None:
            continue
        if face.photo_id in seen:
            raise InputError(f"faces {seen[face.photo_id]} and {face.id} are in the same photo: "
                             "one photo cannot show the same person twice")
        seen[face.photo_id] = face.id
        other = store.photo_face_in_person(person_id, face.photo_id, moving)
        if other:
            raise InputError(f"face {face.id} is in the same photo as face {other}, already in person "
                             f"{person_id}: move that face first")


def near_names(store: Store, text: str, other_than: int | None = None) -> list[tuple[int, str]]:
    """People whose names are near misses of ``text`` (config.NEAR_NAME_RATIO), closest first."""
    names = {pid: n for pid, n in store.person_names().items() if n and pid != other_than}
    folded = {}
    for pid, n in names.items():
        folded.setdefault(n.casefold(), pid)
    close = difflib.get_close_matches(" ".join(text.split()).casefold(), folded, n=3, cutoff=NEAR_NAME_RATIO)
    return [(folded[c], names[folded[c]]) for c in close if names[folded[c]].casefold() != text.casefold()]


def _listed(people: list[tuple[int, str]]) -> str:
    return " or ".join(f"{name!r} (person {pid})" for pid, name in people)


def check_new_name(store: Store, person_id: int | None, new_name: str, confirm_merge: bool = False,
                   as_new: bool = False) -> None:
    """Refuse a name that would surprise: another person's (NameConflict, taken: naming
    merges the two, so ``confirm_merge`` must say so) or a near miss of one (NameConflict:
    ``as_new`` says it is meant as a new name)."""
    holder = name_holder(store, new_name, person_id)
    if holder and not confirm_merge:
        count = len(store.face_ids_of(holder.id))
        who = f"person {person_id}" if person_id is not None else "these faces"
        raise NameConflict(f"person {holder.id} is already named {holder.name!r} ({count} faces): merge {who} "
                           f"into them with --merge, or choose another name", [(holder.id, holder.name)], True)
    if not holder and not as_new:
        near = near_names(store, new_name, person_id)
        if near:
            raise NameConflict(f"did you mean {_listed(near)}? To use {new_name!r} as a new name, add --new",
                               near, False)


def name_holder(store: Store, name: str, other_than: int | None) -> Person | None:
    """The person other than ``other_than`` who already has ``name`` (names are unique, in
    any case): naming someone else so merges the two into them."""
    return next((p for p in store.people_by_name(name) if p.id != other_than), None)


def give_name(store: Store, rec: "Change", person_id: int, new_name: str, source: str, confidence: float) -> dict:
    """Give a machine-proposed name (gallery, classifier) inside the caller's change; a person
    who already has that name takes this one's faces (unpinned)."""
    holder = name_holder(store, new_name, person_id)
    if holder:
        merge_into(store, rec, holder, store.person(person_id), pin=False)
        return {"person": holder.id, "name": new_name, "merged": person_id}
    rec.save_person(person_id)
    store.update_person(person_id, name=new_name, name_source=source, name_confidence=confidence)
    return {"person": person_id, "name": new_name, "merged": None}


# --- the operations ------------------------------------------------------------------------
def name(store: Store, ref, new_name: str, confirm_merge: bool = False, as_new: bool = False) -> dict:
    """Name (or rename) a person or cluster. A name another person already has merges the
    two, only with ``confirm_merge``; a near miss of another person's name needs ``as_new``."""
    new_name = " ".join(str(new_name).split())
    if not new_name:
        raise InputError("a name cannot be empty")
    if new_name.isdigit():
        raise InputError(f"a name cannot be only digits ({new_name!r}): ids look like that")
    person = resolve_person(store, ref)
    check_new_name(store, person.id, new_name, confirm_merge, as_new)
    holder = name_holder(store, new_name, person.id)
    if holder:
        return merge(store, holder.id, person.id, action="name")
    with change(store, "name", lambda: f"renamed {person.label} to {new_name!r}" if person.name
                else f"named cluster {person.id} {new_name!r}",
                {"person": person.id, "old": person.name, "new": new_name}) as rec:
        rec.save_person(person.id)
        store.update_person(person.id, name=new_name, name_source=BY_USER, name_confidence=None)
    return {"person": person.id, "name": new_name, "merged": None}


def merge(store: Store, target_ref, source_ref, action: str = "merge") -> dict:
    """Move every face of ``source`` into ``target`` and remove ``source``.

    Where both have a face in the same photo, the source's face is left unassigned (one
    photo cannot show one person twice); the result says how many.
    """
    target, source = resolve_person(store, target_ref), resolve_person(store, source_ref)
    if target.id == source.id:
        raise InputError(f"cannot merge {target.label} with itself")
    result = {"person": target.id, "name": target.name or source.name, "merged": source.id,
              "moved": 0, "left_unassigned": 0}
    with change(store, action, lambda: f"merged {source.label} into {target.label}",
                {"target": target.id, "source": source.id}) as rec:
        moved, loose = merge_into(store, rec, target, source, pin=True)
        result["moved"], result["left_unassigned"] = moved, loose
    return result


def merge_into(store: Store, rec: Change, target: Person, source: Person, pin: bool) -> tuple[int, int]:
    """The faces, rejections and (if the target has none) the name of ``source`` go to
    ``target``; ``source`` is removed. Where both have a face in one photo, the source's
    face is let go (unassigned, reconsidered by the next clustering run). ``pin``: the
    moved faces count as placed by the user. Returns (faces moved, faces let go)."""
    rec.save_person(target.id)
    rec.save_person(source.id)
    rec.save_faces(store.face_ids_of(source.id))
    target_photos = store.photo_ids_of(target.id)
    moved, loose = [], []
    for fid, photo, by in store.faces_of_person_best_first(source.id):
        (loose if photo in target_photos else moved).append((fid, BY_USER if pin else by))
        target_photos.add(photo)
    store.set_faces((fid, target.id, by, None, 1) for fid, by in moved)
    store.set_faces((fid, None, None, None, 0) for fid, _ in loose)
    for fid in store.rejected_faces(source.id):
        rec.save_rejection(fid, source.id)
        rec.save_rejection(fid, target.id)
        store.add_rejection(fid, target.id)
    store.delete_person(source.id)  # before its name passes on: names are unique
    if not target.name and source.name:
        store.update_person(target.id, name=source.name, name_source=source.name_source,
                            name_confidence=source.name_confidence)
    return len(moved), len(loose)


def _person_named(store: Store, rec: Change, name: str, source: str) -> Person:
    """The person with exactly this name (even one that looks like an id: a name read from a
    photo is always a name), created with its name from ``source`` when nobody has it."""
    found = store.people_by_name(name)
    if found:
        return found[0]
    pid = store.create_person(" ".join(name.split()), source)
    rec.created_person(pid)
    return store.person(pid)


def _target_person(store: Store, rec: Change, ref, as_new: bool = False) -> Person:
    """An existing person by id or name; a name nobody has yet creates that person (unless
    it is a near miss of someone's name, and ``as_new`` does not say it is meant)."""
    text = str(ref).strip()
    if not text.isdigit() and not store.people_by_name(text):
        check_new_name(store, None, text, as_new=as_new)
        pid = store.create_person(" ".join(text.split()), BY_USER)
        rec.created_person(pid)
        return store.person(pid)
    return resolve_person(store, text)


def move(store: Store, face_ids, to_ref, as_new: bool = False) -> dict:
    """Put faces into a person (by id, or by name: a new name creates the person, a near miss
    of someone's name only with ``as_new``); they stay there."""
    faces = resolve_faces(store, face_ids)
    holder = {}
    with change(store, "move", lambda: f"moved face(s) {', '.join(str(f.id) for f in faces)} to "
                                       f"{holder['person'].label}",
                {"faces": [f.id for f in faces], "to": str(to_ref)}) as rec:
        person = holder["person"] = _target_person(store, rec, to_ref, as_new)
        rejected = [f.id for f in faces if (f.id, person.id) in store.rejections()]
        _check_photo_rule(store, faces, person.id)
        rec.save_faces(f.id for f in faces)
        for fid in rejected:  # the user changed their mind: this face is that person after all
            rec.save_rejection(fid, person.id)
            store.remove_rejection(fid, person.id)
        store.set_faces((f.id, person.id, BY_USER, None, 1) for f in faces)
    return {"person": person.id, "name": person.name, "faces": [f.id for f in faces]}


def split(store: Store, person_ref, face_ids, new_name: str | None = None) -> dict:
    """Take some faces out of a person into a new person (named or not)."""
    person = resolve_person(store, person_ref)
    faces = resolve_faces(store, face_ids)
    strangers = [f.id for f in faces if f.person_id != person.id]
    if strangers:
        raise InputError(f"face(s) {', '.join(map(str, strangers))} are not in {person.label}")
    if new_name and store.people_by_name(new_name):
        raise InputError(f"someone is already named {new_name!r}: use `photoface move` to give them these faces")
    holder = {}
    with change(store, "split", lambda: f"split {len(faces)} face(s) off {person.label} into "
                                        f"{holder['new'].label}",
                {"from": person.id, "faces": [f.id for f in faces], "name": new_name}) as rec:
        pid = store.create_person(" ".join(new_name.split()) if new_name else None, BY_USER if new_name else None)
        rec.created_person(pid)
        rec.save_faces(f.id for f in faces)
        store.set_faces((f.id, pid, BY_USER, None, 1) for f in faces)
        holder["new"] = store.person(pid)
    return {"person": pid, "from": person.id, "faces": [f.id for f in faces]}


def new_person(store: Store, face_ids, new_name: str | None = None, as_new: bool = False) -> dict:
    """A new person (named or not) made of these faces, wherever they are now (unknown faces,
    typically); they stay there."""
    faces = resolve_faces(store, face_ids)
    new_name = " ".join(new_name.split()) if new_name else None
    if new_name:
        if store.people_by_name(new_name):
            raise InputError(f"someone is already named {new_name!r}: use `photoface move` to give them these faces")
        check_new_name(store, None, new_name, as_new=as_new)
    holder = {}
    with change(store, "new_person", lambda: f"made {holder['new'].label} of face(s) "
                                             f"{', '.join(str(f.id) for f in faces)}",
                {"faces": [f.id for f in faces], "name": new_name}) as rec:
        pid = store.create_person(new_name, BY_USER if new_name else None)
        rec.created_person(pid)
        _check_photo_rule(store, faces, pid)
        rec.save_faces(f.id for f in faces)
        store.set_faces((f.id, pid, BY_USER, None, 1) for f in faces)
        holder["new"] = store.person(pid)
    return {"person": pid, "name": new_name, "faces": [f.id for f in faces]}


def ignore(store: Store, face_ids, ignored: bool = True) -> dict:
    """Not a person of interest (a stranger in the background): the faces leave any person and
    no clustering run places them again, until shown again (``ignored=False``). Stored as a
    face the user placed with nobody (assigned_by 'user', no person), so undo restores it."""
    faces = resolve_faces(store, face_ids)
    if not ignored:
        faces = [f for f in faces if f.person_id is None and f.assigned_by == BY_USER]
        if not faces:
            raise InputError("none of these faces is ignored")
    ids = [f.id for f in faces]
    verb = "ignored" if ignored else "stopped ignoring"
    with change(store, "ignore" if ignored else "unignore", lambda: f"{verb} face(s) {', '.join(map(str, ids))}",
                {"faces": ids}) as rec:
        rec.save_faces(ids)
        store.set_faces((fid, None, BY_USER if ignored else None, None, 1 if ignored else 0) for fid in ids)
    return {"faces": ids, "ignored": ignored}


def add_face(store: Store, photo_id: int, det, embedding, model: str, sharpness: float | None,
             name: str | None = None, as_new: bool = False, descriptor=None) -> dict:
    """A face a user drew (``det``: its box in photo pixels; ``embedding`` from the same crop
    as detected faces get), stored with source 'manual'; with ``name``, given to that person
    (by name or id; a new name creates them). One undoable change."""
    holder = {}
    with change(store, "add_face", lambda: f"added face {holder['id']} by hand"
                + (f" as {holder['person'].label}" if holder.get("person") else ""),
                {"photo": photo_id, "box": [round(v, 1) for v in (det.x1, det.y1, det.x2, det.y2)],
                 "name": name}) as rec:
        fid = holder["id"] = store.add_manual_face(photo_id, det, embedding, model, sharpness, descriptor)
        rec.added_face(fid)
        if name:
            person = holder["person"] = _target_person(store, rec, name, as_new)
            _check_photo_rule(store, resolve_faces(store, [fid]), person.id)
            store.set_faces([(fid, person.id, BY_USER, None, 1)])
    return {"face": fid, "photo": photo_id, "person": holder["person"].id if holder.get("person") else None,
            "name": holder["person"].name if holder.get("person") else None}


def apply_tag_names(store: Store, assign: list[tuple[int, str]], new_faces: list[tuple],
                    unname: list[int] = ()) -> dict:
    """Names read from photos' face tags (tag_sync.read_library), as user decisions in one
    undoable change: ``assign`` [(face id, name)]; ``new_faces`` [(photo id, detection,
    embedding, model, sharpness, name, dlib descriptor or None)] for regions no detected face lies under; ``unname``:
    faces whose name the tags gave and another app removed since (they leave their person and
    clustering places them again). A person created here is named "from tags". A name that
    would put one person twice in a photo is skipped and listed."""
    named, added, unnamed, skipped, new_names = [], [], [], [], {}
    with change(store, "tags", lambda: f"named {len(named)} face(s), added {len(added)} and unnamed "
                                       f"{len(unnamed)} from the photos' tags",
                {"faces": len(assign), "new": len(new_faces), "unnamed": len(unname)}) as rec:
        if unname:
            rec.save_faces(unname)
            store.set_faces((fid, None, None, None, 0) for fid in unname)
            unnamed.extend(unname)
        for pid, det, vector, model, sharp, name, descriptor in new_faces:
            fid = store.add_manual_face(pid, det, vector, model, sharp, descriptor)
            rec.added_face(fid)
            assign = [*assign, (fid, name)]
            added.append(fid)
            new_names[fid] = name
        for fid, name in assign:
            person = _person_named(store, rec, name, FROM_TAGS)
            try:
                _check_photo_rule(store, resolve_faces(store, [fid]), person.id)
            except InputError as exc:
                skipped.append({"face": fid, "name": name, "why": str(exc)})
                continue
            rec.save_faces([fid])
            store.set_faces([(fid, person.id, BY_USER, None, 1)])
            named.append({"face": fid, "person": person.id, "name": person.name})
    return {"named": named, "added": added, "unnamed": unnamed, "skipped": skipped, "new_names": new_names}


def delete_face(store: Store, face_id) -> dict:
    """Delete a face a user drew (detected faces are ignored instead: `ignore`); undoable."""
    face = resolve_faces(store, [face_id])[0]
    if store.face_row(face.id).get("source") != "manual":
        raise InputError(f"face {face.id} was found by the detector: only faces added by hand can be deleted "
                         "(`photoface ignore` hides a detected face)")
    with change(store, "delete_face", lambda: f"deleted face {face.id} (added by hand)", {"face": face.id}) as rec:
        rec.removing_face(face.id)
        store.delete_face(face.id)
    return {"deleted": face.id}


def reject(store: Store, face_ids, person_ref=None) -> dict:
    """"Not this person": the faces leave the person (their current one by default) and are
    never assigned to it again; the next cluster run may place them elsewhere."""
    faces = resolve_faces(store, face_ids)
    if person_ref is None:
        orphans = [f.id for f in faces if f.person_id is None]
        if orphans:
            raise InputError(f"face(s) {', '.join(map(str, orphans))} belong to nobody: say which person they are not")
        targets = [(f, f.person_id) for f in faces]
    else:
        person = resolve_person(store, person_ref)
        targets = [(f, person.id) for f in faces]
    with change(store, "reject", lambda: "rejected " + ", ".join(f"face {f.id} from person {p}" for f, p in targets),
                {"pairs": [[f.id, p] for f, p in targets]}) as rec:
        rec.save_faces(f.id for f, _ in targets)
        for face, pid in targets:
            rec.save_rejection(face.id, pid)
            store.add_rejection(face.id, pid)
            if face.person_id == pid:
                store.set_faces([(face.id, None, None, None, 0)])
    return {"rejected": [[f.id, p] for f, p in targets]}


def hide(store: Store, person_ref, hidden: bool = True) -> dict:
    """Hide a person from listings and searches (their faces stay theirs), or show them again."""
    person = resolve_person(store, person_ref)
    verb = "hid" if hidden else "unhid"
    with change(store, "hide" if hidden else "unhide", lambda: f"{verb} {person.label}",
                {"person": person.id}) as rec:
        rec.save_person(person.id)
        store.update_person(person.id, hidden=int(hidden))
    return {"person": person.id, "hidden": hidden}


def undo(store: Store, event_id: int | None = None) -> dict:
    """Undo the latest change not yet undone (or ``event_id``, if it is that latest one)."""
    latest = store.latest_undoable()
    if latest is None:
        raise InputError("nothing to undo")
    if event_id is not None and event_id != latest[0]:
        payload, undone = store.event_undo(event_id)
        if payload is None and undone is None:
            raise InputError(f"no change with id {event_id} (`photoface history` lists them)")
        if undone:
            raise InputError(f"change {event_id} was already undone at {undone}")
        raise InputError(f"change {event_id} has later changes on top of it: undo those first "
                         f"(latest is {latest[0]})")
    payload, _ = store.event_undo(latest[0])
    with store.atomic():
        store.restore(payload)
        store.mark_undone(latest[0])
        store.record_event("undo", f"undid change {latest[0]}: {latest[1]}", {"event": latest[0]}, None)
    return {"undone": latest[0], "summary": latest[1]}


# --- changes made while a run held the library --------------------------------------------
def apply_waiting(store: Store) -> list[dict]:
    """Apply, oldest first, the changes queued while a run held the library (each one logged
    and undoable like any other). One that no longer applies (its person was merged away
    meanwhile, say) is marked with why and listed in the change log: never dropped silently."""
    changes = {"name": name, "merge": merge, "move": move, "split": split, "reject": reject, "hide": hide,
               "undo": undo, "new_person": new_person, "ignore": ignore}
    done = []
    for change_id, action, args in store.waiting_changes():
        try:
            done.append(changes[action](store, *args))
            store.mark_applied(change_id)
        except InputError as exc:
            with store.atomic():
                store.mark_applied(change_id, str(exc))
                store.record_event("queued", f"a {action} made while the library was busy was not applied: {exc}",
                                   {"action": action, "args": args}, None)
    return done
