"""What the person, review and unknown-faces pages suggest: people close to a person (merge
candidates), faces of a person that may be someone else (split questions), faces whose
person is least certain (the review queue), and unknown faces in groups of look-alikes."""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from .config import (SPLIT_QUESTION_CONDUCTANCE, SPLIT_QUESTION_MAX_FACES, SPLIT_QUESTION_MIN_FACES, SPLIT_QUESTION_PEOPLE,
                     SPLIT_QUESTION_SECONDS, ClusterSettings)
from .db import Store
from .decided import weakest_cut
from .neighbors import FaceIndex
from .types import SimilarPerson, SplitQuestion
from .vectors import leader_groups, unit_mean

_NEIGHBORS = ClusterSettings().n_neighbors


def _index(store: Store, model: str) -> FaceIndex:
    index = FaceIndex(store.path, model)
    index.sync(store, model)
    return index


def similar_people(store: Store, person_id: int, model: str, limit: int = 5) -> list[SimilarPerson]:
    """The people closest to a person (by their nearest faces to its mean face), closest first."""
    X = store.person_vectors(person_id, model, 200)
    if not len(X):
        return []
    dist, ids = _index(store, model).search(unit_mean(X)[None, :], 200)
    best: dict[int, float] = {}
    hits = [(float(d), int(i)) for d, i in zip(dist[0], ids[0]) if i >= 0]
    owner = {s.id: s.person_id for s in store.face_states(i for _, i in hits)}
    for d, i in hits:
        other = owner.get(i)
        if other is not None and other != person_id and d < best.get(other, np.inf):
            best[other] = d
    out = []
    for other, d in sorted(best.items(), key=lambda kv: kv[1])[:limit]:
        q = store.person(other)
        if q and not q.hidden:
            out.append(SimilarPerson(**asdict(q), distance=round(d, 3)))
    return out


def maybe_someone_else(store: Store, person_id: int, model: str, n_neighbors: int = _NEIGHBORS,
                       conductance: float = SPLIT_QUESTION_CONDUCTANCE,
                       min_faces: int = SPLIT_QUESTION_MIN_FACES) -> SplitQuestion | None:
    """The faces of a person that may be someone else, or None: the smaller side of the
    weakest cut of the person's faces (decided.weakest_cut on the vectors they are clustered
    on), when its conductance is below ``conductance`` and it holds at least ``min_faces``
    faces, none of them placed by the user. Confirming them (placing them in the person)
    answers the question for good; splitting them off makes them a person of their own,
    which later runs keep apart (decided.split_by_decisions). ``n_neighbors``: the k-NN
    graph's, as clustering's."""
    ids = store.face_ids_of(person_id)
    if not 2 * min_faces <= len(ids) <= SPLIT_QUESTION_MAX_FACES:
        return None
    table = store.face_table(model, ids)
    found = weakest_cut(table["C"], n_neighbors) if len(table["id"]) >= 2 * min_faces else None
    if found is None or found[0] >= conductance:
        return None
    side = found[1] if found[1].sum() <= (~found[1]).sum() else ~found[1]
    if side.sum() < min_faces or (table["assigned_by"][side] == "user").any():
        return None
    p = store.person(person_id)
    return SplitQuestion(person_id=person_id, name=p.name if p else None, faces=len(table["id"]),
                         conductance=round(found[0], 3), face_ids=[int(i) for i in table["id"][side]])


def split_questions(store: Store, model: str, people: int = SPLIT_QUESTION_PEOPLE,
                    seconds: float = SPLIT_QUESTION_SECONDS) -> list[SplitQuestion]:
    """maybe_someone_else for the ``people`` largest people, largest first while ``seconds``
    last; the surest question (lowest conductance) first."""
    out, until = [], time.monotonic() + seconds
    for p in store.people(include_hidden=False, examples=0, limit=people):
        if time.monotonic() > until:
            break
        q = maybe_someone_else(store, p.id, model)
        if q is not None:
            out.append(q)
    return sorted(out, key=lambda q: (q.conductance, q.person_id))


def review_queue(store: Store, model: str, limit: int = 50, candidates: int = 2000) -> list[dict]:
    """Faces whose assignment is least certain first: the smallest margin between the
    distance to their own person's nearest face and to the nearest face of anyone else.
    Faces a user placed are never listed."""
    rows, X = store.machine_placed_faces(model, candidates)
    if not rows:
        return []
    dist, nbr = _index(store, model).search(X, 16)
    owner = {s.id: s.person_id for s in store.face_states(sorted({int(i) for i in nbr.ravel() if i >= 0}))}
    names = store.person_names()
    out = []
    for (fid, pid, photo), drow, irow in zip(rows, dist, nbr):
        own = other = np.inf
        other_id = None
        for d, i in zip(drow, irow):
            if i < 0 or i == fid:
                continue
            who = owner.get(int(i))
            if who == pid:
                own = min(own, float(d))
            elif who is not None and d < other:
                other, other_id = float(d), who
        margin = other - own
        out.append({"face_id": fid, "person_id": pid, "name": names.get(pid), "photo_id": photo,
                    "own_distance": None if np.isinf(own) else round(own, 3),
                    "runner_up": other_id, "runner_up_name": names.get(other_id),
                    "margin": None if np.isinf(margin) else round(margin, 3), "_key": margin})
    out.sort(key=lambda r: (r["_key"], r["face_id"]))
    for r in out:
        del r["_key"]
    return out[:limit]


def unknown_faces(store: Store, model: str, max_distance: float, ignored: bool = False) -> list[tuple[int, int]]:
    """Faces that belong to nobody, as (face id, group), in the order to show them: groups of
    look-alikes (vectors.leader_groups within ``max_distance``), largest group first; within
    a group and between equal groups, the largest and sharpest faces first. ``ignored``: the
    faces a user ignored instead."""
    table = store.face_table(model, store.unknown_face_ids(model, ignored))
    if not len(table["id"]):
        return []
    sharp = np.nan_to_num(table["sharpness"], nan=0.0)
    best = np.lexsort((table["id"], -sharp, -table["size"]))  # size, then sharpness, then id
    group = np.empty(len(best), np.int64)
    group[best] = leader_groups(table["X"][best], max_distance)
    sizes = np.bincount(group)
    first = np.full(len(sizes), len(best), np.int64)  # rank of each group's best face
    np.minimum.at(first, group[best], np.arange(len(best)))
    order = sorted(range(len(best)), key=lambda r: (-sizes[group[best[r]]], first[group[best[r]]], r))
    rank = {}  # groups renumbered in the order shown
    return [(int(table["id"][best[r]]), rank.setdefault(int(group[best[r]]), len(rank))) for r in order]


def unknown_page(store: Store, model: str, max_distance: float, offset: int = 0, limit: int | None = None,
                 ignored: bool = False) -> dict:
    """{"total", "offset", "groups", "faces": [{face_id, group, photo_id, path, box}]}: the
    faces of unknown_faces from ``offset``, ``limit`` of them."""
    order = unknown_faces(store, model, max_distance, ignored)
    shown = order[offset:None if limit is None else offset + limit]
    hits = {h["face_id"]: h for h in store.face_hits(fid for fid, _ in shown)}
    faces = [{"face_id": fid, "group": g, **{k: hits[fid][k] for k in ("photo_id", "path", "box")}}
             for fid, g in shown if fid in hits]
    return {"total": len(order), "offset": offset, "groups": len({g for _, g in order}), "faces": faces}
