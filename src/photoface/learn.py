"""Clustering distances learned from the user's own decisions in this library.

A face the user placed in a named person (by naming its cluster, moving or confirming it)
is a label. Each setting of LEARN_GRID clusters the whole library and is scored on the
named people's faces and the faces that join them (score: a face not placed in a person
that joins them is a stranger, and is scored itself). The named people are split in two
halves by a fixed draw; what each half teaches is checked on the other half's people against the shipped defaults, and the
values fitted on everyone apply only when both checks improve by MIN_GAIN and enough was
decided (MIN_PEOPLE named people, MIN_FACES faces in them).

Pure computation on arrays: no database, no models.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .config import ClusterSettings

#: The values a calibration tries. Both cut the same trade: how far apart one person's
#: faces may lie before they are split (link) or left unknown (attach). They span what the
#: shipped rules give from a few hundred faces (link 1.0, attach 0.95) to all of LFW (0.85, 0.80).
LEARN_GRID = {"link_distance": (0.8, 0.85, 0.9, 0.95, 1.0, 1.05),
              "attach_distance": (0.75, 0.8, 0.85, 0.9, 0.95, 1.0)}
#: Below this the check half is too small to tell settings apart: each half needs two
#: people. With one person a half (two named), values that both halves' checks preferred
#: lost actors5 0.028 on the whole set once clustering used FaceNet and dlib together
#: (docs/people.md, "Learning from the user's names").
MIN_PEOPLE = 4
MIN_FACES = 20
#: The fitted values apply only when they beat the defaults on the check faces by this much
#: (a smaller gain on the check faces went with losses on the whole library: docs/people.md).
MIN_GAIN = 0.005


@dataclass
class Calibration:
    """What `photoface calibrate --from-names` measured and which values it would apply."""

    people: int
    labeled_faces: int
    values: dict = field(default_factory=dict)  # the fitted settings (LEARN_GRID's keys)
    default: dict = field(default_factory=dict)  # BCubed P/R/F1 on the check faces, shipped defaults
    fitted: dict = field(default_factory=dict)  # the same with the fitted values
    applies: bool = False
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def decision_labels(person: np.ndarray, named: set[int]) -> np.ndarray:
    """Per face: its person id when the user named that person, else -1 (undecided)."""
    return np.where(np.isin(person, list(named)) & (person >= 0), person, -1).astype(np.int64)


#: The thresholds learned from the named people's pairs of faces, at the false-match rate
#: each shipped default sits at on LFW (config.py): the 1:1 same-person distance about 1e-2,
#: the naming distance about 1e-4. A rate is measured only with at least
#: PAIRS_PER_RATE / rate pairs of different named people.
THRESHOLD_RATES = {"same_person_distance": 1e-2, "naming_distance": 1e-4}
PAIRS_PER_RATE = 10


def thresholds(X: np.ndarray, labels: np.ndarray) -> dict:
    """The distances of THRESHOLD_RATES measured on the named faces' pairs (same named
    person against different named people), each only where enough pairs measure it."""
    from .evaluate import calibrate

    named = labels >= 0
    sizes = np.bincount(np.unique(labels[named], return_inverse=True)[1]).astype(np.int64)
    same = int((sizes * (sizes - 1) // 2).sum())
    different = int(named.sum() * (named.sum() - 1) // 2 - same)
    if not same or not different:  # nothing to measure (evaluate.calibrate would refuse)
        return {"same_pairs": same, "different_pairs": different}
    return measured_thresholds(calibrate(X[named], labels[named], min(THRESHOLD_RATES.values())))


def measured_thresholds(report: dict) -> dict:
    """From evaluate.calibrate's report: the pair counts and, for each of THRESHOLD_RATES
    its report measured on at least PAIRS_PER_RATE / rate pairs of different people, the
    threshold and the share of same-person pairs within it."""
    levels = {lv["target_fmr"]: lv for lv in report["levels"]}
    out = {"same_pairs": report["same_pairs"], "different_pairs": report["different_pairs"]}
    for name, rate in THRESHOLD_RATES.items():
        if rate in levels and report["different_pairs"] >= PAIRS_PER_RATE / rate:
            out[name] = levels[rate]["threshold"]
            out[name.replace("distance", "true_match_rate")] = levels[rate]["tmr"]
    return out


def score(labels: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> dict:
    """BCubed precision/recall/F1 of ``pred`` for the named people's faces in ``mask`` and
    the faces that share a cluster with them. A face the user did not place in a person
    (rejected, or never placed: the user names a person's faces) that joins them is taken
    to be a stranger, a person of its own: it costs the named faces precision, and is
    scored itself (its own precision falls to 1 / the cluster's size), as a full BCubed
    over the library would score it. A face of theirs outside the cluster costs recall.
    Noise faces are clusters of their own."""
    pred = np.asarray(pred).copy()
    noise = pred < 0
    pred[noise] = pred.max(initial=-1) + 1 + np.arange(noise.sum())
    named = labels >= 0
    keep = mask & named
    if not keep.any():
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    strangers = ~named & np.isin(pred, pred[keep])
    _, cluster = np.unique(pred, return_inverse=True)
    size = np.bincount(cluster).astype(np.float64)
    _, person = np.unique(labels[named], return_inverse=True)
    cell = np.zeros((len(size), person.max(initial=-1) + 1))
    np.add.at(cell, (cluster[named], person), 1)
    faces_of = cell.sum(axis=0)
    who = np.full(len(labels), -1)
    who[named] = person
    together = cell[cluster[keep], who[keep]]
    precision = float(np.concatenate([together / size[cluster[keep]], 1.0 / size[cluster[strangers]]]).mean())
    recall = float(np.concatenate([together / faces_of[who[keep]], np.ones(int(strangers.sum()))]).mean())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def halves(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per face: 0 or 1, the half of the named people it belongs to (a fixed draw of the
    people, so each half checks what the other half taught on people it never saw);
    -1 for faces of nobody named."""
    people = np.unique(labels[labels >= 0])
    order = np.random.default_rng(seed).permutation(people)
    half = {int(p): i % 2 for i, p in enumerate(order)}
    return np.array([half.get(int(v), -1) for v in labels])


def _mean(a: dict, b: dict) -> dict:
    return {k: round((a[k] + b[k]) / 2, 4) for k in a}


def fit(table: dict, labels: np.ndarray, base: ClusterSettings, cluster, grid: dict = LEARN_GRID,
        seed: int = 0) -> Calibration:
    """Fit LEARN_GRID's settings to ``labels`` (decision_labels) on this library's faces.
    ``cluster(settings) -> labels per face`` runs the library's clusterer. The named people
    are split in two halves: the values fitted on each half are checked on the other, and
    apply (fitted on everyone) only when both checks beat the defaults by MIN_GAIN."""
    people = len(set(labels[labels >= 0].tolist()))
    named = labels >= 0
    out = Calibration(people=people, labeled_faces=int(named.sum()))
    if people < MIN_PEOPLE or out.labeled_faces < MIN_FACES:
        out.reason = (f"{people} named people with {out.labeled_faces} faces: calibration needs at least "
                      f"{MIN_PEOPLE} named people and {MIN_FACES} faces in them")
        return out
    half = halves(labels, seed)
    masks = (half == 0, half == 1, named)
    shipped = effective(base, len(labels))
    runs = []
    for values in itertools.product(*grid.values()):
        changes = dict(zip(grid, values))
        pred = cluster(replace(base, **changes))
        # ties: the setting nearest what the shipped rules give this library
        moved = sum(abs(v - shipped[k]) for k, v in changes.items() if k in shipped)
        runs.append(([score(labels, pred, m) for m in masks], -moved, changes))
    default = [score(labels, cluster(base), m) for m in masks]

    def best(i: int):
        return max(runs, key=lambda r: (r[0][i]["f1"], r[1]))

    on_a, on_b, on_all = best(0), best(1), best(2)
    out.values = on_all[2]
    out.default = _mean(default[1], default[0])
    out.fitted = _mean(on_a[0][1], on_b[0][0])  # each half scored with what the other taught
    gains = (on_a[0][1]["f1"] - default[1]["f1"], on_b[0][0]["f1"] - default[0]["f1"])
    if min(gains) < MIN_GAIN:
        out.reason = (f"values fitted on half of your named people gain {gains[0]:+.3f} and {gains[1]:+.3f} "
                      f"on the other half (less than {MIN_GAIN}): defaults kept")
    else:
        out.applies = True
        out.reason = "fitted on your named people; each half checked with values fitted on the other"
    return out


def effective(settings: ClusterSettings, library_faces: int) -> dict:
    """The longest link and attach distance ``settings`` give a library of this many faces
    (both adapt to its size unless set)."""
    from .cluster import FaceClusterer

    clusterer = FaceClusterer.from_settings(settings)
    link = clusterer.longest_link(library_faces)
    return {"link_distance": link, "attach_distance": clusterer.attach_within(link)}


def apply(base: ClusterSettings, calibration: Calibration | dict | None) -> ClusterSettings:
    """``base`` with a calibration's values when it applies."""
    if calibration is None:
        return base
    cal = calibration if isinstance(calibration, dict) else calibration.to_dict()
    return replace(base, **cal["values"]) if cal.get("applies") and cal.get("values") else base
