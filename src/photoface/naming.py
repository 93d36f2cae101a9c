"""Naming people from examples: a gallery folder of known faces, or a classifier trained on the
faces a user named. Both only name people nobody named by hand; a name someone already has
merges the two (label.give_name), and close calls are listed for review, never guessed."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import gallery as gal
from . import label
from .config import NAMING_DISTANCE
from .db import Store
from .errors import InputError
from .neighbors import nearest
from .types import PEOPLES_NAMES


@dataclass(frozen=True)
class NameProposal:
    """A name proposed for a person (a cluster). ``confidence``: for a gallery, the share of
    the cluster's faces whose best match is that person; for the classifier, its mean
    probability. ``distance``: the cluster's median distance to that person's faces."""

    person: int
    name: str
    distance: float
    confidence: float
    faces: int
    source: str  # gallery | classifier
    runner_up: str | None = None  # gallery: the next best person, and the cluster's distance to them
    runner_up_distance: float | None = None

    def to_dict(self) -> dict:
        if self.source == "classifier":
            return {"person": self.person, "name": self.name, "probability": self.confidence,
                    "distance": self.distance, "faces": self.faces}
        return {"person": self.person, "name": self.name, "distance": self.distance, "runner_up": self.runner_up,
                "runner_up_distance": self.runner_up_distance, "confidence": self.confidence, "faces": self.faces}


def classifier_path(db: str) -> str:
    return os.path.abspath(db) + ".classifier.joblib"


def apply(store: Store, proposals: list[NameProposal], summary: Callable[[int], str], details: dict) -> list[dict]:
    """Give the proposed names in one logged, undoable change (``summary(n)`` describes it)."""
    applied = []
    if proposals:
        with label.change(store, "label", lambda: summary(len(applied)), details) as rec:
            for p in proposals:
                applied.append(label.give_name(store, rec, p.person, p.name, p.source, p.confidence))
    return applied


def from_gallery(store: Store, folder: str, embed_photos, model: str, threshold: float = NAMING_DISTANCE,
                 margin: float = 0.10, dry_run: bool = False) -> dict:
    """Name clusters from FOLDER/<Person Name>/*.jpg (gallery.match_clusters decides)."""
    g = gal.build_gallery(folder, embed_photos)
    if not g.people:
        raise InputError(f"no usable gallery photo in {folder}: "
                         + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in g.skipped[:5]))
    holders = {p.name: store.people_by_name(p.name) for p in g.people}  # before this run names anyone
    matches, review = gal.match_clusters(store.embeddings_by_person(model), g, threshold, margin)
    matches = [NameProposal(**m, source="gallery") for m in matches]
    review = [NameProposal(**m, source="gallery") for m in review]
    if not dry_run:
        apply(store, matches, lambda n: f"named {n} cluster(s) from the gallery {folder}",
              {"gallery": folder, "matches": [m.to_dict() for m in matches]})
    return {"gallery_people": [{"name": p.name, "photos": len(p.photos),
                                "existing_person": holders[p.name][0].id if holders[p.name] else None}
                               for p in g.people],
            "skipped": [{"path": p, "why": w} for p, w in g.skipped],
            "notes": [{"path": p, "what": w} for p, w in g.notes],
            "named": matches, "review": review, "applied": not dry_run}


def train(store: Store, db: str, model: str) -> dict:
    """Fit a linear SVM on the faces of people a user named; saved beside the database."""
    import joblib

    names, X = store.named_faces(model, user_named=True)
    counts = Counter(names)
    left_out = [{"name": n, "why": "only 1 face (2 needed)"} for n, c in sorted(counts.items()) if c < 2]
    keep = np.array([counts[n] >= 2 for n in names], bool)
    names, X = [n for n, k in zip(names, keep) if k], X[keep]
    for pid, name in sorted(store.person_names().items(), key=lambda kv: str(kv[1])):
        person = store.person(pid)
        if name and name not in counts:
            why = (f"named by the {person.name_source}, not by you: only names you gave are learned"
                   if person.name_source not in PEOPLES_NAMES else "no faces in photos that are present")
            left_out.append({"name": name, "why": why})
    if not names:
        raise InputError("no named faces to learn from: name some people first (`photoface name ID NAME`)"
                         + "".join(f"; {o['name']}: {o['why']}" for o in left_out[:5]))
    clf = gal.train_classifier(X, names)
    joblib.dump({"model": model, "classifier": clf, "classes": sorted(set(names)), "X": X, "names": names},
                classifier_path(db))
    return {"path": classifier_path(db), "people": len(set(names)), "faces": len(names), "left_out": left_out}


def load_classifier(db: str, model: str) -> dict:
    import joblib

    path = classifier_path(db)
    if not os.path.exists(path):
        raise InputError("no classifier yet: run `photoface train-classifier` first")
    saved = joblib.load(path)
    if saved["model"] != model:
        raise InputError("the classifier was trained on an older embedding: run `photoface train-classifier` again")
    return saved


def from_classifier(store: Store, saved: dict, path: str, min_probability: float = 0.60,
                    max_distance: float = NAMING_DISTANCE, dry_run: bool = False) -> dict:
    """Propose names for unnamed clusters with a trained classifier (and apply them unless
    ``dry_run``). A linear SVM always picks one of the people it knows; a proposal also needs
    the cluster's faces to lie within ``max_distance`` of that person's training faces, so
    strangers stay unnamed."""
    clusters = {pid: X for pid, X in store.embeddings_by_person(saved["model"]).items()
                if store.person(pid).name is None}
    names = np.array(saved["names"])
    proposals, review = [], []
    for pid, X in clusters.items():
        proba = saved["classifier"].predict_proba(X).mean(axis=0)
        best = int(np.argmax(proba))
        who = saved["classifier"].classes_[best]
        d, _ = nearest(saved["X"][names == who], X, 1)
        dist = float(np.median(d[:, 0]))
        row = NameProposal(pid, str(who), round(dist, 4), round(float(proba[best]), 3), len(X), "classifier")
        if proba[best] >= min_probability and dist < max_distance:
            proposals.append(row)
        elif dist < max_distance + 0.1:
            review.append(row)
    if not dry_run:
        apply(store, proposals, lambda n: f"named {n} cluster(s) with the classifier",
              {"classifier": path, "proposals": [p.to_dict() for p in proposals]})
    return {"named": proposals, "review": review, "applied": not dry_run}
