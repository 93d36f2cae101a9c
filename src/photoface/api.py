"""photoface's Python API: the twin of every command-line command.

Each function opens the library, calls the module that does the work, and returns its
result; the CLI and the web UI call only these. Errors a user can act on are raised as
photoface.errors exceptions.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from . import label
from .config import FACENET_MODEL, LEGACY_FACENET_MODELS, NAMING_DISTANCE, SAME_PERSON_DISTANCE, ClusterSettings, Settings
from .db import RunLock, Store, open_store
from .decisions import (  # noqa: F401  (the commands that change people)
    add_face, apply_waiting, check_name, delete_face, hide, history, ignore, merge, move, name, new_person, reject,
    split, tags_read, tags_write, undo)
from .errors import InputError
from .indexer import SUMMARY_ERRORS, IndexSummary, index, library_settings  # noqa: F401  (the `index` command)
from .types import PersonFaces, PersonPage, PersonSummary, SimilarPerson, WorkItem


def _nonempty(store: Store) -> None:
    if not store.has_faces():
        raise InputError("the library has no faces yet: run `photoface index FOLDER` first")
    _current(store)


def _current(store: Store) -> None:
    """Refuse to compare faces while some are stored with an older embedding."""
    older = store.count_faces_of_models(LEGACY_FACENET_MODELS)
    if older:
        raise InputError(f"{older} faces were embedded by an older photoface: run `photoface index FOLDER` once "
                         "to embed them again (faces, names and clusters are kept)")


# --- the library ------------------------------------------------------------------------------
def status(db: str = "photoface.db") -> dict:
    """Counts of photos, faces and people in the database, and its latest index runs."""
    with open_store(db) as store:
        return {"db": os.path.abspath(db), "schema_version": store.schema_version, **store.counts(),
                **store.people_counts(), "embedding_precision": store.embedding_precision(), "runs": store.runs()[-5:],
                "calibration": calibration_summary(store.latest_calibration(FACENET_MODEL))}


def calibration_summary(cal: dict | None) -> dict | None:
    """What the latest `calibrate --from-names` measured on the user's own names: the
    precision and recall in force (the fitted values' when they apply, else the defaults')."""
    if cal is None:
        return None
    c, t = cal["cluster"], cal["thresholds"]
    quality = c["fitted"] if c["applies"] else c["default"]
    return {"at": cal["at"], "people": c["people"], "faces": c["labeled_faces"], "applies": c["applies"],
            "values": c["values"] if c["applies"] else {}, "reason": c["reason"],
            **{k: quality.get(k) for k in ("precision", "recall", "f1")},
            "same_person_distance": t.get("same_person_distance"), "naming_distance": t.get("naming_distance")}


def attributes(db: str = "photoface.db", *, redo: bool = False, workers: int | None = None,
               scheduler: str = "auto", settings: Settings | None = None,
               on_start: Callable[[int], None] | None = None,
               on_progress: Callable[[int, int, int], None] | None = None) -> dict:
    """Estimate age, gender and expression for indexed faces that have none yet (all with
    ``redo``). Photos are decoded again; one that cannot be read any more is reported and
    its faces keep no attributes. Resumable: an interrupted run keeps what it stored."""
    from .indexer import fill_attributes

    with RunLock(db), open_store(db) as store:
        return fill_attributes(store, redo, workers, scheduler, settings or Settings(), on_start, on_progress)


def failed_photos(db: str, limit: int = 100) -> list[dict]:
    """Photos the index could not read, with the reason, most recent first."""
    with open_store(db) as store:
        return store.failed_photos(limit)


# --- people -----------------------------------------------------------------------------------
def cluster(db: str = "photoface.db", *, full: bool | None = None, settings: ClusterSettings | None = None,
            overrides: list[str] | tuple = (), calibrated: bool = True, model: str = FACENET_MODEL) -> dict:
    """Group faces into people: new faces join existing people, the rest form new clusters.
    ``full`` True re-clusters every face (ids and names carry over), False adds only the
    new faces, None chooses by the library's size (ClusterSettings.full_run_faces). The settings: ``settings``
    when given, else the defaults with the library's calibration (`calibrate --from-names`,
    unless ``calibrated`` is false), then ``overrides`` (NAME=VALUE). Returns a summary dict."""
    from . import organize

    with RunLock(db), open_store(db) as store:
        _nonempty(store)
        label.apply_waiting(store)  # what a user decided while the library was busy counts first
        cal = store.latest_calibration(model) if settings is None and calibrated else None
        applies = bool(cal and cal["cluster"]["applies"])
        s = settings or _library_settings(cal["cluster"] if applies else None, overrides)
        out = organize.run(store, model, s, full=full).to_dict()
        out["calibrated"] = applies
        return out


def _library_settings(calibration: dict | None, overrides=()) -> ClusterSettings:
    """The defaults with a calibration's clustering values (when it applies), then ``overrides``."""
    from . import learn
    from .config import with_overrides

    return with_overrides(learn.apply(ClusterSettings(), calibration), list(overrides))


def threshold(db: str | None, kind: str, model: str = FACENET_MODEL) -> float:
    """The distance ``kind`` ('same_person_distance' or 'naming_distance') for a library: the
    one `calibrate --from-names` measured on its named people when enough pairs did, else
    the shipped default."""
    default = {"same_person_distance": SAME_PERSON_DISTANCE, "naming_distance": NAMING_DISTANCE}[kind]
    if not db or not os.path.exists(db):
        return default
    with open_store(db) as store:
        cal = store.latest_calibration(model) if "calibrations" in store.db.table_names() else None
    value = (cal or {}).get("thresholds", {}).get(kind)
    return default if value is None else float(value)


def calibrate_from_names(db: str = "photoface.db", *, model: str = FACENET_MODEL, save: bool = True) -> dict:
    """Fit the clustering distances and the same-person and naming thresholds to the people
    the user named in this library (photoface.learn); stored so that cluster, verify
    (with --db), search and label use them. Returns the report."""
    from . import learn, organize

    with RunLock(db), open_store(db) as store:
        _nonempty(store)
        table = store.face_table(model)
        labels = learn.decision_labels(table["person_id"], store.user_named_person_ids())
        base = ClusterSettings()
        fitted = learn.fit(table, labels, base, lambda s: organize.library_labels(table, s))
        report = {"cluster": fitted.to_dict(), "thresholds": learn.thresholds(table["X"], labels),
                  "defaults": {"same_person_distance": SAME_PERSON_DISTANCE, "naming_distance": NAMING_DISTANCE,
                               **{k: getattr(base, k) for k in learn.LEARN_GRID}}}
        if save:
            store.save_calibration(model, report)
        return report


def people(db: str = "photoface.db", *, include_hidden: bool = False, examples: int = 3) -> list[PersonSummary]:
    """People and unnamed clusters with face and photo counts and example faces, largest first."""
    with open_store(db) as store:
        return store.people(include_hidden=include_hidden, examples=examples)


def names(db: str) -> list[str]:
    """Every person's name, alphabetically (for a name field's suggestions)."""
    with open_store(db) as store:
        return sorted((n for n in store.person_names().values() if n), key=str.casefold)


def person_faces(db: str, person) -> PersonFaces:
    """One person (by id or name) with every face: id, photo, box, how it was assigned."""
    from .demographics import person_summary
    from .label import resolve_person

    with open_store(db) as store:
        p = resolve_person(store, person)
        return PersonFaces(**asdict(p), face_list=store.person_face_list(p.id), attributes=person_summary(store, p.id))


# --- naming from examples ---------------------------------------------------------------------
def label_gallery(db: str, folder: str, *, threshold: float = NAMING_DISTANCE, margin: float = 0.10,
                  dry_run: bool = False, model: str = FACENET_MODEL) -> dict:
    """Name clusters from FOLDER/<Person Name>/*.jpg. Names a user gave are never replaced.
    ``named`` and ``review`` hold naming.NameProposal results."""
    from . import naming

    with RunLock(db), open_store(db) as store:
        _nonempty(store)
        settings = library_settings(store, Settings())
        return naming.from_gallery(store, folder, lambda paths: embed_photos(paths, settings), model, threshold,
                                   margin, dry_run)


def train_classifier(db: str = "photoface.db", *, model: str = FACENET_MODEL) -> dict:
    """Train a linear SVM on the faces of people a user named; saved beside the database."""
    from . import naming

    with open_store(db) as store:
        _current(store)
        return naming.train(store, db, model)


def label_classifier(db: str = "photoface.db", *, min_probability: float = 0.60,
                     max_distance: float = NAMING_DISTANCE, dry_run: bool = False) -> dict:
    """Propose names for unnamed clusters with the trained classifier (and apply them unless
    ``dry_run``); strangers stay unnamed (naming.from_classifier)."""
    from . import naming

    saved = naming.load_classifier(db, FACENET_MODEL)
    with RunLock(db), open_store(db) as store:
        return naming.from_classifier(store, saved, naming.classifier_path(db), min_probability, max_distance,
                                      dry_run)


# --- photos outside the library: queries, verification, videos ---------------------------------
def embed_photos(paths: list[str], settings: Settings | None = None) -> list:
    """Detect and embed faces in files outside the library, in this process -> [PhotoResult]."""
    from .pipeline import PipelineSpec, index_files

    items = []
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(f"photo not found: {path}")
        st = os.stat(path)
        items.append(WorkItem(path, st.st_size, st.st_mtime))
    return index_files(items, PipelineSpec.from_settings(settings or Settings()))


def _faces_of(path: str, settings: Settings | None = None) -> list:
    res = embed_photos([path], settings)[0]
    if res.status != "indexed":
        raise InputError(f"cannot read {path}: {res.error}")
    if not res.faces:
        raise InputError(f"no face found in {path}")
    return sorted(res.faces, key=lambda f: -(f.detection.width * f.detection.height))


def _box(face) -> list:
    d = face.detection
    return [round(d.x1, 1), round(d.y1, 1), round(d.x2, 1), round(d.y2, 1)]


def verify(photo_a: str, photo_b: str, *, all_pairs: bool = False, threshold: float = SAME_PERSON_DISTANCE,
           settings: Settings | None = None) -> dict:
    """Same person or not (1:1): the largest face of each photo, or every pair with ``all_pairs``."""
    from .vectors import distance

    settings = settings or Settings()
    faces_a, faces_b = _faces_of(photo_a, settings), _faces_of(photo_b, settings)
    if not all_pairs:
        faces_a, faces_b = faces_a[:1], faces_b[:1]
    pairs = []
    for i, fa in enumerate(faces_a):
        for j, fb in enumerate(faces_b):
            d = distance(fa.embedding, fb.embedding)
            pairs.append({"face_a": i, "face_b": j, "box_a": _box(fa), "box_b": _box(fb),
                          "distance": round(d, 4), "same_person": d < threshold})
    pairs.sort(key=lambda p: p["distance"])
    return {"photo_a": photo_a, "photo_b": photo_b, "threshold": threshold, "pairs": pairs,
            "same_person": pairs[0]["same_person"], "distance": pairs[0]["distance"]}


def search(db: str = "photoface.db", people=(), *, any_of=(), none_of=(), only: bool = False,
           after: str | None = None, before: str | None = None, emotion: str | None = None,
           age: str | None = None, gender: str | None = None) -> list[dict]:
    """Photos by the people in them: all of ``people``, one of ``any_of``, none of ``none_of``;
    and/or with a face of that ``emotion`` (happy, sad, ...), ``age`` ("20-35", "60-") and ``gender``."""
    from .demographics import AttributeFilter
    from .search import people_query

    attrs = AttributeFilter.parse(emotion, age, gender)
    with open_store(db) as store:
        return people_query(store, people, any_of, none_of, only, after, before, attrs)


def search_face(db: str, photo: str, *, limit: int = 20, max_distance: float = SAME_PERSON_DISTANCE,
                all_faces: bool = False, model: str = FACENET_MODEL) -> list[dict]:
    """Faces in the library like the face in ``photo`` (its largest, or each with ``all_faces``), closest first."""
    from .neighbors import FaceIndex
    from .search import similar_faces

    with open_store(db) as store:
        _nonempty(store)
        queries = _faces_of(photo, library_settings(store, Settings()))
        if not all_faces:
            queries = queries[:1]
        index = FaceIndex(db, model)
        index.sync(store, model)
        out = []
        for i, q in enumerate(queries):
            for hit in similar_faces(store, index, q.embedding, limit, max_distance):
                out.append({"query_face": i, "query_box": _box(q), **hit})
        out.sort(key=lambda r: (r["distance"]))
        return out if all_faces else out[:limit]


def annotate(video: str, output: str, *, db: str | None = None, every: int | None = None,
             max_side: int | None = None, max_distance: float = NAMING_DISTANCE, labels: str | None = None,
             settings: Settings | None = None, on_progress: Callable[[int, int], None] | None = None,
             model: str = FACENET_MODEL) -> dict:
    """Write ``output``: ``video`` with every face boxed and named after the library's named
    people (``db``), or "unknown" (annotate.annotate_file)."""
    from .annotate import annotate_file

    names, vectors = [], np.zeros((0, 512), np.float32)
    settings = settings or Settings()
    if db is not None:
        with open_store(db) as store:
            _current(store)
            names, vectors = store.named_faces(model)
            settings = library_settings(store, settings)
    return annotate_file(video, output, names, vectors, settings, every=every, max_side=max_side,
                         max_distance=max_distance, labels=labels, on_progress=on_progress)


def demographics(db: str = "photoface.db", *, per_person: bool = False, include_hidden: bool = False) -> dict:
    """Counts by age band, gender and expression over faces and over people (see demographics.report)."""
    from .demographics import report

    with open_store(db) as store:
        return report(store, per_person, include_hidden)


# --- measuring quality ------------------------------------------------------------------------
def _indexer(workers, scheduler, on_start, on_progress):
    def run(folder: str, db: str):
        return index(folder, db, workers=workers, scheduler=scheduler, on_start=on_start, on_progress=on_progress)
    return run


def eval_pairs(*, lfw: str | None = None, pairs: str | None = None, cache: str | None = None,
               roc: str | None = None, far: float = 1e-3, workers: int | None = None, scheduler: str = "local",
               on_start=None, on_progress=None) -> dict:
    """1:1 verification with the LFW View 2 protocol (10 folds, threshold chosen on the other 9)
    on LFW's pairs.txt (``lfw``: the LFW folder) or on a CSV of pairs. Faces come from
    photoface's own detection and alignment; pairs without a face are counted, never dropped."""
    from . import evaluate

    if bool(lfw) == bool(pairs):
        raise InputError("give either --lfw DIR or --pairs FILE.csv")
    items = evaluate.read_lfw_pairs(lfw) if lfw else evaluate.read_pairs_csv(pairs)
    paths = sorted({p.a for p in items} | {p.b for p in items})
    emb = evaluate.embed_dataset(paths, evaluate.cache_dir(cache), "lfw" if lfw else "pairs",
                                 _indexer(workers, scheduler, on_start, on_progress))
    dist = evaluate.pair_distances(items, emb)
    report = evaluate.verification_report(items, dist, far)
    report["photos"] = len(paths)
    report["photos_without_face"] = sum(v is None for v in emb.values())
    report["model"] = FACENET_MODEL
    if roc:
        evaluate.draw_roc(report["roc"]["fpr"], report["roc"]["tpr"], roc,
                          f"photoface {FACENET_MODEL}: accuracy {report['accuracy']:.4f}, AUC {report['auc']:.4f}")
        report["roc_png"] = os.path.abspath(roc)
    return report


def _labeled_faces(labeled: str, cache, workers, scheduler, on_start, on_progress):
    from . import evaluate

    return evaluate.labeled_faces(labeled, cache, _indexer(workers, scheduler, on_start, on_progress))


def eval_cluster(labeled: str, *, cache: str | None = None, settings: ClusterSettings | None = None,
                 anchors: bool = True, workers: int | None = None, scheduler: str = "local",
                 on_start=None, on_progress=None) -> dict:
    """How well clustering recovers the people of LABELED/<Person>/*.jpg: photoface's
    clusterer and, side by side on the same faces, the anchors' algorithms."""
    from . import evaluate

    table, truth = _labeled_faces(labeled, cache, workers, scheduler, on_start, on_progress)
    return evaluate.cluster_report(table, truth, settings or ClusterSettings(), anchors)


def eval_cluster_tags(db: str, *, settings: ClusterSettings | None = None, anchors: bool = True) -> dict:
    """How well clustering recovers the people the library's own face tags name (read by
    `index` or `tags read`): every face of the library clustered afresh, as if nobody were
    named, the faces the tags name scored against those names."""
    from . import evaluate

    with open_store(db) as store:
        _nonempty(store)
        table = store.face_table(FACENET_MODEL)
        truth = store.tag_names_for(table["id"])
    scored = np.array([t is not None for t in truth], bool)
    if len({t for t in truth if t is not None}) < 2:
        raise InputError("the photos' tags name fewer than two people in this library: tag some faces in another "
                         "app (or `photoface tags read` after doing so), or use --labeled FOLDER")
    out = evaluate.cluster_report(table, truth, settings or ClusterSettings(), anchors, scored=scored)
    out["library_faces"] = len(truth)
    return out


def calibrate(labeled: str, *, fmr: float = 1e-3, cache: str | None = None, workers: int | None = None,
              scheduler: str = "local", on_start=None, on_progress=None, save_to: str | None = None) -> dict:
    """Distance thresholds for this library at a target false-match rate, from its labeled
    faces; with ``save_to`` (a library), the same-person and naming thresholds measured at
    the rates of learn.THRESHOLD_RATES are stored there for verify, search, label and annotate
    (the library's clustering calibration, if any, is kept)."""
    from . import evaluate, learn

    if not 0 < fmr < 1:
        raise InputError(f"the false-match rate must be between 0 and 1, not {fmr}")
    table, truth = _labeled_faces(labeled, cache, workers, scheduler, on_start, on_progress)
    out = evaluate.calibrate(table["X"], truth, fmr)
    out["default_threshold"] = SAME_PERSON_DISTANCE
    out["default_naming_threshold"] = NAMING_DISTANCE
    if save_to:
        thresholds = {**learn.measured_thresholds(out), "source": os.path.abspath(labeled)}
        with RunLock(save_to), open_store(save_to) as store:
            before = store.latest_calibration(FACENET_MODEL)
            cluster = before["cluster"] if before else learn.Calibration(
                0, 0, reason="not calibrated from names").to_dict()
            store.save_calibration(FACENET_MODEL, {"cluster": cluster, "thresholds": thresholds, "defaults": {
                "same_person_distance": SAME_PERSON_DISTANCE, "naming_distance": NAMING_DISTANCE}})
        out["saved"] = {k: thresholds[k] for k in learn.THRESHOLD_RATES if k in thresholds}
    return out


# --- browsing: what `photoface serve` shows ------------------------------------------------
def people_page(db: str, *, offset: int = 0, limit: int = 60, include_hidden: bool = False) -> dict:
    """One page of people, unnamed clusters first, largest first, with one example face each."""
    with open_store(db) as store:
        return {"total": store.people_count(include_hidden), "offset": offset, "limit": limit,
                "people": store.people(include_hidden, examples=1, limit=limit, offset=offset, unnamed_first=True)}


def person_page(db: str, person, *, offset: int = 0, limit: int = 120) -> PersonPage:
    """One person (id or name) with a page of their faces and their count."""
    from .demographics import person_summary
    from .label import resolve_person

    with open_store(db) as store:
        p = resolve_person(store, person)
        return PersonPage(**asdict(p), total_faces=store.person_face_count(p.id), offset=offset, limit=limit,
                          attributes=person_summary(store, p.id), face_list=store.person_faces_page(p.id, limit, offset))


def similar_people(db: str, person, *, limit: int = 5, model: str = FACENET_MODEL) -> list[SimilarPerson]:
    """The people closest to ``person`` (by their nearest faces to its mean face): merge candidates."""
    from .label import resolve_person
    from .review import similar_people as closest

    with open_store(db) as store:
        _current(store)
        return closest(store, resolve_person(store, person).id, model, limit)


def split_questions(db: str, person=None, *, model: str = FACENET_MODEL) -> list:
    """SplitQuestions, faces that may be someone else (review.maybe_someone_else): of ``person``
    (id or name; at most one), else of the largest people, surest first."""
    from .label import resolve_person
    from .review import maybe_someone_else, split_questions as questions

    with open_store(db) as store:
        _current(store)
        if person is None:
            return questions(store, model)
        return [q for q in [maybe_someone_else(store, resolve_person(store, person).id, model)] if q]


def review_queue(db: str, *, limit: int = 50, candidates: int = 2000, model: str = FACENET_MODEL) -> list[dict]:
    """Faces whose assignment is least certain first (review.review_queue); faces a user placed
    are never listed."""
    from .review import review_queue as queue

    with open_store(db) as store:
        _current(store)
        return queue(store, model, limit, candidates)


def unknown_faces(db: str, *, offset: int = 0, limit: int | None = None, ignored: bool = False,
                  max_distance: float = SAME_PERSON_DISTANCE, model: str = FACENET_MODEL) -> dict:
    """A page of the faces in no person (``ignored``: that a user ignored), review.unknown_page."""
    from .review import unknown_page

    with open_store(db) as store:
        _current(store)
        return unknown_page(store, model, max_distance, offset, limit, ignored)


def photo(db: str, photo_id: int) -> dict:
    """One indexed photo with its faces (box in photo pixels, person id and name)."""
    from .search import describe_photos

    with open_store(db) as store:
        found = describe_photos(store, [int(photo_id)])
        if not found:
            raise InputError(f"no indexed photo with id {photo_id}")
        return found[0]


def face_image(db: str, face_id: int, frame: bool = False) -> bytes:
    """JPEG thumbnail of a face, cut from its photo and cached beside the database; with
    ``frame``, the whole video frame a face track's box was taken from."""
    from . import thumbs

    with open_store(db) as store:
        found = store.face_file(face_id)
    if found is None or (frame and found[3] is None):
        raise InputError(f"no {'face track of a video' if frame else 'face'} with id {face_id}")
    path, mtime, box, t = found
    if frame:
        return thumbs.frame_jpeg(db, int(face_id), path, mtime, t)
    return thumbs.face_jpeg(db, int(face_id), path, box, mtime, t)


def photo_image(db: str, photo_id: int) -> bytes:
    """JPEG of an indexed photo, at most 1600 px, cached beside the database."""
    from . import thumbs

    with open_store(db) as store:
        found = store.photo_file(photo_id)
    if found is None:
        raise InputError(f"no indexed photo with id {photo_id}")
    return thumbs.photo_jpeg(db, int(photo_id), *found)
