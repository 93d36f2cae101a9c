"""Clustering runs on a library: turn faces into people and keep people stable.

- incremental (once people exist in a library of more than
  ClusterSettings.full_run_faces faces): new faces join existing people through
  their nearest assigned faces (calibrated distance and margin); the new faces left over
  are clustered together with the unknown faces near them into new people. Only the new
  faces' neighbourhood is read (through the search index), so the cost follows the
  number of new faces, not the size of the library.
- full (the first run, every run of a smaller library, and on request): every face is
  re-clustered; new clusters are matched to the old people by their shared faces, so ids
  and names carry over. A small library gains from it: new photos can join two clusters an
  earlier run kept apart, which an incremental run never merges.
In both, faces a user placed never move, rejected faces never return to that person,
named people are never merged by a run, and one photo never shows one person twice.
"""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from .cluster import FaceClusterer, assign, assign_by_spread, spread_radii
from .config import ClusterSettings
from .db import Store
from .decided import split_by_decisions
from .label import Change
from .neighbors import GRAPH_NPROBE, FaceIndex, nearest
from .types import BY_ASSIGN, BY_CLUSTER, BY_USER, FaceState

PINNED = BY_USER


@dataclass
class ClusterSummary:
    mode: str
    faces: int = 0  # faces in the library
    considered: int = 0  # faces this run looked at
    assigned: int = 0  # new faces that joined existing people
    clustered: int = 0  # faces placed in clusters made by this run
    new_people: int = 0
    people: int = 0  # people and clusters after the run
    unknown: int = 0  # faces that belong to nobody after the run
    removed_people: int = 0
    elapsed_s: float = 0.0
    event_id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def eligible_mask(table: dict, s: ClusterSettings) -> np.ndarray:
    """Faces good enough to form clusters: large, confident and (where measured) sharp."""
    sharp = table["sharpness"]
    return (table["size"] >= s.min_face_px) & (table["score"] >= s.min_score) & (
        np.isnan(sharp) | (sharp >= s.min_sharpness))


def make_clusterer(s: ClusterSettings) -> FaceClusterer:
    return FaceClusterer.from_settings(s)


def library_labels(table: dict, s: ClusterSettings) -> np.ndarray:
    """A full run's clusters of a library's face table: faces the user placed take part
    whatever their quality; faces the user placed with nobody (ignored) never form one."""
    pinned = table["assigned_by"] == PINNED
    ignored = pinned & (table["person_id"] < 0)
    return make_clusterer(s).fit_predict(table["C"], groups=table["photo_id"],
                                         eligible=(eligible_mask(table, s) | pinned) & ~ignored)


def apart_by_decisions(table: dict, rows: np.ndarray | slice, labels: np.ndarray, named: set[int],
                       rejected: dict[int, set[int]], s: ClusterSettings, library_faces: int) -> np.ndarray:
    """``labels`` of the faces ``rows`` of ``table`` (``slice(None)``: all, read in place,
    not copied), with clusters split where the user's decisions tell their faces apart
    (decided.split_by_decisions): a face is decided when it is in a named person or the
    user placed it; rejections say whom a face is not."""
    if not s.split_by_decisions:
        return labels
    person = table["person_id"][rows]
    decided = np.where((person >= 0) & (np.isin(person, list(named)) | (table["assigned_by"][rows] == PINNED)),
                       person, -1)
    ids = table["id"][rows]
    refused = {int(i): rejected[int(ids[i])] for i in np.flatnonzero(np.isin(ids, list(rejected)))}
    link = make_clusterer(s).longest_link(library_faces)
    return split_by_decisions(table["C"][rows], labels, decided, refused, s.min_cluster_size, s.n_neighbors, link)


def choose_mode(store: Store, model: str, s: ClusterSettings, full: bool | None = None) -> str:
    """"full" or "incremental": ``full`` True or False asks for one; None (the default)
    means full for a library's first run and while it has at most ``s.full_run_faces`` faces."""
    if not store.has_people(model):
        return "full"
    if full is None:
        full = store.face_count(model) <= s.full_run_faces
    return "full" if full else "incremental"


def run(store: Store, model: str, settings: ClusterSettings | None = None, full: bool | None = None) -> ClusterSummary:
    """Cluster the library's faces of ``model``; one transaction, logged as an undoable event.
    ``full``: None chooses (choose_mode), True re-clusters every face, False adds the new
    faces incrementally."""
    s = settings or ClusterSettings()
    t0 = time.monotonic()
    mode = choose_mode(store, model, s, full)
    summary = ClusterSummary(mode)
    table = store.face_table(model, facenet=False) if mode == "full" else _neighbourhood(store, model, s)
    rejected = defaultdict(set)
    for f, p in store.rejections():
        rejected[f].add(p)
    rec = Change(store)
    with store.atomic():
        _compute(store, rec, table, mode, model, rejected, s, summary)
    summary.elapsed_s = round(time.monotonic() - t0, 3)
    return summary


def _neighbourhood(store: Store, model: str, s: ClusterSettings) -> dict:
    """The faces an incremental run needs: the new ones, their nearest faces in the library
    (from the search index, so the library's embeddings are never all loaded), and every
    face in the photos of those (for the one-person-per-photo rule)."""
    queries = store.face_table(model, store.unclustered_face_ids(model))
    if not len(queries["id"]):
        return queries
    index = FaceIndex(store.path, model)
    index.sync(store, model)
    # as many neighbours as the clustering graph uses (and at least the assignment's)
    _, nbr = index.search(queries["X"], max(s.assign_neighbors, s.n_neighbors), nprobe=GRAPH_NPROBE)
    ids = set(queries["id"].tolist()) | set(nbr[nbr >= 0].tolist())
    return store.face_table(model, store.with_photo_mates(ids, model))


def _compute(store, rec, table, mode, model, rejected, s, summary) -> None:
    n = len(table["id"])
    before = table["person_id"].copy()
    person = before.copy()
    by = table["assigned_by"].copy()
    dist = np.full(n, np.nan)
    if mode == "incremental":
        fresh = (~table["clustered"]) & (person < 0) & (by != PINNED)
        _assign_fresh(table, fresh, person, by, dist, rejected, s, summary)
        leftover = (person < 0) & (by != PINNED) & (fresh | table["clustered"])
        summary.considered = int((fresh | leftover).sum())
        _cluster_new(store, rec, table, leftover, fresh, person, by, rejected, s, summary, model)
        touched = fresh | leftover
    else:
        summary.considered = n
        _full(store, rec, table, person, by, rejected, s, summary)
        touched = np.ones(n, bool)

    _enforce_photo_rule(table, person, by, before)
    changed = touched & ((person != before) | (by != table["assigned_by"]) | ~table["clustered"])
    idx = np.flatnonzero(changed)
    old_dist = table["assign_distance"]
    rec.save_face_states(
        FaceState(int(table["id"][i]), None if before[i] < 0 else int(before[i]), table["assigned_by"][i] or None,
                  None if np.isnan(old_dist[i]) else float(old_dist[i]), int(table["clustered"][i])) for i in idx)
    store.set_faces(
        FaceState(int(table["id"][i]), None if person[i] < 0 else int(person[i]),
                  (by[i] or None) if person[i] >= 0 else None,
                  None if np.isnan(dist[i]) else round(float(dist[i]), 4), 1) for i in idx)
    left = None if mode == "full" else {int(p) for p in before[idx] if p >= 0}
    summary.removed_people = _drop_empty_people(store, rec, left)
    summary.people = store.people_total()
    summary.faces, summary.unknown = store.face_counts(model)
    if not len(idx) and not summary.removed_people:
        return  # nothing changed: nothing to log or undo
    summary.event_id = store.record_event(
        "cluster",
        f"{mode} clustering: {summary.assigned} faces joined people, {summary.new_people} new people, "
        f"{summary.unknown} faces unknown",
        {**summary.to_dict(), "settings": asdict(s)}, rec.payload())


def _assign_fresh(table, fresh, person, by, dist, rejected, s, summary) -> None:
    """New faces join the person of their nearest assigned faces, when close and unambiguous."""
    ref = np.flatnonzero(person >= 0)
    new = np.flatnonzero(fresh)
    if not len(ref) or not len(new):
        return
    d, nn = nearest(table["C"][ref], table["C"][new], s.assign_neighbors)
    neighbor_people = np.where(nn >= 0, person[ref][np.maximum(nn, 0)], -1)
    in_photo = defaultdict(set)
    for i in ref:
        in_photo[table["photo_id"][i]].add(int(person[i]))
    blocked = [rejected.get(int(table["id"][i]), set()) | in_photo[table["photo_id"][i]] for i in new]
    got, best = assign(d, neighbor_people, table["photo_id"][new], blocked, s.assign_distance, s.assign_margin)
    if s.spread_max_distance > s.assign_distance:
        # as in a full run, a person whose faces lie far apart takes farther new faces
        left = np.flatnonzero(got < 0)
        photos = table["photo_id"][new]
        now = defaultdict(set)  # a person once per photo, new faces included
        for k in np.flatnonzero(got >= 0):
            now[photos[k]].add(int(got[k]))
        radii = spread_radii(table["C"], person, s.spread_quantile, s.spread_margin, s.spread_max_distance)
        extra = assign_by_spread(d[left], neighbor_people[left], photos[left],
                                 [blocked[j] | now[photos[j]] for j in left], radii, s.spread_votes)
        got[left] = extra
        best[left] = np.where(extra >= 0, d[left, 0] if d.shape[1] else np.inf, best[left])
    ok = got >= 0
    person[new[ok]] = got[ok]
    by[new[ok]] = BY_ASSIGN
    dist[new[ok]] = best[ok]
    summary.assigned = int(ok.sum())


def _new_person(store: Store, rec: Change) -> int:
    """A new unnamed person, recorded so that undo removes it."""
    pid = store.create_person()
    rec.created_person(pid)
    return pid


def _cluster_new(store, rec, table, mask, fresh, person, by, rejected, s, summary, model) -> None:
    """New people among the faces in ``mask``. They are clustered together with their
    nearest faces in the neighbourhood, assigned or not, so that existing people set the
    density (left-over faces clustered on their own form clusters out of what a full run
    calls noise); each cluster made only of ``mask`` faces, one of them not seen by an
    earlier run, becomes a new person. The user's decisions split clusters as in a full run."""
    idx = np.flatnonzero(mask)
    if len(idx) < s.min_cluster_size:
        return
    _, nn = nearest(table["C"], table["C"], s.n_neighbors + 1, query_rows=idx)
    ctx = np.union1d(idx, nn[nn >= 0])
    library_faces = store.face_count(model)
    labels = make_clusterer(s).fit_predict(
        table["C"][ctx], groups=table["photo_id"][ctx], eligible=eligible_mask(table, s)[ctx],
        library_faces=library_faces)
    labels = apart_by_decisions(table, ctx, labels, store.named_person_ids(), rejected, s, library_faces)
    for c in range(labels.max() + 1):
        members = ctx[labels == c]
        if not mask[members].all() or not fresh[members].any():
            continue
        pid = _new_person(store, rec)
        person[members] = pid
        by[members] = BY_CLUSTER
        summary.clustered += len(members)
        summary.new_people += 1


def _full(store, rec, table, person, by, rejected, s, summary) -> None:
    """Re-cluster everything and carry people over by their shared faces."""
    n = len(table["id"])
    if n < 2:
        return
    old = person.copy()
    pinned = by == PINNED
    named = store.named_person_ids()
    labels = apart_by_decisions(table, slice(None), library_labels(table, s), named, rejected, s, n)
    # one-to-one: each new cluster takes the old person it shares most faces with
    overlap = Counter((int(c), int(p)) for c, p in zip(labels, old) if c >= 0 and p >= 0)
    target: dict[int, int] = {}
    used: set[int] = set()
    for (c, p), _ in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0])):
        if c not in target and p not in used:
            target[c], _ = p, used.add(p)
    for c in range(labels.max() + 1 if n else 0):
        if c not in target:
            target[c] = _new_person(store, rec)
            summary.new_people += 1
    for i in range(n):
        if pinned[i]:
            continue
        c = labels[i]
        if c < 0:
            # noise now: a face keeps a person it already had, if that person lives on
            if old[i] >= 0 and old[i] not in used and old[i] not in named:
                person[i], by[i] = -1, ""
            continue
        p = target[c]
        if old[i] >= 0 and old[i] != p and old[i] in named:
            continue  # a run never merges people the user told apart by name
        if p in rejected.get(int(table["id"][i]), ()):
            person[i], by[i] = (old[i], by[i]) if old[i] >= 0 and old[i] != p else (-1, "")
            continue
        person[i] = p
        by[i] = BY_CLUSTER
        summary.clustered += 1


def _enforce_photo_rule(table, person, by, before) -> None:
    """After every change, one photo shows one person at most once: pinned faces win, then
    faces that were already there, then the rest in id order."""
    order = np.lexsort((table["id"], person != before, by != PINNED, person, table["photo_id"]))
    seen = set()
    for i in order:
        if person[i] < 0:
            continue
        key = (table["photo_id"][i], person[i])
        if key in seen and by[i] != PINNED:
            person[i], by[i] = -1, ""
        seen.add(key)


def _drop_empty_people(store: Store, rec: Change, candidates: set[int] | None = None) -> int:
    """Remove clusters left without faces (named or hidden people stay: the user made them).
    ``candidates``: the people that lost faces, when only those can have emptied."""
    empty = store.empty_clusters(candidates)
    for pid in empty:
        rec.save_person(pid)
        store.delete_person(pid)
    return len(empty)
