"""The Dask graph on real clusters: an existing scheduler, per-worker model loading, kill -9 and resume."""
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from photoface import api
from photoface.config import FACENET_MODEL, Settings
from photoface.parallel import partitions
from photoface.pipeline import PipelineSpec
from photoface.types import WorkItem

from conftest import PHOTOS, face_rows

pytestmark = pytest.mark.slow
SETTINGS = Settings(device="cpu", partition_size=2)


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """20 distinct real photos: the committed ones, mirrored, cropped and rescaled."""
    root = tmp_path_factory.mktemp("variants")
    for path in sorted(PHOTOS.glob("*.jpg")):
        im = Image.open(path).convert("RGB")
        im.save(root / path.name, quality=90)
        ImageOps.mirror(im).save(root / f"mirror_{path.name}", quality=90)
        im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(root / f"small_{path.name}", quality=90)
    return root


@pytest.fixture(scope="module")
def baseline(variants, tmp_path_factory):
    """The same folder indexed in this process, uninterrupted: what every other run must equal."""
    db = tmp_path_factory.mktemp("base") / "base.db"
    summary = api.index(str(variants), str(db), scheduler="sync", settings=SETTINGS)
    assert summary.photos_failed == 0 and summary.faces_found > 10
    return db


def assert_same_index(db, expected_db, root):
    got, want = face_rows(db), face_rows(expected_db)
    assert [r[:3] for r in got] == [r[:3] for r in want]
    for g, w in zip(got, want):
        assert np.abs(g[3] - w[3]).max() < 1e-3
    q = "SELECT path, status, sha256, face_count FROM photos ORDER BY path"
    assert sqlite3.connect(db).execute(q).fetchall() == sqlite3.connect(expected_db).execute(q).fetchall()


def test_graph_is_small_and_holds_no_model(variants):
    items = [WorkItem(str(p), p.stat().st_size, p.stat().st_mtime) for p in sorted(variants.iterdir())]
    spec = PipelineSpec.from_settings(SETTINGS)
    parts = partitions(items, partition_size=4)
    assert len(parts) == (len(items) + 3) // 4 and sum(parts, []) == items
    assert len(pickle.dumps(spec)) < 2000  # a description of the models, not the models


@pytest.fixture(scope="module")
def dask_cluster():
    """An existing dask.distributed cluster: a scheduler and two worker processes on this
    machine, shared by the tests below (each leaves it as it found it)."""
    from dask.distributed import Nanny, Scheduler, SpecCluster

    workers = {name: {"cls": Nanny, "options": {"nthreads": 1}} for name in ("a", "b")}
    with SpecCluster(workers=workers, scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}}) as cluster:
        yield cluster


def test_runs_on_an_existing_distributed_cluster(variants, baseline, tmp_path, dask_cluster):
    from dask.distributed import Client

    db = tmp_path / "cluster.db"
    summary = api.index(str(variants), str(db), scheduler=dask_cluster.scheduler_address, settings=SETTINGS)
    assert summary.photos_indexed == 21 and summary.scheduler.startswith("tcp://")
    with Client(dask_cluster) as client:
        loaded = client.run(lambda: sorted(spec.name for spec in __import__("photoface.models").models._cache))
        threads = client.run(lambda: {spec.threads for spec in __import__("photoface.models").models._cache})
    assert_same_index(db, baseline, variants)
    # each worker process that ran tasks loaded each model exactly once
    for names in loaded.values():
        assert names in ([], sorted([FACENET_MODEL, "mtcnn-1.0.0"]))
    assert any(loaded.values())
    # two workers on this machine share its cores, as on a local cluster (LiteRT or TensorFlow
    # alone would give each worker every core): the models were loaded with that many threads
    from photoface.parallel import _cores

    assert set().union(*(t for addr, t in threads.items() if loaded[addr])) == {max(1, _cores() // 2)}


def test_gpu_workers_get_the_embedding_and_only_they(variants, baseline, tmp_path, dask_cluster):
    """When one worker of a cluster declares a GPU resource (here a label: no GPU is needed
    for Dask's routing), detection runs anywhere and FaceNet only on that worker: the
    scheduler's task stream says which worker ran each task, and the worker's model cache
    what it loaded."""
    from dask.distributed import Client, Nanny, get_task_stream

    async def start_gpu_worker():
        return await Nanny(dask_cluster.scheduler_address, nthreads=1, resources={"GPU": 1})

    gpu_worker = dask_cluster.sync(start_gpu_worker)
    try:
        with Client(dask_cluster) as client:
            client.wait_for_workers(3)
            gpu = [a for a, w in client.scheduler_info()["workers"].items() if (w.get("resources") or {}).get("GPU")]
            with get_task_stream(client) as stream:
                db = tmp_path / "gpu.db"
                summary = api.index(str(variants), str(db), scheduler=dask_cluster.scheduler_address,
                                    settings=SETTINGS)
            ran = [(task["key"], task["worker"]) for task in stream.data]
            loaded = client.run(lambda: sorted(spec.name for spec in __import__("photoface.models").models._cache),
                                workers=gpu)
    finally:
        dask_cluster.sync(gpu_worker.close)
    assert summary.photos_indexed == 21
    assert_same_index(db, baseline, variants)
    assert len(gpu) == 1 and FACENET_MODEL in loaded[gpu[0]]
    embedded = [w for key, w in ran if str(key).startswith("embed_detected")]
    detected = [w for key, w in ran if str(key).startswith("detect_files")]
    assert len(embedded) == len(detected) == -(-21 // SETTINGS.partition_size)
    assert set(embedded) == set(gpu)  # every batch of faces went to the GPU worker, and only there
    assert not [key for key, _ in ran if str(key).startswith("index_files")]  # no task did both on one worker


def _start_and_wait(cmd, db, at_least: int) -> tuple[subprocess.Popen, int]:
    """`photoface index` started in its own process group (as a shell runs it), once it has
    written ``at_least`` photos (or finished)."""
    # a job a shell started in the background ignores SIGINT, and its children inherit that
    # (Python then installs no Ctrl-C handler): the command gets the default, as in a terminal
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    written = 0
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            written = sqlite3.connect(db, timeout=1).execute("SELECT count(*) FROM photos").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if written >= at_least:
            break
    return proc, written


def test_ctrl_c_then_kill_9_then_rerun_equals_an_uninterrupted_run(variants, baseline, tmp_path):
    db = tmp_path / "killed.db"
    cmd = [sys.executable, "-m", "photoface", "index", str(variants), "--db", str(db), "--workers", "2",
           "--batch-size", "1", "--device", "cpu"]
    # Ctrl-C in a terminal: SIGINT to the command and its workers while they are busy
    proc, first = _start_and_wait(cmd, db, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert 2 <= first < 21, f"Ctrl-C did not land mid-run ({first} photos written)"
    assert proc.returncode == 130
    assert err.decode().split("\n") == ["", "photoface: interrupted; run the same command again to resume", ""]
    # then kill -9: the client and its workers, mid-run, no chance to clean up
    proc, written = _start_and_wait(cmd, db, first + 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first + 3 <= written < 21, f"the kill did not land mid-run ({written} photos written)"
    conn = sqlite3.connect(db)
    assert [r for r, in conn.execute("SELECT status FROM index_runs ORDER BY id")] == ["interrupted", "running"]
    orphans = conn.execute("SELECT count(*) FROM faces f LEFT JOIN photos p ON p.id = f.photo_id WHERE p.id IS NULL")
    assert orphans.fetchone()[0] == 0

    from photoface.cli import main  # the same command again, here: this process has the models loaded

    assert main([str(a) for a in cmd[3:-4]] + ["--scheduler", "sync", "--device", "cpu"]) == 0
    assert_same_index(db, baseline, variants)
    runs = conn.execute("SELECT status FROM index_runs ORDER BY id").fetchall()
    assert runs == [("interrupted",), ("interrupted",), ("completed",)]
    assert conn.execute("SELECT count(*) FROM photos").fetchone()[0] == 21
