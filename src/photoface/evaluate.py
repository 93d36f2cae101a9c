"""Measure photoface on labeled photos: 1:1 verification with the LFW protocol, clustering
quality against known identities, and thresholds calibrated to a false-match rate.

Embeddings always come from photoface's own pipeline (detection, alignment, FaceNet): the
photos are indexed into a cache database per dataset, so faces that are not detected are
counted as such, and a second run with other parameters reads the cache in seconds.
Pure computation apart from ``embed_dataset``; the anchors' algorithms are in anchors.py.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .metrics import clustering_report
from .vectors import distance, similarity_to_distance


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    fold: int


# --- reading pairs -----------------------------------------------------------------------
def lfw_image_root(lfw: str) -> str:
    """The folder of per-person image folders in an LFW download (deep-funneled or not)."""
    for sub in ("lfw-deepfunneled", "lfw_funneled", "lfw", ""):
        root = os.path.join(lfw, sub)
        if not os.path.isdir(root):
            continue
        for name in os.listdir(root):
            if os.path.isfile(os.path.join(root, name, f"{name}_0001.jpg")):
                return root
    raise InputError(f"no LFW images under {lfw}: expected lfw-deepfunneled/<Name>/<Name>_0001.jpg")


def read_lfw_pairs(lfw: str) -> list[Pair]:
    """LFW View 2: pairs.txt holds 10 folds of 300 matched then 300 mismatched pairs."""
    path = os.path.join(lfw, "pairs.txt")
    if not os.path.isfile(path):
        raise InputError(f"no pairs.txt in {lfw}")
    root = lfw_image_root(lfw)

    def image(name: str, number: str) -> str:
        return os.path.join(root, name, f"{name}_{int(number):04d}.jpg")

    with open(path) as fh:
        lines = [line.split() for line in fh if line.strip()]
    folds, per = int(lines[0][0]), int(lines[0][1])
    pairs = []
    for i, row in enumerate(lines[1:]):
        fold = i // (2 * per)
        if len(row) == 3:
            pairs.append(Pair(image(row[0], row[1]), image(row[0], row[2]), True, fold))
        elif len(row) == 4:
            pairs.append(Pair(image(row[0], row[1]), image(row[2], row[3]), False, fold))
        else:
            raise InputError(f"{path} line {i + 2}: expected 3 or 4 fields, got {len(row)}")
    if len(pairs) != folds * 2 * per:
        raise InputError(f"{path}: expected {folds * 2 * per} pairs, found {len(pairs)}")
    return pairs


def read_pairs_csv(path: str, folds: int = 10) -> list[Pair]:
    """A CSV with columns path_a, path_b, same (1/0, yes/no, true/false) and optionally fold;
    relative paths are relative to the CSV. Without folds, pairs are dealt into ``folds``."""
    if not os.path.isfile(path):
        raise InputError(f"pairs file not found: {path}")
    base = os.path.dirname(os.path.abspath(path))
    truthy = {"1", "yes", "true", "same", "y"}
    falsy = {"0", "no", "false", "different", "n"}
    pairs = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"path_a", "path_b", "same"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InputError(f"{path}: needs the columns path_a, path_b, same (and optionally fold)")
        for i, row in enumerate(reader):
            flag = row["same"].strip().lower()
            if flag not in truthy | falsy:
                raise InputError(f"{path} row {i + 2}: 'same' must be 1 or 0, not {row['same']!r}")
            fold = int(row["fold"]) if row.get("fold") not in (None, "") else i % folds
            pairs.append(Pair(os.path.join(base, row["path_a"]), os.path.join(base, row["path_b"]),
                              flag in truthy, fold))
    if not pairs or len({p.same for p in pairs}) < 2:
        raise InputError(f"{path}: needs both matched and mismatched pairs")
    return pairs


# --- embeddings through photoface's own pipeline -------------------------------------------
def cache_dir(base: str | None = None) -> str:
    return base or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "photoface", "eval")


def cache_key(parts: list[str]) -> str:
    """A short hash of ``parts`` and of the detection and embedding recipe: an eval cache
    made with other settings or another embedding is never reused."""
    from .config import FACENET_MODEL, Settings
    from .decode import DECODE_VERSION
    from .models.detector import CASCADE_VERSION
    from .models.facenet import CENTRE_PATH, choose_precision

    s = Settings()
    centre = hashlib.sha256(CENTRE_PATH.read_bytes()).hexdigest()[:16] if CENTRE_PATH.exists() else "-"
    recipe = f"{FACENET_MODEL} {centre} mtcnn-cascade-{CASCADE_VERSION} {s.min_score} {s.crop_margin} {s.detect_max_side_px} {s.decode_max_side_px} decode-{DECODE_VERSION} {choose_precision(s.embed_precision, s.device)}"
    return hashlib.sha256("\n".join([recipe, *parts]).encode()).hexdigest()[:16]


def embed_dataset(paths: list[str], cache: str, name: str, index_fn) -> dict[str, np.ndarray | None]:
    """The embedding of the main face of each photo (None where no face was found).

    The photos are linked into a folder inside ``cache`` and indexed there with
    ``index_fn(folder, db)`` (photoface's index: resumable, incremental), so an
    interrupted or repeated evaluation only embeds what is missing. The cache is keyed by
    the photos and by the detection and embedding recipe, so a new recipe starts afresh. The main face is the
    one nearest the photo's centre (LFW photos are centred on their subject), the larger
    on ties.
    """
    from .config import FACENET_MODEL
    from .db import open_store

    key = cache_key(sorted(set(paths)))
    folder = os.path.join(cache, f"{name}-{key}")
    photos = os.path.join(folder, "photos")
    os.makedirs(photos, exist_ok=True)
    link_of = {}
    for p in sorted(set(paths)):
        if not os.path.isfile(p):
            raise InputError(f"photo not found: {p}")
        link = os.path.join(photos, hashlib.sha256(os.path.abspath(p).encode()).hexdigest()[:20]
                            + os.path.splitext(p)[1].lower())
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(p), link)
        link_of[p] = link
    db = os.path.join(folder, "faces.db")
    index_fn(photos, db)
    with open_store(db) as store:
        rows = store.photo_faces_with_size(FACENET_MODEL)
    best: dict[str, tuple] = {}
    for path, w, h, x1, y1, x2, y2, vector in rows:
        if vector is None:
            continue
        off = np.hypot((x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2)
        rank = (round(off / max(w, h, 1), 2), -(x2 - x1) * (y2 - y1))
        if path not in best or rank < best[path][0]:
            best[path] = (rank, vector.copy())
    return {p: (best[link][1] if link in best else None) for p, link in link_of.items()}


def pair_distances(pairs: list[Pair], emb: dict[str, np.ndarray | None]) -> np.ndarray:
    """Euclidean distance per pair; NaN where either photo has no detected face."""
    out = np.full(len(pairs), np.nan)
    for i, p in enumerate(pairs):
        a, b = emb.get(p.a), emb.get(p.b)
        if a is not None and b is not None:
            out[i] = distance(a, b)
    return out


# --- the verification protocol -------------------------------------------------------------
THRESHOLDS = np.arange(0.0, 4.0, 0.005)


def _accuracy(dist, same, t) -> float:
    # a pair whose face was not found is called "different": it can never be a match
    return float(np.mean((np.nan_to_num(dist, nan=np.inf) < t) == same))


def _best_threshold(dist, same) -> float:
    """The threshold of best accuracy: the middle of the first run of thresholds that reach
    it (the first alone sits on the edge of the training pairs, and generalises worse)."""
    acc = np.array([_accuracy(dist, same, t) for t in THRESHOLDS])
    first = int(np.argmax(acc))
    last = first
    while last + 1 < len(acc) and acc[last + 1] == acc[first]:
        last += 1
    return float(THRESHOLDS[(first + last) // 2])


def _far_val(dist, same, t):
    pred = np.nan_to_num(dist, nan=np.inf) < t
    far = pred[~same].mean() if (~same).any() else 0.0
    val = pred[same].mean() if same.any() else 0.0
    return float(far), float(val)


def _threshold_at_far(dist, same, target):
    """The largest threshold whose false-accept rate stays at or under ``target``."""
    d = np.sort(np.nan_to_num(dist[~same], nan=np.inf))
    allowed = int(np.floor(target * len(d)))
    return float(d[allowed]) if allowed < len(d) else float("inf")


def verification_report(pairs: list[Pair], dist: np.ndarray, far_target: float = 1e-3) -> dict:
    """LFW View 2: for each fold, the threshold that maximises accuracy on the other folds
    (the middle of the best run) is applied to it; mean and standard deviation over folds. VAL at FAR = ``far_target`` the
    same way. Pairs without a detected face count as "different" decisions and are reported."""
    same = np.array([p.same for p in pairs])
    fold = np.array([p.fold for p in pairs])
    missing = np.isnan(dist)
    accs, thresholds, vals, fars = [], [], [], []
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        t = _best_threshold(dist[train], same[train])
        thresholds.append(t)
        accs.append(_accuracy(dist[test], same[test], t))
        t_far = _threshold_at_far(dist[train], same[train], far_target)
        far, val = _far_val(dist[test], same[test], t_far)
        fars.append(far)
        vals.append(val)
    fpr, tpr = roc_curve(dist, same)
    found = ~missing
    return {
        "pairs": len(pairs), "folds": len(accs), "matched_pairs": int(same.sum()),
        "pairs_without_face": int(missing.sum()),
        "accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
        "fold_accuracies": [round(a, 4) for a in accs],
        "threshold": float(np.median(thresholds)), "fold_thresholds": thresholds,
        "val": float(np.mean(vals)), "val_std": float(np.std(vals)), "far": float(np.mean(fars)),
        "far_target": far_target,
        "auc": float(np.trapezoid(tpr, fpr)),
        # the same protocol on the pairs whose two faces were found
        "accuracy_faces_found_only": float(np.mean(accs)) if found.all() else (
            verification_report([p for p, f in zip(pairs, found) if f], dist[found], far_target)["accuracy"]
            if found.any() else None),
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    }


def roc_curve(dist: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.nan_to_num(dist, nan=np.inf)
    fpr = np.array([(d[~same] < t).mean() for t in THRESHOLDS] + [1.0])
    tpr = np.array([(d[same] < t).mean() for t in THRESHOLDS] + [1.0])
    return fpr, tpr


def draw_roc(fpr, tpr, path: str, title: str) -> None:
    """The ROC curve as a PNG (log false-accept axis from 1e-4 to 1), drawn with Pillow."""
    from PIL import Image, ImageDraw

    w, h, m = 640, 520, 60
    im = Image.new("RGB", (w, h), "white")
    g = ImageDraw.Draw(im)
    x0, y0, x1, y1 = m, h - m, w - 20, 40

    def xy(f, t):
        lf = np.log10(np.clip(f, 1e-4, 1.0))
        return x0 + (lf + 4) / 4 * (x1 - x0), y0 - t * (y0 - y1)

    for e in range(-4, 1):
        x, _ = xy(10.0 ** e, 0)
        g.line([(x, y0), (x, y1)], fill=(225, 225, 225))
        g.text((x - 14, y0 + 8), f"1e{e}" if e else "1", fill="black")
    for t in np.linspace(0, 1, 6):
        _, y = xy(1, t)
        g.line([(x0, y), (x1, y)], fill=(225, 225, 225))
        g.text((x0 - 34, y - 6), f"{t:.1f}", fill="black")
    g.rectangle([x0, y1, x1, y0], outline="black")
    points = [xy(f, t) for f, t in zip(fpr, tpr) if f > 0]
    if len(points) > 1:
        g.line(points, fill=(200, 40, 40), width=2)
    g.text((x0, 6), title, fill="black")
    g.text(((x0 + x1) / 2 - 60, h - 26), "false accept rate (log)", fill="black")
    g.text((6, y1 - 14), "true accept rate", fill="black")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    im.save(path)


# --- clustering on a labeled folder -------------------------------------------------------
def labeled_truth(paths: list[str], photo_ids: np.ndarray, sizes: np.ndarray, root: str) -> np.ndarray:
    """The true person of each face: the folder (under ``root``) of its photo for the
    largest face of the photo; any other face in it is a stranger of its own."""
    truth = np.array([os.path.relpath(p, root).split(os.sep)[0] for p in paths], dtype=object)
    order = np.lexsort((-sizes, photo_ids))
    first = np.ones(len(order), bool)
    first[1:] = photo_ids[order[1:]] != photo_ids[order[:-1]]
    strangers = order[~first]
    truth[strangers] = [f"stranger-{i}" for i in range(len(strangers))]
    return truth


def right_person_share(truth: np.ndarray, labels: np.ndarray) -> float:
    """The share of faces in a cluster whose most common true name is theirs (noise: wrong)."""
    from collections import Counter

    right = 0
    for label in set(labels.tolist()) - {-1}:
        members = truth[labels == label]
        name, count = Counter(members.tolist()).most_common(1)[0]
        right += count
    return round(right / len(truth), 4) if len(truth) else 0.0


def compare_clusterings(truth: np.ndarray, runs: dict[str, np.ndarray]) -> list[dict]:
    """One row of metrics per algorithm, best BCubed F1 first."""
    rows = []
    for name, labels in runs.items():
        r = clustering_report(truth, labels)
        rows.append({"algorithm": name, "clusters": r["clusters"], "noise": round(r["noise_fraction"], 4),
                     **{f"pairwise_{k[0]}" if k != "f1" else "pairwise_f1": round(float(v), 4)
                        for k, v in r["pairwise"].items()},
                     **{f"bcubed_{k[0]}" if k != "f1" else "bcubed_f1": round(float(v), 4)
                        for k, v in r["bcubed"].items()}})
    return sorted(rows, key=lambda r: -r["bcubed_f1"])


# --- calibration --------------------------------------------------------------------------
def calibrate(X: np.ndarray, truth: np.ndarray, fmr: float = 1e-3) -> dict:
    """Distance thresholds for this library from all same-person pairs and all different-
    person pairs of its labeled faces: the largest threshold whose false-match rate is at
    most ``fmr``, and the true-match rate there."""
    same_d, diff_d = [], []
    ids = np.unique(truth, return_inverse=True)[1]
    for start in range(0, len(X), 2048):
        block = X[start:start + 2048]
        d = similarity_to_distance(block @ X.T)
        i = np.arange(start, start + len(block))[:, None]
        upper = np.arange(len(X))[None, :] > i
        same = ids[start:start + len(block), None] == ids[None, :]
        same_d.append(d[upper & same])
        diff_d.append(d[upper & ~same])
    same_d, diff_d = np.concatenate(same_d), np.sort(np.concatenate(diff_d))
    if not len(same_d) or not len(diff_d):
        raise InputError("calibration needs at least two photos of one person and two different people")
    out = {"faces": len(X), "same_pairs": len(same_d), "different_pairs": len(diff_d), "target_fmr": fmr, "levels": []}
    for rate in sorted({1e-2, fmr, 1e-4}, reverse=True):
        k = int(np.floor(rate * len(diff_d)))
        t = float(diff_d[k]) if k < len(diff_d) else float("inf")
        level = {"target_fmr": rate, "threshold": round(t, 4), "tmr": round(float((same_d < t).mean()), 4),
                 "fmr": round(float((diff_d < t).mean()), 6)}
        out["levels"].append(level)
        if rate == fmr:
            out.update(threshold=level["threshold"], tmr=level["tmr"], fmr=level["fmr"])
    return out


# --- runs over a labeled folder -------------------------------------------------------------
def labeled_faces(labeled: str, cache: str | None, index_fn) -> tuple[dict, np.ndarray]:
    """Index a labeled folder (<Person>/<photos>) into its cache database with
    ``index_fn(folder, db)``; its face table (with each face's ``path``) and the truth."""
    from .config import FACENET_MODEL
    from .db import open_store

    if not os.path.isdir(labeled):
        raise InputError(f"labeled folder not found: {labeled}")
    root = os.path.abspath(labeled)
    folder = os.path.join(cache_dir(cache), "labeled-" + cache_key([root]))
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, "faces.db")
    index_fn(root, db)
    with open_store(db) as store:
        table = store.face_table(FACENET_MODEL)
        paths = store.photo_paths()
    if len(table["id"]) < 2:
        raise InputError(f"fewer than two faces found in {labeled}")
    table["path"] = np.array([paths[p] for p in table["photo_id"]], dtype=object)
    truth = labeled_truth(list(table["path"]), table["photo_id"], table["size"], root)
    return table, truth


#: The row of photoface's clusterer on FaceNet's embeddings alone, next to its own (FaceNet
#: and dlib's descriptor fused, vectors.fused).
FACENET_ALONE = "photoface, FaceNet alone"


def cluster_report(table: dict, truth: np.ndarray, settings, anchors: bool = True,
                   scored: np.ndarray | None = None) -> dict:
    """photoface's clusterer and, side by side on the same faces, the anchors' algorithms (on
    FaceNet's raw outputs, which their parameters were set or converted for), scored against
    the truth; with ``scored``, every face is clustered and only those faces are scored (the
    faces whose truth is known) and each row says how many of them land in the right person
    (a cluster whose most common true name is theirs)."""
    import dataclasses
    import time

    from . import anchors as anchor_algorithms
    from .organize import eligible_mask, make_clusterer

    runs, seconds = {}, {}
    t = time.perf_counter()
    runs["photoface"] = make_clusterer(settings).fit_predict(table["C"], groups=table["photo_id"],
                                                             eligible=eligible_mask(table, settings))
    seconds["photoface"] = time.perf_counter() - t
    if anchors and table["C"] is not table["X"]:  # what dlib's descriptor adds: the clusterer on FaceNet alone
        t = time.perf_counter()
        runs[FACENET_ALONE] = make_clusterer(settings).fit_predict(table["X"], groups=table["photo_id"],
                                                                   eligible=eligible_mask(table, settings))
        seconds[FACENET_ALONE] = time.perf_counter() - t
    if anchors:  # the anchors cluster FaceNet's raw outputs, as their parameters assume
        from .models.facenet import load_centre, uncentred

        raw = uncentred(table["X"], load_centre())
    for name, algorithm in (anchor_algorithms.ANCHORS.items() if anchors else ()):
        t = time.perf_counter()
        runs[name] = algorithm(raw)
        seconds[name] = time.perf_counter() - t
    if scored is not None:
        runs = {name: labels[scored] for name, labels in runs.items()}
        truth = truth[scored]
    rows = compare_clusterings(truth, runs)
    for r in rows:
        r["seconds"] = round(seconds[r["algorithm"]], 3)
        if scored is not None:
            r["right"] = right_person_share(truth, runs[r["algorithm"]])
    return {"faces": len(truth), "true_people": len(set(truth)),
            "photos": len(np.unique(table["photo_id"])), "settings": dataclasses.asdict(settings), "results": rows}
