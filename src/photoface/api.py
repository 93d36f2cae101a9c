"""photoface's Python API: the twin of every command-line command."""
from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import PRECISIONS, Settings
from .errors import InputError
from .lock import RunLock
from .models.weights import sha256_file
from .store import Store, ensure_db_folder, path_key
from .types import WorkItem

#: How many failed files the summary lists by name (all are in the photos table).
SUMMARY_ERRORS = 20


@dataclass
class IndexSummary:
    """What an index run did. Every count is also stored in the index_runs table."""

    run_id: int
    folder: str
    db: str
    photos_seen: int = 0
    photos_new: int = 0
    photos_changed: int = 0
    photos_unchanged: int = 0
    photos_moved: int = 0
    photos_missing: int = 0
    photos_indexed: int = 0
    photos_failed: int = 0
    faces_found: int = 0
    scan_errors: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # [(path, error)] of failed files, first SUMMARY_ERRORS
    elapsed_s: float = 0.0
    process_s: float = 0.0
    workers: int = 0
    scheduler: str = ""
    attributes: dict | None = None  # with --attributes: the run that filled in older faces
    reembedded: dict | None = None  # faces of an older embedding, embedded again (_reembed)

    @property
    def photos_per_s(self) -> float:
        done = self.photos_indexed + self.photos_failed
        return done / self.process_s if self.process_s > 0 else 0.0

    @property
    def faces_per_s(self) -> float:
        return self.faces_found / self.process_s if self.process_s > 0 else 0.0

    def counts(self) -> dict:
        return {k: getattr(self, k) for k in (
            "photos_seen", "photos_new", "photos_changed", "photos_unchanged", "photos_moved",
            "photos_missing", "photos_indexed", "photos_failed", "faces_found")}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["photos_per_s"] = round(self.photos_per_s, 3)
        d["faces_per_s"] = round(self.faces_per_s, 3)
        d["errors"] = [{"path": p, "error": e} for p, e in self.errors]
        d["scan_errors"] = [{"path": p, "error": e} for p, e in self.scan_errors]
        return d


def _file_sha256(path: str) -> str | None:
    """Content hash of a possibly moved file, or None if it cannot be read now."""
    try:
        return sha256_file(path)
    except OSError:
        return None


#: Below this many photos to index, "auto" runs in this process: measured here, in-process
#: indexing of 150 small photos took 13.0 s against 15.4 s on a 2-worker local cluster, 40
#: photos of 0.6-3.3 MP 12.6 s against 15.5 s; at 300 small photos the two were even.
SMALL_JOB = 100


def index(
    folder: str,
    db: str = "photoface.db",
    *,
    workers: int | None = None,
    scheduler: str = "auto",
    settings: Settings | None = None,
    retry_failed: bool = False,
    on_progress: Callable[[int, int, int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> IndexSummary:
    """Index every photo under ``folder`` into the database ``db``; returns an IndexSummary.

    Incremental: unchanged files are skipped, changed ones re-indexed, moved ones
    recognized by content (faces kept), deleted ones marked missing. A run that was
    interrupted is completed by the next one. ``scheduler`` is "local" (a new local Dask
    cluster of ``workers`` processes), "sync" (in this process), the address of an
    existing dask.distributed scheduler ("tcp://HOST:8786"), or "auto": in this process
    when fewer than SMALL_JOB photos need indexing (starting workers and loading the
    models in each costs more than they save), else a local cluster.
    ``on_start(total)`` and ``on_progress(done, total, faces)`` report progress.
    """
    from . import parallel
    from .pipeline import PipelineSpec

    settings = settings or Settings()
    if settings.device not in ("auto", "cpu", "gpu"):
        raise InputError(f"unknown device {settings.device!r}: use auto, cpu or gpu")
    if settings.embed_precision not in PRECISIONS:
        raise InputError(f"unknown precision {settings.embed_precision!r}: use auto, fp32 or bf16")
    if not (scheduler in ("auto", "local", "sync") or "://" in scheduler):
        raise InputError(f"unknown scheduler {scheduler!r}: use auto, local, sync, or an address like tcp://HOST:8786")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if not os.path.exists(folder):
        raise InputError(f"folder not found: {folder}")
    if not os.path.isdir(folder):
        raise InputError(f"not a folder: {folder}")
    ensure_db_folder(db)  # before the lock file is created beside the database
    root = os.path.abspath(folder)
    workers = workers or parallel.default_workers()
    started = time.monotonic()

    with RunLock(db):
        store = Store(db)
        try:
            run_id = store.start_run(root, dataclasses.asdict(settings))
            summary = IndexSummary(run_id, root, os.path.abspath(db), workers=workers, scheduler=scheduler)
            try:
                to_process = _plan(store, root, run_id, summary, retry_failed)
                requested = scheduler
                if scheduler == "auto":
                    scheduler = "sync" if len(to_process) < SMALL_JOB else "local"
                    summary.scheduler = scheduler
                if scheduler == "sync":
                    summary.workers = 1
                if on_start:
                    on_start(len(to_process))
                # Split this machine's cores between local workers; elsewhere TensorFlow decides.
                threads = parallel.threads_per_worker(workers) if scheduler == "local" else 0
                spec = PipelineSpec.from_settings(settings, threads)
                t0 = time.monotonic()
                done = 0
                for results in parallel.run(to_process, spec, scheduler, workers, settings.partition_size):
                    n_ok, n_bad, n_faces = store.write_results(results, run_id)
                    summary.photos_indexed += n_ok
                    summary.photos_failed += n_bad
                    summary.faces_found += n_faces
                    for res in results:
                        if res.status == "failed" and len(summary.errors) < SUMMARY_ERRORS:
                            summary.errors.append((res.path, res.error))
                    done += len(results)
                    summary.process_s = time.monotonic() - t0
                    store.update_run(run_id, **summary.counts())
                    if on_progress:
                        on_progress(done, len(to_process), summary.faces_found)
                summary.reembedded = _reembed(store, workers, requested, settings)
                if settings.attributes:  # faces indexed earlier without attributes get them too
                    summary.attributes = _fill_attributes(store, False, workers, scheduler, settings)
                summary.elapsed_s = time.monotonic() - started
                store.finish_run(run_id, "completed", summary.counts())
            except KeyboardInterrupt:
                store.finish_run(run_id, "interrupted", summary.counts(), "stopped by the user")
                raise
            except BaseException as exc:
                store.finish_run(run_id, "failed", summary.counts(), f"{type(exc).__name__}: {exc}")
                raise
        finally:
            store.close()
    return summary


def _plan(store: Store, root: str, run_id: int, summary: IndexSummary, retry_failed: bool) -> list[WorkItem]:
    """Compare the folder with the database: record moves and deletions, return the files to index."""
    from .scan import scan

    states = store.photo_states(root)
    known = {p: (size, mtime) for p, (size, mtime, status) in states.items() if status != "missing"}
    new, to_process, seen = [], [], set()
    for item in scan(root, known, summary.scan_errors):
        seen.add(item.path)
        prior = states.get(item.path)
        if prior is None or prior[2] == "missing":
            new.append(item)
        elif (prior[0], prior[1]) != (item.size, item.mtime):
            summary.photos_changed += 1
            to_process.append(item)
        elif prior[2] == "failed" and retry_failed:
            to_process.append(item)
        else:
            summary.photos_unchanged += 1
    summary.photos_seen = len(seen)
    vanished = [p for p, (_, _, status) in states.items() if status != "missing" and p not in seen]
    summary.photos_missing = store.mark_missing(vanished, run_id)
    vanished_keys = {path_key(p)[0] for p in vanished}
    # A new path whose content equals a missing photo is that photo, moved or renamed.
    candidates = store.missing_photos_by_size(item.size for item in new)
    for item in new:
        pool = candidates.get(item.size)
        sha = _file_sha256(item.path) if pool else None
        match = next((c for c in pool or [] if c[2] == sha), None)
        if match:
            pool.remove(match)
            store.move_photo(match[0], item.path, item.size, item.mtime, run_id)
            if match[1] in vanished_keys:
                summary.photos_missing -= 1  # it did not go missing: it moved during this run
            if match[1] != path_key(item.path)[0]:
                summary.photos_moved += 1
            else:
                summary.photos_unchanged += 1  # a file that was away and came back
        else:
            summary.photos_new += 1
            to_process.append(item)
    store.update_run(run_id, **summary.counts())
    return to_process


def status(db: str = "photoface.db") -> dict:
    """Counts of photos and faces in the database, and its latest index runs."""
    store = Store(db, create=False)
    try:
        return {"db": os.path.abspath(db), "schema_version": store.schema_version, **store.counts(),
                "runs": store.runs()[-5:]}
    finally:
        store.close()


# --- people ---------------------------------------------------------------------------------
from contextlib import contextmanager  # noqa: E402

from .config import (  # noqa: E402
    FACENET_MODEL, LEGACY_FACENET_MODELS, NAMING_DISTANCE, SAME_PERSON_DISTANCE, ClusterSettings,
)


@contextmanager
def _open(db: str):
    """An existing database, closed afterwards."""
    store = Store(db, create=False)
    try:
        yield store
    finally:
        store.close()


def _nonempty(store: Store) -> None:
    if not store.db.execute("SELECT 1 FROM faces LIMIT 1").fetchone():
        raise InputError("the library has no faces yet: run `photoface index FOLDER` first")
    _current(store)


def _current(store: Store) -> None:
    """Refuse to compare faces while some are stored with an older embedding."""
    marks = ",".join("?" * len(LEGACY_FACENET_MODELS))
    older = store.db.execute(f"SELECT count(*) FROM faces WHERE model IN ({marks})", LEGACY_FACENET_MODELS).fetchone()[0]
    if older:
        raise InputError(f"{older} faces were embedded by an older photoface: run `photoface index FOLDER` once "
                         "to embed them again (faces, names and clusters are kept)")


def cluster(db: str = "photoface.db", *, full: bool = False, settings: ClusterSettings | None = None,
            model: str = FACENET_MODEL) -> dict:
    """Group faces into people: new faces join existing people, the rest form new clusters.
    ``full`` re-clusters every face; ids and names carry over. Returns a summary dict."""
    from . import organize

    with RunLock(db), _open(db) as store:
        _nonempty(store)
        return organize.run(store, model, settings, full=full).to_dict()


def people(db: str = "photoface.db", *, include_hidden: bool = False, examples: int = 3) -> list[dict]:
    """People and unnamed clusters with face and photo counts and example faces, largest first."""
    with _open(db) as store:
        return store.people(include_hidden=include_hidden, examples=examples)


def person_faces(db: str, person) -> dict:
    """One person (by id or name) with every face: id, photo, box, how it was assigned."""
    from .demographics import person_summary
    from .label import resolve_person

    with _open(db) as store:
        p = resolve_person(store, person)
        rows = store.db.execute(
            "SELECT f.id, p.path, f.x1, f.y1, f.x2, f.y2, f.assigned_by, f.assign_distance FROM faces f "
            "JOIN photos p ON p.id = f.photo_id WHERE f.person_id = ? AND p.status = 'indexed' ORDER BY p.path",
            [p["id"]]).fetchall()
        p["face_list"] = [{"face_id": r[0], "path": r[1], "box": [round(v, 1) for v in r[2:6]],
                           "assigned_by": r[6], "distance": r[7]} for r in rows]
        p["attributes"] = person_summary(store, p["id"])
        return p


def _curate(db: str, fn, *args, **kwargs) -> dict:
    with RunLock(db), _open(db) as store:
        return fn(store, *args, **kwargs)


def name(db: str, person, new_name: str) -> dict:
    """Name or rename a person or cluster (by id or current name); an existing name merges the two."""
    from . import label

    return _curate(db, label.name, person, new_name)


def merge(db: str, target, source) -> dict:
    """Merge person ``source`` into ``target``."""
    from . import label

    return _curate(db, label.merge, target, source)


def move(db: str, face_ids, to) -> dict:
    """Move faces to a person (id or name; a new name creates the person)."""
    from . import label

    return _curate(db, label.move, face_ids, to)


def split(db: str, person, face_ids, new_name: str | None = None) -> dict:
    """Split faces off a person into a new person."""
    from . import label

    return _curate(db, label.split, person, face_ids, new_name)


def reject(db: str, face_ids, person=None) -> dict:
    """"Not this person": remembered, the faces never return to that person."""
    from . import label

    return _curate(db, label.reject, face_ids, person)


def hide(db: str, person, hidden: bool = True) -> dict:
    from . import label

    return _curate(db, label.hide, person, hidden)


def undo(db: str, event_id: int | None = None) -> dict:
    """Undo the latest change (a curation or a clustering run)."""
    from . import label

    return _curate(db, label.undo, event_id)


def history(db: str = "photoface.db", limit: int = 50) -> list[dict]:
    """The change log, newest first: who, what, when, and whether it was undone."""
    with _open(db) as store:
        return store.events(limit)


# --- photos outside the library: queries, galleries, verification --------------------------
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


def verify(photo_a: str, photo_b: str, *, all_pairs: bool = False, threshold: float = SAME_PERSON_DISTANCE,
           settings: Settings | None = None) -> dict:
    """Same person or not (1:1): the largest face of each photo, or every pair with ``all_pairs``."""
    faces_a, faces_b = _faces_of(photo_a, settings), _faces_of(photo_b, settings)
    if not all_pairs:
        faces_a, faces_b = faces_a[:1], faces_b[:1]
    pairs = []
    for i, fa in enumerate(faces_a):
        for j, fb in enumerate(faces_b):
            d = float(np.linalg.norm(fa.embedding - fb.embedding))
            pairs.append({"face_a": i, "face_b": j, "box_a": _box(fa), "box_b": _box(fb),
                          "distance": round(d, 4), "same_person": d < threshold})
    pairs.sort(key=lambda p: p["distance"])
    return {"photo_a": photo_a, "photo_b": photo_b, "threshold": threshold, "pairs": pairs,
            "same_person": pairs[0]["same_person"], "distance": pairs[0]["distance"]}


def _box(face) -> list:
    d = face.detection
    return [round(d.x1, 1), round(d.y1, 1), round(d.x2, 1), round(d.y2, 1)]


def search(db: str = "photoface.db", people=(), *, any_of=(), none_of=(), only: bool = False,
           after: str | None = None, before: str | None = None, emotion: str | None = None,
           age: str | None = None, gender: str | None = None) -> list[dict]:
    """Photos by the people in them: all of ``people``, one of ``any_of``, none of ``none_of``;
    and/or with a face of that ``emotion`` (happy, sad, ...), ``age`` ("20-35", "60-") and ``gender``."""
    from .demographics import AttributeFilter
    from .search import people_query

    attrs = AttributeFilter.parse(emotion, age, gender)
    with _open(db) as store:
        return people_query(store, people, any_of, none_of, only, after, before, attrs)


def attributes(db: str = "photoface.db", *, redo: bool = False, workers: int | None = None,
               scheduler: str = "auto", settings: Settings | None = None,
               on_start: Callable[[int], None] | None = None,
               on_progress: Callable[[int, int, int], None] | None = None) -> dict:
    """Estimate age, gender and expression for indexed faces that have none yet (all with
    ``redo``). Photos are decoded again; one that cannot be read any more is reported and
    its faces keep no attributes. Resumable: an interrupted run keeps what it stored."""
    with RunLock(db), _open(db) as store:
        return _fill_attributes(store, redo, workers, scheduler, settings or Settings(), on_start, on_progress)


def _run_jobs(jobs: list, task, settings: Settings, workers, scheduler):
    """The result rows of ``task`` over ``jobs`` (faces of indexed photos), partition by
    partition, on the same Dask graph as indexing ("auto": in this process for few jobs)."""
    from . import parallel
    from .pipeline import PipelineSpec

    if scheduler == "auto":
        scheduler = "sync" if len(jobs) < SMALL_JOB else "local"
    workers = workers or parallel.default_workers()
    threads = parallel.threads_per_worker(workers) if scheduler == "local" else 0
    spec = PipelineSpec.from_settings(settings, threads)
    yield from parallel.run(jobs, spec, scheduler, workers, settings.partition_size, task=task)


def _reembed(store: Store, workers, scheduler, settings: Settings) -> dict | None:
    """Embed again, from their stored boxes, the faces stored with an older embedding
    (LEGACY_FACENET_MODELS): ids, names and clusters stay; only the vectors change. None
    when there are none. A photo that cannot be read keeps its old faces for the next run."""
    from .pipeline import EmbedJob, embeddings_for_photos

    todo = store.faces_to_reembed(LEGACY_FACENET_MODELS)
    if not todo:
        return None
    jobs = [EmbedJob(path, kind, tuple(faces)) for path, kind, faces in todo]
    started = time.monotonic()
    done, failed, errors = 0, 0, []
    for rows in _run_jobs(jobs, embeddings_for_photos, settings, workers, scheduler):
        done += store.replace_embeddings([r[:4] for r in rows if r[2] is not None], FACENET_MODEL)
        for rid, owner, vector, _, why in rows:
            if vector is None and owner is None:
                failed += 1
                if len(errors) < SUMMARY_ERRORS:
                    errors.append({"face_id": rid, "error": why})
    return {"faces": sum(1 for j in jobs for f in j.faces if f[1] is None), "reembedded": done, "failed": failed,
            "errors": errors, "elapsed_s": round(time.monotonic() - started, 2)}


def _fill_attributes(store: Store, redo, workers, scheduler, settings, on_start=None, on_progress=None) -> dict:
    from .pipeline import AttributeJob, attributes_for_photos

    todo = store.faces_needing_attributes(redo)
    jobs = [AttributeJob(path, tuple(faces)) for path, faces in todo]
    faces_total = sum(len(j.faces) for j in jobs)
    started = time.monotonic()
    done, failed, errors = 0, 0, []
    if on_start:
        on_start(faces_total)
    for rows in _run_jobs(jobs, attributes_for_photos, settings, workers, scheduler):
        ok = [(fid, attrs) for fid, attrs, _ in rows if attrs is not None]
        store.write_attributes(ok)
        done += len(ok)
        for fid, attrs, why in rows:
            if attrs is None:
                failed += 1
                if len(errors) < SUMMARY_ERRORS:
                    errors.append({"face_id": fid, "error": why})
        if on_progress:
            on_progress(done + failed, faces_total, done)
    elapsed = time.monotonic() - started
    return {"faces": faces_total, "estimated": done, "failed": failed, "errors": errors,
            "elapsed_s": round(elapsed, 2), "faces_per_s": round(done / elapsed, 2) if elapsed > 0 else 0.0}


def annotate(video: str, output: str, *, db: str | None = None, every: int = 5, max_side: int = 640,
             max_distance: float = NAMING_DISTANCE, labels: str | None = None, settings: Settings | None = None,
             on_progress: Callable[[int, int], None] | None = None, model: str = FACENET_MODEL) -> dict:
    """Write ``output``: ``video`` with every face boxed and named after the library's named
    people (``db``), or "unknown". Detection and recognition run every ``every`` frames at
    ``max_side`` pixels; optical flow moves the boxes in between. ``labels`` writes one JSON
    line per frame with its boxes and names."""
    from .annotate import Recognizer, annotate_video
    from .pipeline import PipelineSpec

    if every < 1:
        raise InputError(f"--every must be at least 1, got {every}")
    if not os.path.isfile(video):
        raise InputError(f"video not found: {video}")
    if os.path.abspath(video) == os.path.abspath(output):
        raise InputError("the output must be a new file, not the input video")
    ensure_db_folder(output)
    vectors, names = np.zeros((0, 512), np.float32), []
    if db is not None:
        with _open(db) as store:
            _current(store)
            rows = store.db.execute(
                "SELECT f.embedding, pe.name FROM faces f JOIN people pe ON pe.id = f.person_id "
                "JOIN photos p ON p.id = f.photo_id WHERE pe.name IS NOT NULL AND pe.hidden = 0 "
                "AND p.status = 'indexed' AND f.model = ?", [model]).fetchall()
        if rows:
            vectors = np.stack([np.frombuffer(r[0], "<f4") for r in rows])
            names = [r[1] for r in rows]
    spec = PipelineSpec.from_settings(settings or Settings())
    result = annotate_video(video, output, Recognizer(vectors, names, max_distance), spec, every=every,
                            max_side=max_side, labels_path=labels, on_progress=on_progress)
    out = result.to_dict()
    out["named_people"] = len(set(names))
    return out


def demographics(db: str = "photoface.db", *, per_person: bool = False, include_hidden: bool = False) -> dict:
    """Counts by age band, gender and expression over faces and over people (see demographics.report)."""
    from .demographics import report

    with _open(db) as store:
        return report(store, per_person, include_hidden)


def search_face(db: str, photo: str, *, limit: int = 20, max_distance: float = SAME_PERSON_DISTANCE,
                all_faces: bool = False, model: str = FACENET_MODEL) -> list[dict]:
    """Faces in the library like the face in ``photo`` (its largest, or each with ``all_faces``), closest first."""
    from .neighbors import FaceIndex
    from .search import similar_faces

    with _open(db) as store:
        _nonempty(store)
        queries = _faces_of(photo)
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


def label_gallery(db: str, folder: str, *, threshold: float = NAMING_DISTANCE, margin: float = 0.10, dry_run: bool = False,
                  model: str = FACENET_MODEL) -> dict:
    """Name clusters from FOLDER/<Person Name>/*.jpg. Names a user gave are never replaced."""
    from . import gallery as gal
    from . import label

    with RunLock(db), _open(db) as store:
        _nonempty(store)
        g = gal.build_gallery(folder, embed_photos)
        if not g.people:
            raise InputError(f"no usable gallery photo in {folder}: "
                             + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in g.skipped[:5]))
        clusters = _unnamed_clusters(store, model)
        matches, review = gal.match_clusters(clusters, g, threshold, margin)
        applied = []
        if not dry_run and matches:
            with label.change(store, "label", lambda: f"named {len(applied)} cluster(s) from the gallery {folder}",
                              {"gallery": folder, "matches": matches}) as rec:
                for m in matches:
                    applied.append(_apply_name(store, rec, m["person"], m["name"], "gallery", m["confidence"]))
        return {"gallery_people": [{"name": p.name, "photos": len(p.photos)} for p in g.people],
                "skipped": [{"path": p, "why": w} for p, w in g.skipped],
                "named": matches, "review": review, "applied": not dry_run}


def _unnamed_clusters(store: Store, model: str) -> dict:
    """{person id: embeddings} of people without a name a user gave."""
    rows = store.db.execute(
        "SELECT f.person_id, f.embedding FROM faces f JOIN people pe ON pe.id = f.person_id "
        "JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND f.model = ? "
        "AND (pe.name IS NULL OR pe.name_source != 'user') ORDER BY f.person_id", [model]).fetchall()
    out: dict[int, list] = {}
    for pid, blob in rows:
        out.setdefault(pid, []).append(np.frombuffer(blob, dtype="<f4"))
    return {pid: np.stack(v) for pid, v in out.items()}


def _apply_name(store: Store, rec, person_id: int, new_name: str, source: str, confidence: float) -> dict:
    """Give a machine-proposed name; joins the person who already has it (their faces move over)."""
    from .label import merge_into

    same = [p for p in store.people_by_name(new_name) if p["id"] != person_id]
    if same:
        merge_into(store, rec, same[0], store.person(person_id), pin=False)
        return {"person": same[0]["id"], "name": new_name, "merged": person_id}
    rec.save_person(person_id)
    store.update_person(person_id, name=new_name, name_source=source, name_confidence=confidence)
    return {"person": person_id, "name": new_name, "merged": None}


def _classifier_path(db: str) -> str:
    return os.path.abspath(db) + ".classifier.joblib"


def train_classifier(db: str = "photoface.db", *, model: str = FACENET_MODEL) -> dict:
    """Train a linear SVM on the faces of people a user named; saved beside the database."""
    import joblib

    from .gallery import train_classifier as fit

    with _open(db) as store:
        _current(store)
        rows = store.db.execute(
            "SELECT pe.name, f.embedding FROM faces f JOIN people pe ON pe.id = f.person_id "
            "JOIN photos p ON p.id = f.photo_id WHERE p.status = 'indexed' AND pe.name_source = 'user' "
            "AND f.model = ?", [model]).fetchall()
    if not rows:
        raise InputError("no named faces to learn from: name some people first (`photoface name ID NAME`)")
    names = [r[0] for r in rows]
    X = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows])
    clf = fit(X, names)
    joblib.dump({"model": model, "classifier": clf, "classes": sorted(set(names)), "X": X, "names": names},
                _classifier_path(db))
    return {"path": _classifier_path(db), "people": len(set(names)), "faces": len(names)}


def label_classifier(db: str = "photoface.db", *, min_probability: float = 0.60,
                     max_distance: float = NAMING_DISTANCE, dry_run: bool = False) -> dict:
    """Propose names for unnamed clusters with the trained classifier (and apply them unless ``dry_run``).

    A linear SVM always picks one of the people it knows; a proposal also needs the
    cluster's faces to lie within ``max_distance`` of that person's training faces, so
    strangers stay unnamed.
    """
    import joblib

    from . import label
    from .neighbors import nearest

    path = _classifier_path(db)
    if not os.path.exists(path):
        raise InputError("no classifier yet: run `photoface train-classifier` first")
    saved = joblib.load(path)
    if saved["model"] != FACENET_MODEL:
        raise InputError("the classifier was trained on an older embedding: run `photoface train-classifier` again")
    with RunLock(db), _open(db) as store:
        clusters = {pid: X for pid, X in _unnamed_clusters(store, saved["model"]).items()
                    if store.person(pid)["name"] is None}
        names = np.array(saved["names"])
        proposals, review = [], []
        for pid, X in clusters.items():
            proba = saved["classifier"].predict_proba(X).mean(axis=0)
            best = int(np.argmax(proba))
            who = saved["classifier"].classes_[best]
            d, _ = nearest(saved["X"][names == who], X, 1)
            dist = float(np.median(d[:, 0]))
            row = {"person": pid, "name": str(who), "probability": round(float(proba[best]), 3),
                   "distance": round(dist, 4), "faces": len(X)}
            if proba[best] >= min_probability and dist < max_distance:
                proposals.append(row)
            elif dist < max_distance + 0.1:
                review.append(row)
        if not dry_run and proposals:
            with label.change(store, "label", lambda: f"named {len(proposals)} cluster(s) with the classifier",
                              {"classifier": path, "proposals": proposals}) as rec:
                for p in proposals:
                    _apply_name(store, rec, p["person"], p["name"], "classifier", p["probability"])
        return {"named": proposals, "review": review, "applied": not dry_run}


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
    """Index a labeled folder (<Person>/<photos>) into its cache database; its face table and truth."""
    from . import evaluate

    if not os.path.isdir(labeled):
        raise InputError(f"labeled folder not found: {labeled}")
    root = os.path.abspath(labeled)
    folder = os.path.join(evaluate.cache_dir(cache), "labeled-" + evaluate.cache_key([root]))
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, "faces.db")
    _indexer(workers, scheduler, on_start, on_progress)(root, db)
    with _open(db) as store:
        table = store.face_table(FACENET_MODEL)
        paths = dict(store.db.execute("SELECT id, path FROM photos").fetchall())
    if len(table["id"]) < 2:
        raise InputError(f"fewer than two faces found in {labeled}")
    table["path"] = np.array([paths[p] for p in table["photo_id"]], dtype=object)
    truth = evaluate.labeled_truth(list(table["path"]), table["photo_id"], table["size"], root)
    return table, truth


def eval_cluster(labeled: str, *, cache: str | None = None, settings: ClusterSettings | None = None,
                 anchors: bool = True, workers: int | None = None, scheduler: str = "local",
                 on_start=None, on_progress=None) -> dict:
    """How well clustering recovers the people of LABELED/<Person>/*.jpg: photoface's
    clusterer and, side by side on the same faces, the anchors' algorithms (on FaceNet's
    raw outputs, which their parameters were set or converted for)."""
    import time

    from . import anchors as anchor_algorithms
    from . import evaluate
    from .organize import eligible_mask, make_clusterer

    table, truth = _labeled_faces(labeled, cache, workers, scheduler, on_start, on_progress)
    s = settings or ClusterSettings()
    runs, seconds = {}, {}
    t = time.perf_counter()
    runs["photoface"] = make_clusterer(s).fit_predict(table["X"], groups=table["photo_id"],
                                                      eligible=eligible_mask(table, s))
    seconds["photoface"] = time.perf_counter() - t
    if anchors:  # the anchors cluster FaceNet's raw outputs, as their parameters assume
        from .models.facenet import load_centre, uncentred

        raw = uncentred(table["X"], load_centre())
    for name, algorithm in (anchor_algorithms.ANCHORS.items() if anchors else ()):
        t = time.perf_counter()
        runs[name] = algorithm(raw)
        seconds[name] = time.perf_counter() - t
    rows = evaluate.compare_clusterings(truth, runs)
    for r in rows:
        r["seconds"] = round(seconds[r["algorithm"]], 3)
    return {"faces": len(truth), "true_people": len(set(truth)),
            "photos": len(np.unique(table["photo_id"])), "settings": dataclasses.asdict(s), "results": rows}


def calibrate(labeled: str, *, fmr: float = 1e-3, cache: str | None = None, workers: int | None = None,
              scheduler: str = "local", on_start=None, on_progress=None) -> dict:
    """Distance thresholds for this library at a target false-match rate, from its labeled faces."""
    from . import evaluate

    if not 0 < fmr < 1:
        raise InputError(f"the false-match rate must be between 0 and 1, not {fmr}")
    table, truth = _labeled_faces(labeled, cache, workers, scheduler, on_start, on_progress)
    out = evaluate.calibrate(table["X"], truth, fmr)
    out["default_threshold"] = SAME_PERSON_DISTANCE
    return out


# --- browsing: what `photoface serve` shows ------------------------------------------------
def people_page(db: str, *, offset: int = 0, limit: int = 60, include_hidden: bool = False) -> dict:
    """One page of people, unnamed clusters first, largest first, with one example face each."""
    with _open(db) as store:
        return {"total": store.people_count(include_hidden), "offset": offset, "limit": limit,
                "people": store.people(include_hidden, examples=1, limit=limit, offset=offset, unnamed_first=True)}


def person_page(db: str, person, *, offset: int = 0, limit: int = 120) -> dict:
    """One person (id or name) with a page of their faces and their count."""
    from .demographics import person_summary
    from .label import resolve_person

    with _open(db) as store:
        p = resolve_person(store, person)
        total = store.db.execute(
            "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE f.person_id = ? AND p.status = 'indexed'", [p["id"]]).fetchone()[0]
        rows = store.db.execute(
            "SELECT f.id, f.photo_id, p.path, f.assigned_by, f.assign_distance FROM faces f "
            "JOIN photos p ON p.id = f.photo_id WHERE f.person_id = ? AND p.status = 'indexed' "
            "ORDER BY p.taken_at, p.path, f.id LIMIT ? OFFSET ?", [p["id"], limit, offset]).fetchall()
        p["total_faces"], p["offset"], p["limit"] = total, offset, limit
        p["attributes"] = person_summary(store, p["id"])
        p["face_list"] = [{"face_id": r[0], "photo_id": r[1], "path": r[2], "assigned_by": r[3], "distance": r[4]}
                          for r in rows]
        return p


def similar_people(db: str, person, *, limit: int = 5, model: str = FACENET_MODEL) -> list[dict]:
    """The people closest to ``person`` (by their nearest faces to its mean face): merge candidates."""
    from .label import resolve_person
    from .neighbors import FaceIndex

    with _open(db) as store:
        _current(store)
        p = resolve_person(store, person)
        blobs = [r[0] for r in store.db.execute(
            "SELECT embedding FROM faces WHERE person_id = ? AND model = ? ORDER BY score DESC LIMIT 200",
            [p["id"], model])]
        if not blobs:
            return []
        centre = np.mean([np.frombuffer(b, "<f4") for b in blobs], axis=0)
        centre = (centre / max(np.linalg.norm(centre), 1e-9)).astype(np.float32)
        index = FaceIndex(db, model)
        index.sync(store, model)
        dist, ids = index.search(centre[None, :], 200)
        best: dict[int, float] = {}
        hits = [(float(d), int(i)) for d, i in zip(dist[0], ids[0]) if i >= 0]
        owner = {r[0]: r[1] for r in store.face_states(i for _, i in hits)}
        for d, i in hits:
            other = owner.get(i)
            if other is not None and other != p["id"] and d < best.get(other, np.inf):
                best[other] = d
        out = []
        for other, d in sorted(best.items(), key=lambda kv: kv[1])[:limit]:
            q = store.person(other)
            if q and not q["hidden"]:
                out.append({**q, "distance": round(d, 3)})
        return out


def review_queue(db: str, *, limit: int = 50, candidates: int = 2000, model: str = FACENET_MODEL) -> list[dict]:
    """Faces whose assignment is least certain first: the smallest margin between the
    distance to their own person's nearest face and to the nearest face of anyone else.
    Faces a user placed are never listed."""
    from .neighbors import FaceIndex

    with _open(db) as store:
        _current(store)
        rows = store.db.execute(
            "SELECT f.id, f.person_id, f.photo_id, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE f.person_id IS NOT NULL AND f.assigned_by IN ('cluster', 'assign') AND f.model = ? "
            "AND p.status = 'indexed' ORDER BY f.assign_distance IS NULL, f.assign_distance DESC, f.id LIMIT ?",
            [model, candidates]).fetchall()
        if not rows:
            return []
        index = FaceIndex(db, model)
        index.sync(store, model)
        X = np.stack([np.frombuffer(r[3], "<f4") for r in rows])
        dist, nbr = index.search(X, 16)
        owner = {r[0]: r[1] for r in store.face_states(sorted({int(i) for i in nbr.ravel() if i >= 0}))}
        names = dict(store.db.execute("SELECT id, name FROM people").fetchall())
        out = []
        for (fid, pid, photo, _), drow, irow in zip(rows, dist, nbr):
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


def photo(db: str, photo_id: int) -> dict:
    """One indexed photo with its faces (box in photo pixels, person id and name)."""
    from .search import describe_photos

    with _open(db) as store:
        found = describe_photos(store, [int(photo_id)])
        if not found:
            raise InputError(f"no indexed photo with id {photo_id}")
        return found[0]


def face_image(db: str, face_id: int) -> bytes:
    """JPEG thumbnail of a face, cut from its photo and cached beside the database."""
    from . import thumbs

    with _open(db) as store:
        row = store.db.execute(
            "SELECT p.path, p.mtime, f.x1, f.y1, f.x2, f.y2, f.t FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE f.id = ? AND p.status = 'indexed'", [int(face_id)]).fetchone()
    if row is None:
        raise InputError(f"no face with id {face_id}")
    return thumbs.face_jpeg(db, int(face_id), row[0], row[2:6], row[1] or 0, row[6])


def photo_image(db: str, photo_id: int) -> bytes:
    """JPEG of an indexed photo, at most 1600 px, cached beside the database."""
    from . import thumbs

    with _open(db) as store:
        row = store.db.execute("SELECT path, mtime FROM photos WHERE id = ? AND status = 'indexed'",
                               [int(photo_id)]).fetchone()
    if row is None:
        raise InputError(f"no indexed photo with id {photo_id}")
    return thumbs.photo_jpeg(db, int(photo_id), row[0], row[1] or 0)


def failed_photos(db: str, limit: int = 100) -> list[dict]:
    """Photos the index could not read, with the reason, most recent first."""
    with _open(db) as store:
        rows = store.db.execute("SELECT id, path, error FROM photos WHERE status = 'failed' ORDER BY id DESC LIMIT ?",
                                [limit]).fetchall()
    return [{"photo_id": r[0], "path": r[1], "error": r[2]} for r in rows]
