"""One index run: compare the folder with the library (new, changed, moved, missing files),
run the pipeline over what needs it, write each partition as it arrives, then embed again
faces stored with an older embedding and fill in missing attributes."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import label, parallel
from .config import DLIB_MODEL, FACENET_MODEL, LEGACY_FACENET_MODELS, Settings
from .db import RunLock, Store, ensure_db_folder, path_key
from .errors import InputError
from .models.weights import sha256_file
from .pipeline import (AttributeJob, EmbedJob, PipelineSpec, attributes_for_photos, descriptors_for_photos,
                       embeddings_for_photos)
from .scan import scan
from .types import PhotoResult, WorkItem

log = logging.getLogger(__name__)

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
    described: dict | None = None  # faces stored without dlib's descriptor that got it (fill_descriptors)
    tags: dict | None = None  # names read from the photos' face tags (tag_sync.read_library)

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
    existing dask.distributed scheduler ("tcp://HOST:8786"), or "auto": a local cluster only
    when the time its workers save exceeds what starting them costs
    (parallel.choose_scheduler: never on two cores, where one process is the faster; about
    3,800 photos to index with more), else in this process.
    ``on_start(total)`` and ``on_progress(done, total, faces)`` report progress.
    """
    settings = settings or Settings()
    parallel.check_scheduler(scheduler)
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if not os.path.exists(folder):
        raise InputError(f"folder not found: {folder}")
    if not os.path.isdir(folder):
        raise InputError(f"not a folder: {folder}")
    ensure_db_folder(db)  # before the lock file is created beside the database
    if settings.device == "gpu" and "://" not in scheduler:  # on this machine: say so before starting anything
        from .models.runtime import require_gpu

        require_gpu()
    root = os.path.abspath(folder)
    workers = workers or parallel.default_workers()
    started = time.monotonic()

    with RunLock(db):
        store = Store(db)
        tags_ahead = None
        try:
            settings, precision = _library_precision(store, settings)
            run_id = store.start_run(root, {**dataclasses.asdict(settings), "precision": precision})
            summary = IndexSummary(run_id, root, os.path.abspath(db), workers=workers, scheduler=scheduler)
            try:
                to_process = _plan(store, root, run_id, summary, retry_failed)
                requested = scheduler
                scheduler = summary.scheduler = parallel.choose_scheduler(requested, len(to_process))
                if scheduler == "sync":
                    summary.workers = 1
                if on_start:
                    on_start(len(to_process))
                # Split this machine's cores between local workers; elsewhere TensorFlow decides.
                threads = parallel.threads_per_worker(workers) if scheduler == "local" else 0
                spec = PipelineSpec.from_settings(settings, threads)
                tags_ahead = _tags_ahead(to_process) if settings.read_tags else None
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
                if settings.describe:  # faces of earlier runs, videos and faces drawn by hand
                    summary.described = fill_descriptors(store, workers, requested, settings)
                if settings.attributes:  # faces indexed earlier without attributes get them too
                    summary.attributes = fill_attributes(store, False, workers, scheduler, settings)
                if settings.read_tags:
                    summary.tags = _read_tags(store, settings, tags_ahead)
                label.apply_waiting(store)  # changes a user made in the browser during the run
                summary.elapsed_s = time.monotonic() - started
                store.finish_run(run_id, "completed", summary.counts())
            except KeyboardInterrupt:
                store.finish_run(run_id, "interrupted", summary.counts(), "stopped by the user")
                raise
            except BaseException as exc:
                store.finish_run(run_id, "failed", summary.counts(), f"{type(exc).__name__}: {exc}")
                raise
        finally:
            if tags_ahead is not None:
                tags_ahead.stop()  # a run that ends early does not wait for ExifTool's read ahead
            store.close()
    return summary


def _plan(store: Store, root: str, run_id: int, summary: IndexSummary, retry_failed: bool) -> list[WorkItem]:
    """Compare the folder with the database: record moves and deletions, return the files to index."""
    states = store.photo_states(root)
    known = {p: (size, mtime) for p, (size, mtime, status) in states.items() if status != "missing"}
    new, touched, to_process, seen, problems = [], [], [], set(), []
    for item in scan(root, known, summary.scan_errors):
        seen.add(item.path)
        prior = states.get(item.path)
        if item.problem:  # recorded as failed here: a worker must never open it
            if prior is not None and prior[2] == "failed" and (prior[0], prior[1]) == (item.size, item.mtime):
                summary.photos_unchanged += 1
            else:
                summary.photos_new += prior is None or prior[2] == "missing"
                summary.photos_changed += prior is not None and prior[2] != "missing"
                problems.append(PhotoResult(item.path, item.size, item.mtime, status="failed", error=item.problem))
            continue
        if prior is None or prior[2] == "missing":
            new.append(item)
        elif prior[2] == "indexed" and prior[0] == item.size and prior[1] != item.mtime:
            touched.append(item)  # the same size: maybe only its time changed
        elif (prior[0], prior[1]) != (item.size, item.mtime):
            summary.photos_changed += 1
            to_process.append(item)
        elif prior[2] == "failed" and retry_failed:
            to_process.append(item)
        else:
            summary.photos_unchanged += 1
    summary.photos_seen = len(seen)
    # A file whose time changed but whose content did not keeps its faces: only its time is new.
    stored = store.indexed_sha256(item.path for item in touched)
    same = {item.path: item.mtime for item in touched
            if item.path in stored and _file_sha256(item.path) == stored[item.path]}
    store.restamp_photos(same.items(), run_id)
    summary.photos_unchanged += len(same)
    summary.photos_changed += len(touched) - len(same)
    to_process += [item for item in touched if item.path not in same]
    if problems:
        store.write_results(problems, run_id)
        summary.photos_failed += len(problems)
        summary.errors += [(r.path, r.error) for r in problems][:SUMMARY_ERRORS - len(summary.errors)]
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


def _run_jobs(jobs: list, task, settings: Settings, workers, scheduler):
    """The result rows of ``task`` over ``jobs`` (faces of indexed photos), partition by
    partition, on the same Dask graph as indexing ("auto": in this process for few jobs)."""
    scheduler = parallel.choose_scheduler(scheduler, len(jobs))
    workers = workers or parallel.default_workers()
    threads = parallel.threads_per_worker(workers) if scheduler == "local" else 0
    spec = PipelineSpec.from_settings(settings, threads)
    yield from parallel.run(jobs, spec, scheduler, workers, settings.partition_size, task=task)


def library_settings(store: Store, settings: Settings) -> Settings:
    """``settings`` with the FaceNet arithmetic this library's faces were embedded in, for
    anything embedded to be stored in it or compared with it (index, a face added by hand or
    read from tags, a query photo, a gallery, a video's faces): _library_precision's rule."""
    return _library_precision(store, settings)[0]


def _library_precision(store: Store, settings: Settings) -> tuple[Settings, str]:
    """The settings this run embeds with, and the precision they resolve to on this machine.
    A library keeps static int8 faces (0.045 from float32's) and the other precisions'
    (within 0.016 of float32 and of each other) apart: under auto a library stays in the
    kind its faces were embedded in (auto's choice for a new library depends on the CPU,
    models/facenet.choose_precision); an explicit precision of the other kind is refused,
    since the new faces would lie 0.04 from their twins among the old ones."""
    from .models.facenet import choose_precision

    chosen = choose_precision(settings.embed_precision, settings.device)
    recorded = store.embedding_precision()
    if recorded is None:
        if not store.has_faces():
            return settings, chosen
        # faces from before runs recorded their precision, which was before static int8 existed
        recorded, what = "fp32", "a precision other than int8-static"
    else:
        what = f"--precision {recorded}"
    if (recorded == "int8-static") == (chosen == "int8-static"):
        return settings, chosen
    if settings.embed_precision == "auto":
        kept = "int8-static" if recorded == "int8-static" else choose_precision("auto", settings.device, static=False)
        return dataclasses.replace(settings, embed_precision=kept), choose_precision(kept, settings.device)
    raise InputError(f"this library's faces were embedded with {what}; index it with --precision auto, "
                     f"or into a new --db")


def _reembed(store: Store, workers, scheduler, settings: Settings) -> dict | None:
    """Embed again, from their stored boxes, the faces stored with an older embedding
    (LEGACY_FACENET_MODELS): ids, names and clusters stay; only the vectors change. None
    when there are none. A photo that cannot be read keeps its old faces for the next run."""
    todo = store.faces_to_reembed(LEGACY_FACENET_MODELS)
    if not todo:
        return None
    jobs = [EmbedJob(path, kind, tuple(faces)) for path, kind, faces in todo]
    started = time.monotonic()
    done, failed, errors = 0, 0, []
    for rows in _run_jobs(jobs, embeddings_for_photos, settings, workers, scheduler):
        done += store.replace_embeddings([r for r in rows if r.vector is not None], FACENET_MODEL)
        for r in rows:
            if r.vector is None and r.owner is None:
                failed += 1
                if len(errors) < SUMMARY_ERRORS:
                    errors.append({"face_id": r.row_id, "error": r.error})
    return {"faces": sum(1 for j in jobs for f in j.faces if f[1] is None), "reembedded": done, "failed": failed,
            "errors": errors, "elapsed_s": round(time.monotonic() - started, 2)}


def fill_descriptors(store: Store, workers, scheduler, settings: Settings) -> dict | None:
    """dlib's descriptor for every face that lacks one (a library indexed before descriptors
    existed, a video's faces, faces drawn by hand or read from tags before), from the stored
    boxes and landmarks. None when there are none. A photo that cannot be read is left for
    the next run; clustering uses FaceNet alone while any face lacks its descriptor."""
    todo = store.faces_without_descriptors(FACENET_MODEL)
    if not todo:
        return None
    jobs = [EmbedJob(path, kind, tuple(faces)) for path, kind, faces in todo]
    started = time.monotonic()
    done, failed, errors = 0, 0, []
    for rows in _run_jobs(jobs, descriptors_for_photos, settings, workers, scheduler):
        done += store.write_descriptors([(r.face_id, r.descriptor) for r in rows if r.descriptor is not None],
                                        DLIB_MODEL)
        for r in rows:
            if r.descriptor is None:
                failed += 1
                if len(errors) < SUMMARY_ERRORS:
                    errors.append({"face_id": r.face_id, "error": r.error})
    return {"faces": len({f[0] if f[1] is None else f[1] for j in jobs for f in j.faces}), "described": done,
            "failed": failed, "errors": errors, "elapsed_s": round(time.monotonic() - started, 2)}


def fill_attributes(store: Store, redo, workers, scheduler, settings, on_start=None, on_progress=None) -> dict:
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


class _TagsAhead:
    """The face tags of the photos about to be indexed, read by ExifTool on a thread while
    they are (its start-up is most of its time on a small job). ``result()``: what was
    read; ``stop()``: end the reading after its current batch (a run that stops early does
    not wait for ExifTool to read a whole library)."""

    def __init__(self, photos: list[str]):
        import threading
        from concurrent.futures import ThreadPoolExecutor

        from . import tags

        self._stop = threading.Event()
        pool = ThreadPoolExecutor(1, thread_name_prefix="photoface-tags")
        self._future = pool.submit(tags.read_ahead, photos, self._stop)
        pool.shutdown(wait=False)  # the thread ends with its one job

    def result(self):
        return self._future.result()

    def stop(self) -> None:
        self._stop.set()


def _tags_ahead(items: list[WorkItem]) -> _TagsAhead | None:
    """_TagsAhead for the photos among ``items``; None without ExifTool."""
    from . import tags
    from .scan import is_video

    try:
        tags.exiftool()
    except InputError:
        return None
    return _TagsAhead([i.path for i in items if not is_video(i.path)])


def _read_tags(store, settings: Settings, ahead=None) -> dict:
    """The face tags of photos whose photo or sidecars changed since they were last read
    (tag_sync.read_library, with what ``ahead``, the _TagsAhead started with the run, read
    meanwhile); without ExifTool, why not."""
    from . import tag_sync, tags

    try:
        tags.exiftool()
    except InputError as exc:
        return {"error": str(exc)}
    t = time.monotonic()
    try:
        read = ahead.result() if ahead is not None else None
    except Exception:  # reading ahead is only a head start: read_library reads what is missing
        log.warning("reading face tags ahead failed", exc_info=True)
        read = None
    out = tag_sync.read_library(store, settings, changed_only=True, ahead=read)
    out["elapsed_s"] = round(time.monotonic() - t, 3)
    return out

