"""The same index over a real dask.distributed deployment on separate hosts: a scheduler
host and two worker hosts, made here as Linux network namespaces joined by a bridge of
their own, against a run in one process. Needs root (ip netns) and iproute2.

    sudo python benchmarks/distributed_hosts.py FOLDER [--limit 200] [--keep]

Each host is a network namespace with only a loopback and one veth on a private bridge
(10.231.0.0/24, no route anywhere else: traffic stays between these hosts). The scheduler
host runs `dask scheduler` and the `photoface index` command (the head node a user logs
into); each worker host runs one `dask worker` (one thread) pinned to its own core. The
photos and the model cache are on the shared file system, under the same paths on every
host, as a cluster's shared storage would be; the database is written by the command only.
The benchmark prints both runs' times and checks that the two databases hold the same
photos, faces, boxes and embeddings (embeddings to 1e-5), and which worker host ran what.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import numpy as np

NET = "10.231.0"
SCHEDULER_NS, WORKER_NS = "pf-scheduler", ("pf-worker1", "pf-worker2")
BRIDGE = "pf-br0"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def make_hosts() -> dict[str, str]:
    """The namespaces and their addresses: the bridge lives in the scheduler's namespace."""
    hosts = {SCHEDULER_NS: f"{NET}.1", WORKER_NS[0]: f"{NET}.2", WORKER_NS[1]: f"{NET}.3"}
    for ns in hosts:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", SCHEDULER_NS, "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "-n", SCHEDULER_NS, "link", "set", BRIDGE, "up")
    for i, (ns, addr) in enumerate(hosts.items()):
        inside, outside = f"pf{i}h", f"pf{i}b"
        sh("ip", "link", "add", inside, "type", "veth", "peer", "name", outside)
        sh("ip", "link", "set", inside, "netns", ns)
        sh("ip", "link", "set", outside, "netns", SCHEDULER_NS)
        sh("ip", "-n", SCHEDULER_NS, "link", "set", outside, "master", BRIDGE)
        sh("ip", "-n", SCHEDULER_NS, "link", "set", outside, "up")
        sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", inside)
        sh("ip", "-n", ns, "link", "set", inside, "up")
    return hosts


def remove_hosts() -> None:
    for ns in (SCHEDULER_NS, *WORKER_NS):
        sh("ip", "netns", "pids", ns, check=False)
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            subprocess.run(["kill", pid], check=False)
        sh("ip", "netns", "del", ns, check=False)


def in_host(ns: str, *cmd: str, core: int | None = None) -> list[str]:
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    return ["ip", "netns", "exec", ns, *pin, *cmd]


def table(db: str) -> dict:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT p.path, f.x1, f.y1, f.x2, f.y2, f.embedding FROM faces f JOIN photos p "
                       "ON p.id = f.photo_id ORDER BY p.path, f.y1, f.x1").fetchall()
    photos = con.execute("SELECT path, status FROM photos ORDER BY path").fetchall()
    con.close()
    return {"photos": photos, "faces": [(r[0], np.round(r[1:5], 1).tolist()) for r in rows],
            "X": np.stack([np.frombuffer(r[5], "<f4") for r in rows]) if rows else np.zeros((0, 512))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="leave the scratch folder")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("ip"):
        raise SystemExit("needs root and iproute2 (ip netns)")
    from photoface.scan import scan

    scratch = tempfile.mkdtemp(prefix="pf-hosts-")
    photos = os.path.join(scratch, "photos")
    os.makedirs(photos)
    for i, p in enumerate(sorted(p.path for p in scan(args.folder))[:args.limit]):
        os.symlink(os.path.abspath(p), os.path.join(photos, f"{i:05d}{os.path.splitext(p)[1].lower()}"))
    exe = os.path.join(os.path.dirname(sys.executable), "photoface")
    dask = os.path.join(os.path.dirname(sys.executable), "dask")

    t = time.perf_counter()
    local_db = os.path.join(scratch, "local.db")
    subprocess.run([exe, "index", photos, "--db", local_db, "--scheduler", "sync"], check=True,
                   capture_output=True)
    local_s = time.perf_counter() - t

    remove_hosts()
    procs = []
    try:
        hosts = make_hosts()
        address = f"tcp://{hosts[SCHEDULER_NS]}:8786"
        procs.append(subprocess.Popen(in_host(SCHEDULER_NS, dask, "scheduler", "--host", hosts[SCHEDULER_NS],
                                              "--port", "8786", "--no-dashboard"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(2)
        for core, ns in enumerate(WORKER_NS):
            procs.append(subprocess.Popen(
                in_host(ns, dask, "worker", address, "--host", hosts[ns], "--nthreads", "1", "--nworkers", "1",
                        "--no-dashboard", "--name", ns, core=core % (os.cpu_count() or 1)),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait = ("from dask.distributed import Client; c = Client('%s', timeout=60); c.wait_for_workers(2, timeout=60); "
                "print(sorted(w['name'] for w in c.scheduler_info()['workers'].values()))" % address)
        ready = subprocess.run(in_host(SCHEDULER_NS, sys.executable, "-c", wait), check=True, capture_output=True, text=True)
        print(f"hosts up: scheduler {hosts[SCHEDULER_NS]}, workers {ready.stdout.strip()}")
        cluster_db = os.path.join(scratch, "cluster.db")
        t = time.perf_counter()
        done = subprocess.run(in_host(SCHEDULER_NS, exe, "index", photos, "--db", cluster_db, "--scheduler", address),
                              capture_output=True, text=True)
        cluster_s = time.perf_counter() - t
        if done.returncode:
            raise SystemExit(f"the index over the hosts failed:\n{done.stderr}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        remove_hosts()

    a, b = table(local_db), table(cluster_db)
    same = a["photos"] == b["photos"] and a["faces"] == b["faces"]
    gap = float(np.abs(a["X"] - b["X"]).max()) if same and len(a["X"]) else float("nan")
    print(f"{len(a['photos'])} photos, {len(a['faces'])} faces")
    print(f"one process (sync): {local_s:.1f} s; scheduler + 2 worker hosts: {cluster_s:.1f} s")
    print(f"same photos, faces and boxes: {same}; largest embedding difference: {gap:.2g}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if same and gap <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
