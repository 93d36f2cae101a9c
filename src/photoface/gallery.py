"""Name people from examples: a gallery folder of known faces, or a classifier trained on
the faces the user already named. Both only propose names for clusters nobody named by
hand; ambiguous matches are listed for review, never guessed."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .neighbors import nearest
from .scan import IMAGE_EXTENSIONS


@dataclass
class GalleryPerson:
    name: str
    embeddings: np.ndarray
    photos: list = field(default_factory=list)


@dataclass
class Gallery:
    people: list[GalleryPerson]
    skipped: list[tuple[str, str]]  # (path, why)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (path, what was done) for photos used with a remark


#: In a gallery photo with several clear faces, the largest is taken for the person when its
#: shorter side is at least this many times the next one's (a portrait with someone beside
#: or behind); faces of about the same size leave the photo out, since either may be them.
GALLERY_MAIN_FACE_RATIO = 1.5


def gallery_files(folder: str) -> dict[str, list[str]]:
    """{person name: [photo paths]} from FOLDER/<Person Name>/*.jpg."""
    if not os.path.isdir(folder):
        raise InputError(f"gallery folder not found: {folder}")
    out = {}
    for entry in sorted(os.listdir(folder)):
        sub = os.path.join(folder, entry)
        if entry.startswith(".") or not os.path.isdir(sub):
            continue
        files = sorted(os.path.join(sub, f) for f in os.listdir(sub)
                       if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and not f.startswith("."))
        out[" ".join(entry.replace("_", " ").split())] = files
    if not out:
        raise InputError(f"no person folders in {folder}: expected {folder}/<Person Name>/*.jpg")
    return out


def clear_faces(faces: list) -> list:
    """The faces of a photo that pass the clustering quality gate (large, confident and
    sharp: organize.eligible_mask): a blurred face in the background, or a detection
    MTCNN is unsure of, does not make a portrait a group photo."""
    from .config import ClusterSettings
    from .organize import eligible_mask

    if len(faces) < 2:
        return faces
    size = np.array([min(f.detection.width, f.detection.height) for f in faces], np.float64)
    table = {"size": size, "score": np.array([f.detection.score for f in faces], np.float64),
             "sharpness": np.array([np.nan if f.sharpness is None else f.sharpness for f in faces], np.float64)}
    return [f for f, ok in zip(faces, eligible_mask(table, ClusterSettings())) if ok]


def build_gallery(folder: str, embed_photos) -> Gallery:
    """Embed every gallery photo; a photo must show exactly one clear face to count."""
    files = gallery_files(folder)
    all_paths = [p for paths in files.values() for p in paths]
    results = {r.path: r for r in embed_photos(all_paths)}
    people, skipped, notes = [], [], []
    for name, paths in files.items():
        vectors, used = [], []
        for path in paths:
            res = results[path]
            if res.status != "indexed":
                skipped.append((path, res.error or "unreadable"))
                continue
            clear = clear_faces(res.faces)
            if not clear:
                skipped.append((path, "no face found" if not res.faces else "no clear face (too small or blurred)"))
                continue
            face = _main_face(clear)
            if face is None:
                skipped.append((path, f"{len(clear)} faces of about the same size: crop it to {name} alone"))
                continue
            if len(clear) > 1:
                notes.append((path, f"{len(clear)} faces: the largest taken for {name}"))
            vectors.append(face.embedding)
            used.append(path)
        if not paths:
            skipped.append((os.path.join(folder, name), "no photos"))
        if vectors:
            people.append(GalleryPerson(name, np.stack(vectors).astype(np.float32), used))
    return Gallery(people, skipped, notes)


def _main_face(faces: list):
    """The one face, or the clearly largest of several (GALLERY_MAIN_FACE_RATIO); else None."""
    if len(faces) == 1:
        return faces[0]
    by_size = sorted(faces, key=lambda f: -min(f.detection.width, f.detection.height))
    big, second = (min(f.detection.width, f.detection.height) for f in by_size[:2])
    return by_size[0] if big >= GALLERY_MAIN_FACE_RATIO * second else None


def match_clusters(clusters: dict[int, np.ndarray], gallery: Gallery, threshold: float,
                   margin: float) -> tuple[list[dict], list[dict]]:
    """Match each cluster's faces to gallery people.

    A cluster's distance to a gallery person is the median over its faces of the distance
    to that person's nearest gallery face. The best person names the cluster when that is
    below ``threshold`` and the runner-up is ``margin`` farther; close calls go to review.
    Confidence: the share of the cluster's faces whose own best match is that person.
    """
    if not gallery.people:
        return [], []
    names = [p.name for p in gallery.people]
    base = np.concatenate([p.embeddings for p in gallery.people])
    owner = np.concatenate([[i] * len(p.embeddings) for i, p in enumerate(gallery.people)])
    matches, review = [], []
    for pid, X in clusters.items():
        d, idx = nearest(base, X, len(base))
        per_person = np.full((len(X), len(names)), np.inf, np.float32)
        for j in range(len(names)):
            mask = owner[idx] == j
            per_person[:, j] = np.where(mask, d, np.inf).min(axis=1)
        median = np.median(per_person, axis=0)
        order = np.argsort(median)
        best = int(order[0])
        second = float(median[order[1]]) if len(order) > 1 else float("inf")
        agree = float(np.mean((per_person.argmin(axis=1) == best) & (per_person[:, best] < threshold)))
        row = {"person": pid, "name": names[best], "distance": round(float(median[best]), 4),
               "runner_up": names[int(order[1])] if len(order) > 1 else None,
               "runner_up_distance": round(second, 4) if np.isfinite(second) else None,
               "confidence": round(agree, 3), "faces": len(X)}
        if median[best] < threshold and second - median[best] >= margin and agree >= 0.5:
            matches.append(row)
        elif median[best] < threshold + margin:
            review.append(row)
    return matches, review


def train_classifier(X: np.ndarray, names: list[str]):
    """A linear SVM over the embeddings of named faces, with calibrated probabilities."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    counts = {n: names.count(n) for n in set(names)}
    if len(counts) < 2:
        raise InputError("a classifier needs at least two named people: name more clusters first")
    folds = min(3, min(counts.values()))
    if folds < 2:
        few = ", ".join(sorted(n for n, c in counts.items() if c < 2))
        raise InputError(f"every named person needs at least 2 faces to train on; too few: {few}")
    model = CalibratedClassifierCV(LinearSVC(C=1.0), cv=folds)
    model.fit(X, np.array(names))
    return model
