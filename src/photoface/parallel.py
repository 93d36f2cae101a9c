"""Dask at the edge: partitions of file paths -> pipeline.index_files on workers (or
detect_files then embed_detected on GPU workers) -> results to the client."""
from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import InputError
from .models.runtime import usable_cores as _cores  # the one count of cores (tests import it from here)
from .pipeline import PipelineSpec, detect_files, embed_detected, index_files
from .types import PhotoResult, WorkItem

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker process per core up to two cores, then one per two cores (the models' threads use the rest)."""
    cores = _cores()
    return cores if cores <= 2 else cores // 2


#: What "auto" weighs (benchmarks/scheduler_sizes.py, docs/performance.md; 2-core Intel Xeon
#: with AMX, models in LiteRT): a local cluster starts its worker processes and loads the
#: models in each, WORKER_STARTUP_S more than one process does, then indexes photos
#: ``speedup`` times as fast as one process whose models have every core. On two cores one
#: process that embeds behind detection (embed_behind) is the faster at every size
#: measured: two workers take 1.07x its time on 2,000 LFW photos and 1.21x on 206 real
#: ones (TWO_CORE_SPEEDUP = 1 / 1.07), so auto stays in process there. With more cores
#: nothing was measured: LOCAL_SPEEDUP is the smallest 2-core figure from before
#: embed_behind (1.02-1.06x on real photos, 1.09-1.26x on LFW's). One process spends
#: PHOTO_S per photo on the cheapest photos measured (LFW's 250 px; real photos 0.030 s),
#: so the break-even job (about 3,800 photos) is never too small.
WORKER_STARTUP_S = 0.9
LOCAL_SPEEDUP = 1.02
TWO_CORE_SPEEDUP = 0.93
PHOTO_S = 0.012
SCHEDULERS = ("auto", "local", "sync")
#: In one process (embed_behind), once waiting for a partition's FaceNet takes more than
#: this share of the next partition's detection, FaceNet is the longer stage and the
#: detector runs on half the cores for the rest of the job, leaving FaceNet the others.
#: Detection gains little from a second thread (1.22x on 206 real photos, 1.08x on LFW's
#: alone, 2-core AMD EPYC), FaceNet much: there, 648 LFW photos 27.1 -> 25.3 s, actors5's
#: 256 web photos 11.1 -> 10.0 s with the detector on one thread, the real photos unchanged
#: (docs/performance.md). Where detection is the longer stage nothing changes.
FACENET_LONGER = 0.25


def check_scheduler(scheduler: str, connect_timeout_s: float = 5.0) -> str:
    """``scheduler`` if it is a known choice or a Dask scheduler that answers; an InputError
    in one line otherwise, before anything is started or written."""
    if not (scheduler in SCHEDULERS or "://" in scheduler):
        raise InputError(f"unknown scheduler {scheduler!r}: use auto, local, sync, or an address like tcp://HOST:8786")
    if "://" in scheduler:
        import socket
        from urllib.parse import urlsplit

        url = urlsplit(scheduler)
        try:
            host, port = url.hostname, url.port or 8786
        except ValueError:
            host, port = None, None
        if not host:
            raise InputError(f"bad scheduler address {scheduler!r}: use tcp://HOST:PORT")
        if url.scheme in ("tcp", "tls"):
            try:
                socket.create_connection((host, port), timeout=connect_timeout_s).close()
            except OSError as exc:
                raise InputError(f"no Dask scheduler answers at {scheduler}: {exc.strerror or exc} "
                                 "(start one with `dask scheduler`, or use --scheduler local)") from None
    return scheduler


def choose_scheduler(requested: str, jobs: int, cores: int | None = None, startup_s: float = WORKER_STARTUP_S,
                     speedup: float | None = None, photo_s: float = PHOTO_S) -> str:
    """The scheduler a run uses. "auto" starts a local cluster only when the time its
    workers save (``jobs`` photos at ``photo_s`` each, ``speedup`` times as fast: by default
    TWO_CORE_SPEEDUP on two cores, LOCAL_SPEEDUP on more) exceeds what starting them costs
    (``startup_s``), and only with two cores or more; otherwise the job runs in this
    process ("sync"). Any other choice stands."""
    if requested != "auto":
        return requested
    cores = _cores() if cores is None else cores
    if speedup is None:
        speedup = TWO_CORE_SPEEDUP if cores == 2 else LOCAL_SPEEDUP
    if cores < 2 or speedup <= 1:
        return "sync"
    saved = jobs * photo_s * (1 - 1 / speedup)
    return "local" if saved > startup_s else "sync"


def threads_per_worker(workers: int) -> int:
    return max(1, _cores() // max(1, workers))


def partitions(items: list, partition_size: int) -> list[list]:
    """The work split into tasks of ``partition_size`` files (photos of a task share batches)."""
    size = max(1, partition_size)
    return [items[i:i + size] for i in range(0, len(items), size)]


def cluster_threads(client) -> int:
    """TensorFlow threads per worker on an existing cluster: the cores of each worker's
    machine shared among the workers on it (the fewest over machines), as a local cluster
    does; left to TensorFlow, every worker would take all its machine's cores."""
    cores = client.run(_cores)
    info = client.scheduler_info().get("workers", {})
    host = {a: info[a].get("host", a) for a in cores if a in info}
    per_host = Counter(host.values())
    return max(1, min(cores[a] // per_host[h] for a, h in host.items())) if host else 0


def gpu_workers(client) -> list[str]:
    """Addresses of the cluster's workers that declare a GPU resource (`dask worker
    --resources GPU=1`): when there are any, embedding runs only there."""
    info = client.scheduler_info().get("workers", {})
    return [addr for addr, w in info.items() if (w.get("resources") or {}).get("GPU", 0) > 0]


def submit_partition(client, part: list, spec: PipelineSpec, task, gpu: int):
    """One partition as Dask tasks: one task of ``task``, or, for indexing on a cluster with
    GPU workers, detection on any worker followed by embedding on a GPU worker (the
    crops travel between them, about 77 KB per face)."""
    if gpu and task is index_files:
        detected = client.submit(detect_files, part, spec, pure=False)
        return client.submit(embed_detected, detected, spec, resources={"GPU": 1}, pure=False)
    return client.submit(task, part, spec, pure=False)


@contextmanager
def dask_client(scheduler: str, workers: int):
    """A dask.distributed Client: a new local cluster, or an existing scheduler at tcp://HOST:PORT."""
    from dask.distributed import Client, LocalCluster

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # spawned workers inherit it
    if scheduler == "local":
        # Ctrl-C is for this process, which stops the workers itself: started while SIGINT is
        # ignored, the worker processes keep ignoring it (no tracebacks from each of them).
        import signal
        import threading

        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            cluster = LocalCluster(
                # the scheduler always serves HTTP; a free local port keeps two runs from colliding on 8787
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                silence_logs=logging.CRITICAL, memory_limit=0,  # task errors reach the client and are reported there
            )
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
    else:
        client = Client(scheduler, timeout="20s")
        try:
            yield client
        finally:
            client.close()


def embed_behind(parts: list[list[WorkItem]], spec: PipelineSpec) -> Iterator[list[PhotoResult]]:
    """index_files over ``parts`` in this process, each partition's faces embedded on a second
    thread while the next partition is detected: the detector's Python between its network
    calls and FaceNet's batches each leave part of the cores idle, and LiteRT releases the
    GIL while it runs. Results come in the partitions' order; at most two detected
    partitions wait for FaceNet. Once FaceNet proves the longer stage (FACENET_LONGER) the
    detector runs on fewer threads (detector_beside_facenet); its detections are the same."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="photoface-embed")
    detecting = spec
    try:
        pending = None
        for i, part in enumerate(parts):
            started = time.perf_counter()
            detected = detect_files(part, detecting)
            detection_s = time.perf_counter() - started
            previous, pending = pending, pool.submit(embed_detected, detected, spec)
            if previous is not None:
                started = time.perf_counter()
                results = previous.result()
                # the first partition's FaceNet also prepares its interpreter: judged from the second on
                if i >= 2 and detecting is spec and time.perf_counter() - started > FACENET_LONGER * detection_s:
                    detecting = detector_beside_facenet(spec)
                yield results
        if pending is not None:
            yield pending.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def detector_beside_facenet(spec: PipelineSpec) -> PipelineSpec:
    """The spec with the detector on half the cores, the rest left to FaceNet: for the
    detector in LiteRT on two cores or more (TensorFlow's, a GPU's, keeps its threads)."""
    from dataclasses import replace

    from .models import get_detector

    cores = spec.threads or _cores()
    if cores < 2 or get_detector(spec.detector).runtime != "litert":
        return spec
    return replace(spec, detector=replace(spec.detector, threads=cores // 2))


def run(items: list[WorkItem], spec: PipelineSpec, scheduler: str = "local", workers: int = 1,
        partition_size: int = 16, max_in_flight: int | None = None, task=index_files) -> Iterator[list[PhotoResult]]:
    """Run the partitions and yield each one's results as soon as it finishes.

    scheduler: "local" (a new multi-process LocalCluster of ``workers``), "sync" (this
    process, no cluster; for debugging and small jobs), or "tcp://HOST:PORT" of an existing
    dask.distributed scheduler. At most ``max_in_flight`` partitions are submitted at once,
    so memory stays bounded on the client and the workers however many files there are.
    Each partition is submitted as a task (``client.submit``), not as a graph to compute:
    the client keeps nothing of a finished partition.
    """
    parts = partitions(items, partition_size)
    if not parts:
        return
    if scheduler == "sync":
        if task is index_files:
            yield from embed_behind(parts, spec)
        else:
            for part in parts:
                yield task(part, spec)
        return
    from dask.distributed import as_completed

    with dask_client(scheduler, workers) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        if spec.threads == 0:
            spec = spec.with_threads(cluster_threads(client))
        gpu = len(gpu_workers(client))
        if gpu:
            log.info("embedding on the %d worker(s) with a GPU resource", gpu)
        window = max_in_flight or 3 * n_workers
        pending = iter(parts)
        first = [submit_partition(client, p, spec, task, gpu) for _, p in zip(range(window), pending)]
        done = as_completed(first, with_results=True)
        for future, results in done:
            future.release()
            nxt = next(pending, None)
            if nxt is not None:
                done.add(submit_partition(client, nxt, spec, task, gpu))
            yield results
